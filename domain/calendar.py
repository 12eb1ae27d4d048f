"""Business calendars: when an SLA clock runs.

A calendar is weekly working hours in the wall-clock time of one time zone, less holidays. All
arithmetic happens on the UTC time line: each local day's intervals are turned into UTC instants,
so a day with a DST change has its true length and adding hours never depends on the caller's zone.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from domain.errors import Invalid

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIDNIGHT = time(0)
WHOLE_DAY = ((MIDNIGHT, MIDNIGHT),)
SETTINGS = ("timezone", "hours", "holidays")

_DAY = timedelta(days=1)
_WEEK = timedelta(weeks=1)
_TICK = timedelta(microseconds=1)
_CLOCK = re.compile(r"(\d\d):(\d\d)")
_ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d")

Spans = tuple[tuple[time, time], ...]


def _every_day_whole() -> dict[int, Spans]:
    return {weekday: WHOLE_DAY for weekday in range(7)}


def _invalid(message: str, part: str) -> Invalid:
    return Invalid(message, code="invalid_calendar", field=f"calendar.{part}")


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    timezone: str = "UTC"
    # weekday (0=Monday) -> sorted (start, end) wall-clock intervals; end time(0) is the midnight ending the day
    hours: Mapping[int, Spans] = field(default_factory=_every_day_whole, hash=False)
    holidays: frozenset[date] = frozenset()  # local dates with no working time
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _weekly: timedelta = field(init=False, repr=False, compare=False)
    _sorted_holidays: tuple[date, ...] = field(init=False, repr=False, compare=False)
    _always_open: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Checked here rather than only in from_definition so no code path can build a calendar
        # that loops forever (no working time) or double-counts (overlapping intervals).
        hours = _checked_hours(self.hours)
        holidays = _checked_holidays(self.holidays)
        weekly = sum((_length(span) for spans in hours.values() for span in spans), timedelta(0))
        if not weekly:
            raise _invalid("A calendar needs some working time; every day is closed.", "hours")
        setattr_ = object.__setattr__
        setattr_(self, "hours", MappingProxyType(hours))
        setattr_(self, "holidays", holidays)
        setattr_(self, "_zone", _zone_named(self.timezone))
        setattr_(self, "_weekly", weekly)
        setattr_(self, "_sorted_holidays", tuple(sorted(holidays)))
        setattr_(self, "_always_open", not holidays and weekly == _WEEK)

    def __deepcopy__(self, memo: dict) -> BusinessCalendar:
        # Immutable, so a copy of an aggregate (one per command) may share it; its read-only
        # hours could not be copied anyway.
        return self

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any] | None) -> BusinessCalendar:
        """A calendar from its JSON form; None or {} is 24x7 in UTC, a missing day is closed."""
        if not definition:
            return cls()
        if not isinstance(definition, Mapping):
            raise Invalid("A calendar is an object with timezone, hours and holidays.", code="invalid_calendar", field="calendar")
        for key in definition:
            if key not in SETTINGS:
                raise _invalid(f"Unknown calendar setting '{key}'; use timezone, hours and holidays.", str(key))
        timezone = definition.get("timezone")
        hours = definition.get("hours")
        return cls(
            timezone="UTC" if timezone is None else timezone,
            hours=_every_day_whole() if hours is None else _parsed_hours(hours),
            holidays=_parsed_holidays(definition.get("holidays") or ()),
        )

    def to_definition(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "hours": {
                DAY_NAMES[day]: [[_clock(start), _clock(end, ending=True)] for start, end in spans]
                for day, spans in self.hours.items()
                if spans
            },
            "holidays": [holiday.isoformat() for holiday in self._sorted_holidays],
        }

    @property
    def is_always_open(self) -> bool:
        return self._always_open

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The UTC instant by which `duration` of working time has passed since `start`.

        A zero duration gives the first working instant at or after `start`; otherwise the result
        is inside a working interval or exactly at the end of one, never at the next one's start.
        """
        cursor = _as_utc(start)
        if duration < timedelta(0):
            raise ValueError("A calendar cannot add a negative duration.")
        if self._always_open:
            return cursor + duration
        remaining = duration
        day = self._local_day(cursor)
        while True:
            if remaining > self._weekly and cursor <= self._day_start(day):
                # Leave at least a tick so the deadline itself is found by walking its day.
                weeks = self._uniform_weeks(day, (remaining - _TICK) // self._weekly)
                if weeks:
                    remaining -= weeks * self._weekly
                    day += weeks * _WEEK
                    continue
            for begin, end in self._intervals_on(day):
                if end <= cursor:
                    continue
                begin = max(begin, cursor)
                if remaining <= end - begin:
                    return begin + remaining
                remaining -= end - begin
                cursor = end
            day += _DAY

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time in [start, end); zero when end is not after start."""
        start, end = _as_utc(start), _as_utc(end)
        if end <= start:
            return timedelta(0)
        if self._always_open:
            return end - start
        total = timedelta(0)
        day = self._local_day(start)
        while (day_start := self._day_start(day)) < end:
            if start <= day_start:
                weeks = self._uniform_weeks(day, (end - day_start) // _WEEK)
                if weeks:
                    total += weeks * self._weekly
                    day += weeks * _WEEK
                    continue
            for begin, finish in self._intervals_on(day):
                overlap = min(finish, end) - max(begin, start)
                if overlap > timedelta(0):
                    total += overlap
            day += _DAY
        return total

    def is_working(self, instant: datetime) -> bool:
        at = _as_utc(instant)
        return any(begin <= at < end for begin, end in self._intervals_on(self._local_day(at)))

    def _local_day(self, instant: datetime) -> date:
        # A local day's intervals lie between its first midnight and the next day's, so an instant
        # can only be worked time of the day its own wall clock shows, even in a repeated hour.
        return instant.astimezone(self._zone).date()

    def _day_start(self, day: date) -> datetime:
        return _utc_of(self._zone, day, MIDNIGHT)

    def _intervals_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        if day in self.holidays:
            return ()
        return _day_in_utc(self._zone, day, self.hours[day.weekday()])

    def _uniform_weeks(self, day: date, most: int) -> int:
        """How many whole weeks from local `day` on hold exactly the nominal weekly hours.

        Such a week has no holiday and no change of UTC offset. The offset is sampled at each
        week's first midnight: a pair of changes that cancel out within one week does not occur
        in the tz database, and sampling weekly is what lets long targets skip ahead cheaply.
        """
        if most <= 0:
            return 0
        upcoming = bisect_left(self._sorted_holidays, day)
        if upcoming < len(self._sorted_holidays):
            most = min(most, (self._sorted_holidays[upcoming] - day).days // 7)
        first = self._day_start(day)
        weeks = 0
        while weeks < most and self._day_start(day + (weeks + 1) * _WEEK) - first == (weeks + 1) * _WEEK:
            weeks += 1
        return weeks


@lru_cache(maxsize=16384)
def _day_in_utc(zone: ZoneInfo, day: date, spans: Spans) -> tuple[tuple[datetime, datetime], ...]:
    intervals = []
    for start, end in spans:
        begin = _utc_of(zone, day, start)
        finish = _utc_of(zone, day + _DAY, MIDNIGHT) if end == MIDNIGHT else _utc_of(zone, day, end)
        if begin < finish:  # an interval inside a spring-forward gap has no length that day
            intervals.append((begin, finish))
    return tuple(intervals)


@lru_cache(maxsize=65536)
def _utc_of(zone: ZoneInfo, day: date, at: time) -> datetime:
    """The UTC instant of a local wall-clock time.

    A repeated (fall-back) time is its first occurrence. A time skipped by spring-forward is the
    instant the clocks jumped: mapping every skipped time to that one instant keeps the mapping
    monotonic, so intervals that do not overlap locally never overlap in UTC.
    """
    wall = datetime.combine(day, at)
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    return _end_of_gap(zone, wall)


def _end_of_gap(zone: ZoneInfo, wall: datetime) -> datetime:
    # Read with the offset from after the jump (fold=1) the skipped time lands before the jump, with
    # the offset from before it (fold=0) after; tz data changes offsets on whole seconds.
    before = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    after = int(wall.replace(tzinfo=zone, fold=0).timestamp())
    new_offset = datetime.fromtimestamp(after, zone).utcoffset()
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == new_offset:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def _as_utc(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant} has no time zone; a calendar only works with aware datetimes.")
    return instant.astimezone(UTC)


def _zone_named(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise _invalid("The calendar time zone must be an IANA name such as 'Africa/Johannesburg'.", "timezone")
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError; malformed keys are ValueErrors
        raise _invalid(f"Unknown time zone '{name}'; use an IANA name such as 'Africa/Johannesburg'.", "timezone") from None


def _start_seconds(at: time) -> int:
    return at.hour * 3600 + at.minute * 60


def _end_seconds(at: time) -> int:
    return 86400 if at == MIDNIGHT else _start_seconds(at)


def _length(span: tuple[time, time]) -> timedelta:
    return timedelta(seconds=_end_seconds(span[1]) - _start_seconds(span[0]))


def _clock(at: time, *, ending: bool = False) -> str:
    return "24:00" if ending and at == MIDNIGHT else f"{at.hour:02d}:{at.minute:02d}"


def _checked_hours(hours: object) -> dict[int, Spans]:
    if not isinstance(hours, Mapping):
        raise _invalid("Calendar hours map each weekday to its working intervals.", "hours")
    checked: dict[int, Spans] = {}
    for day in range(7):
        spans = hours.get(day, ())
        part = f"hours.{DAY_NAMES[day]}"
        if not isinstance(spans, (list, tuple)) or not all(_is_span(span) for span in spans):
            raise _invalid(f"Hours for {DAY_NAMES[day]} must be (start, end) pairs of whole-minute local times.", part)
        ordered = tuple(sorted((tuple(span) for span in spans), key=lambda span: _start_seconds(span[0])))
        for start, end in ordered:
            if _start_seconds(start) >= _end_seconds(end):
                raise _invalid(
                    f"Hours for {DAY_NAMES[day]}: {_clock(start)}-{_clock(end, ending=True)} does not start before it ends.", part
                )
        for (start, end), (later, _) in zip(ordered, ordered[1:]):
            if _end_seconds(end) > _start_seconds(later):
                raise _invalid(
                    f"Hours for {DAY_NAMES[day]} overlap: {_clock(start)}-{_clock(end, ending=True)} runs past {_clock(later)}.", part
                )
        checked[day] = ordered
    extra = [day for day in hours if day not in checked]
    if extra:
        raise _invalid(f"Calendar hours are keyed by weekday 0 (Monday) to 6 (Sunday), not {extra[0]!r}.", "hours")
    return checked


def _is_span(span: object) -> bool:
    # Whole minutes only, so every calendar round-trips through the "HH:MM" definition.
    return (
        isinstance(span, (list, tuple))
        and len(span) == 2
        and all(isinstance(at, time) and at.tzinfo is None and not at.second and not at.microsecond for at in span)
    )


def _checked_holidays(holidays: object) -> frozenset[date]:
    if isinstance(holidays, (str, bytes)) or not hasattr(holidays, "__iter__"):
        raise _invalid("Calendar holidays are a collection of dates.", "holidays")
    checked = frozenset(holidays)
    for holiday in checked:
        if not isinstance(holiday, date) or isinstance(holiday, datetime):
            raise _invalid(f"Calendar holiday {holiday!r} is not a date.", "holidays")
    return checked


def _parsed_hours(raw: object) -> dict[int, Spans]:
    if not isinstance(raw, Mapping):
        raise _invalid('Calendar hours are an object such as {"mon": [["08:00", "17:00"]]}.', "hours")
    hours: dict[int, Spans] = {}
    for name, spans in raw.items():
        if name not in DAY_NAMES:
            raise _invalid(f"Unknown day '{name}' in calendar hours; use {', '.join(DAY_NAMES)}.", f"hours.{name}")
        part = f"hours.{name}"
        if not isinstance(spans, (list, tuple)):
            raise _invalid(f'Hours for {name} are a list of ["HH:MM", "HH:MM"] pairs.', part)
        parsed = []
        for span in spans:
            if not isinstance(span, (list, tuple)) or len(span) != 2:
                raise _invalid(f'Hours for {name} are a list of ["HH:MM", "HH:MM"] pairs, not {span!r}.', part)
            parsed.append((_parsed_clock(span[0], name, ending=False), _parsed_clock(span[1], name, ending=True)))
        hours[DAY_NAMES.index(name)] = tuple(parsed)
    return hours


def _parsed_clock(raw: object, day: str, *, ending: bool) -> time:
    matched = _CLOCK.fullmatch(raw) if isinstance(raw, str) else None
    if matched:
        hour, minute = int(matched[1]), int(matched[2])
        if ending and (hour, minute) == (24, 0):
            return MIDNIGHT
        if hour < 24 and minute < 60:
            return time(hour, minute)
    allowed = '"00:00" to "24:00"' if ending else '"00:00" to "23:59"'
    raise _invalid(f"Hours for {day}: {raw!r} is not a time of day; use {allowed}.", f"hours.{day}")


def _parsed_holidays(raw: object) -> frozenset[date]:
    if not isinstance(raw, (list, tuple)):
        raise _invalid('Calendar holidays are a list of "YYYY-MM-DD" dates.', "holidays")
    holidays = set()
    for value in raw:
        try:
            if not (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
                raise ValueError
            holidays.add(date.fromisoformat(value))
        except ValueError:
            raise _invalid(f'Calendar holiday {value!r} is not a "YYYY-MM-DD" date.', "holidays") from None
    return frozenset(holidays)
