"""Business calendars: deadlines and elapsed working time, including across DST changes."""

from __future__ import annotations

import json
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from domain.calendar import DAY_NAMES, BusinessCalendar
from domain.errors import Invalid

JOHANNESBURG = ZoneInfo("Africa/Johannesburg")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
WEEKDAYS_8_TO_17 = {day: [["08:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
OFFICE = BusinessCalendar.from_definition({"timezone": "Africa/Johannesburg", "hours": WEEKDAYS_8_TO_17})
US = timedelta(microseconds=1)

# Zones with no DST, ordinary DST, a 30-minute DST (Lord Howe) and DST changes at midnight (Santiago).
ZONES = ["UTC", "Africa/Johannesburg", "Asia/Kolkata", "Europe/Amsterdam", "America/New_York", "Australia/Lord_Howe", "America/Santiago"]
# Europe/Amsterdam and America/New_York spring forward and fall back inside this window.
DST_CHANGES = [
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
]
WINDOW_START = datetime(2026, 1, 1, tzinfo=UTC)

bounded = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def quarter_hour(q: int) -> time:
    return time(0) if q == 96 else time(q // 4, q % 4 * 15)


@st.composite
def day_spans(draw):
    """Non-overlapping intervals on a quarter-hour grid; 96 is the midnight ending the day."""
    edges = sorted(draw(st.lists(st.integers(0, 96), unique=True, max_size=6)))
    edges = edges[: len(edges) // 2 * 2]
    return tuple((quarter_hour(edges[i]), quarter_hour(edges[i + 1])) for i in range(0, len(edges), 2))


@st.composite
def calendars(draw, zones=ZONES):
    hours = {day: draw(day_spans()) for day in range(7)}
    if not any(hours.values()):
        hours[draw(st.integers(0, 6))] = ((time(9), time(17)),)
    holidays = draw(st.frozensets(st.dates(date(2026, 1, 1), date(2026, 12, 31)), max_size=12))
    return BusinessCalendar(timezone=draw(st.sampled_from(zones)), hours=hours, holidays=holidays)


instants = st.one_of(
    st.integers(0, 366 * 24 * 60).map(lambda minutes: WINDOW_START + timedelta(minutes=minutes)),
    st.builds(lambda change, minutes: change + timedelta(minutes=minutes), st.sampled_from(DST_CHANGES), st.integers(-36 * 60, 36 * 60)),
)
durations = st.one_of(
    st.integers(0, 60 * 60).map(lambda minutes: timedelta(minutes=minutes)),
    st.integers(0, 3000 * 60).map(lambda minutes: timedelta(minutes=minutes)),  # long enough to skip whole weeks
)
positive_durations = durations.filter(lambda duration: duration > timedelta(0))


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


def minute_of_day(at: time) -> int:
    return at.hour * 60 + at.minute


def closing_minute(at: time) -> int:
    return minute_of_day(at) or 24 * 60


# Concrete examples


def test_four_working_hours_from_friday_afternoon_end_on_monday_morning():
    friday_three_pm = local(JOHANNESBURG, 2026, 5, 15, 15)
    due = OFFICE.add(friday_three_pm, timedelta(hours=4))
    assert due.tzinfo is UTC
    assert due.astimezone(JOHANNESBURG) == local(JOHANNESBURG, 2026, 5, 18, 10)
    assert OFFICE.working_time_between(friday_three_pm, due) == timedelta(hours=4)


def test_a_deadline_that_uses_up_a_day_exactly_is_at_that_days_closing_time_not_the_next_opening():
    due = OFFICE.add(local(JOHANNESBURG, 2026, 5, 15, 15), timedelta(hours=2))
    assert due.astimezone(JOHANNESBURG) == local(JOHANNESBURG, 2026, 5, 15, 17)


def test_a_zero_target_is_due_at_the_next_opening():
    saturday = local(JOHANNESBURG, 2026, 5, 16, 11)
    assert OFFICE.add(saturday, timedelta(0)).astimezone(JOHANNESBURG) == local(JOHANNESBURG, 2026, 5, 18, 8)
    tuesday_noon = local(JOHANNESBURG, 2026, 5, 19, 12)
    assert OFFICE.add(tuesday_noon, timedelta(0)) == tuesday_noon


def test_24x7_across_the_amsterdam_spring_forward_counts_real_hours():
    calendar = BusinessCalendar(timezone="Europe/Amsterdam")
    due = calendar.add(local(AMSTERDAM, 2026, 3, 28, 23), timedelta(hours=4))
    assert due.astimezone(AMSTERDAM) == local(AMSTERDAM, 2026, 3, 29, 4)
    assert calendar.working_time_between(local(AMSTERDAM, 2026, 3, 29, 0), local(AMSTERDAM, 2026, 3, 30, 0)) == timedelta(hours=23)


def test_a_whole_working_day_lasts_23_hours_at_spring_forward_and_25_at_fall_back():
    sundays = BusinessCalendar(timezone="Europe/Amsterdam", hours={6: ((time(0), time(0)),)})
    assert sundays.working_time_between(local(AMSTERDAM, 2026, 3, 28, 0), local(AMSTERDAM, 2026, 3, 31, 0)) == timedelta(hours=23)
    assert sundays.working_time_between(local(AMSTERDAM, 2026, 10, 24, 0), local(AMSTERDAM, 2026, 10, 27, 0)) == timedelta(hours=25)
    assert sundays.add(local(AMSTERDAM, 2026, 3, 29, 0), timedelta(hours=23)).astimezone(AMSTERDAM) == local(AMSTERDAM, 2026, 3, 30, 0)


def test_local_times_skipped_by_spring_forward_map_to_the_moment_the_clocks_jump():
    sundays = BusinessCalendar(timezone="Europe/Amsterdam", hours={6: ((time(1), time(2, 30)), (time(2, 45), time(4)))})
    spring_sunday = (local(AMSTERDAM, 2026, 3, 29, 0), local(AMSTERDAM, 2026, 3, 30, 0))
    ordinary_sunday = (local(AMSTERDAM, 2026, 3, 22, 0), local(AMSTERDAM, 2026, 3, 23, 0))
    # 01:00-02:00 then the jump to 03:00; 02:30 and 02:45 both become 03:00, so 03:00-04:00 follows.
    assert sundays.working_time_between(*spring_sunday) == timedelta(hours=2)
    assert sundays.working_time_between(*ordinary_sunday) == timedelta(hours=2, minutes=45)
    assert sundays.is_working(local(AMSTERDAM, 2026, 3, 29, 1, 59)) and sundays.is_working(local(AMSTERDAM, 2026, 3, 29, 3, 0))
    assert not sundays.is_working(local(AMSTERDAM, 2026, 3, 29, 4, 0))
    inside_the_gap = BusinessCalendar(timezone="Europe/Amsterdam", hours={6: ((time(2, 15), time(2, 45)),)})
    assert inside_the_gap.working_time_between(*spring_sunday) == timedelta(0)
    assert inside_the_gap.working_time_between(*ordinary_sunday) == timedelta(minutes=30)


def test_office_hours_keep_their_length_on_the_working_days_around_a_dst_change():
    amsterdam_office = BusinessCalendar.from_definition({"timezone": "Europe/Amsterdam", "hours": WEEKDAYS_8_TO_17})
    friday_four_pm = local(AMSTERDAM, 2026, 3, 27, 16)
    assert amsterdam_office.add(friday_four_pm, timedelta(hours=2)).astimezone(AMSTERDAM) == local(AMSTERDAM, 2026, 3, 30, 9)


def test_2000_working_hours_skip_whole_weeks_and_finish_quickly():
    nine_to_five = BusinessCalendar.from_definition(
        {"timezone": "Africa/Johannesburg", "hours": {day: [["09:00", "17:00"]] for day in DAY_NAMES[:5]}}
    )
    monday = local(JOHANNESBURG, 2026, 1, 5, 9)
    started = clock.perf_counter()
    due = nine_to_five.add(monday, timedelta(hours=2000))
    elapsed = clock.perf_counter() - started
    # 2000 h is exactly 50 weeks of 40 h, so the deadline is the close of the 50th week's Friday.
    assert due.astimezone(JOHANNESBURG) == local(JOHANNESBURG, 2026, 1, 5, 17) + timedelta(weeks=49, days=4)
    assert nine_to_five.working_time_between(monday, due) == timedelta(hours=2000)
    assert elapsed < 0.25
    # From midnight the walk can skip from the first day; it must still stop at a close, not the next opening.
    from_midnight = nine_to_five.add(local(JOHANNESBURG, 2026, 1, 5, 0), timedelta(hours=2000))
    assert from_midnight == due


def test_a_long_target_lands_where_many_short_ones_chained_do():
    calendar = BusinessCalendar.from_definition(
        {"timezone": "Europe/Amsterdam", "hours": WEEKDAYS_8_TO_17, "holidays": ["2026-04-03", "2026-04-06", "2026-12-25"]}
    )
    start = local(AMSTERDAM, 2026, 1, 7, 13, 30)
    chained = start
    for _ in range(50):
        chained = calendar.add(chained, timedelta(hours=37))
    assert calendar.add(start, timedelta(hours=37 * 50)) == chained


def test_an_empty_definition_is_open_all_the_time_in_utc():
    for definition in (None, {}):
        calendar = BusinessCalendar.from_definition(definition)
        assert calendar == BusinessCalendar()
        assert calendar.timezone == "UTC"
        assert calendar.is_always_open
    assert not OFFICE.is_always_open


def test_calendars_refuse_naive_datetimes_and_negative_targets():
    with pytest.raises(ValueError, match="time zone"):
        OFFICE.add(datetime(2026, 5, 15, 15), timedelta(hours=1))
    with pytest.raises(ValueError, match="negative"):
        OFFICE.add(local(JOHANNESBURG, 2026, 5, 15, 15), timedelta(hours=-1))


@pytest.mark.parametrize(
    ("definition", "field", "phrase"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "calendar.timezone", "Unknown time zone 'Mars/Olympus_Mons'"),
        ({"timezone": ""}, "calendar.timezone", "IANA name"),
        ({"timezone": "../etc/passwd"}, "calendar.timezone", "Unknown time zone"),
        ({"hours": {"monday": [["08:00", "17:00"]]}}, "calendar.hours.monday", "Unknown day 'monday'"),
        ({"hours": {"mon": [["8am", "17:00"]]}}, "calendar.hours.mon", "'8am' is not a time of day"),
        ({"hours": {"mon": [["08:00", "17:60"]]}}, "calendar.hours.mon", "'17:60' is not a time of day"),
        ({"hours": {"mon": [["24:00", "24:00"]]}}, "calendar.hours.mon", "'24:00' is not a time of day"),
        ({"hours": {"mon": [["17:00", "08:00"]]}}, "calendar.hours.mon", "17:00-08:00 does not start before it ends"),
        ({"hours": {"mon": [["08:00", "08:00"]]}}, "calendar.hours.mon", "does not start before it ends"),
        ({"hours": {"tue": [["08:00", "12:00"], ["11:00", "17:00"]]}}, "calendar.hours.tue", "overlap"),
        ({"hours": {"tue": [["08:00"]]}}, "calendar.hours.tue", "pairs"),
        ({"hours": {"tue": "08:00-17:00"}}, "calendar.hours.tue", "pairs"),
        ({"hours": {}}, "calendar.hours", "every day is closed"),
        ({"hours": {"mon": []}}, "calendar.hours", "every day is closed"),
        ({"hours": [["08:00", "17:00"]]}, "calendar.hours", "object"),
        ({"holidays": ["2026-02-30"]}, "calendar.holidays", "'2026-02-30' is not a \"YYYY-MM-DD\" date"),
        ({"holidays": ["25/12/2026"]}, "calendar.holidays", "'25/12/2026'"),
        ({"holidays": "2026-12-25"}, "calendar.holidays", "list"),
        ({"timezone": "UTC", "weekends": True}, "calendar.weekends", "Unknown calendar setting 'weekends'"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_field(definition, field, phrase):
    with pytest.raises(Invalid) as refused:
        BusinessCalendar.from_definition(definition)
    assert refused.value.code == "invalid_calendar"
    assert refused.value.field == field
    assert phrase in refused.value.message


def test_hours_may_run_to_the_end_of_the_day_written_as_24_00_or_00_00():
    late = BusinessCalendar.from_definition({"hours": {"fri": [["18:00", "24:00"]], "sat": [["00:00", "00:00"]]}})
    assert late.hours[4] == ((time(18), time(0)),)
    assert late.hours[5] == ((time(0), time(0)),)
    assert late.to_definition()["hours"] == {"fri": [["18:00", "24:00"]], "sat": [["00:00", "24:00"]]}
    friday_eight_pm = datetime(2026, 5, 15, 20, tzinfo=UTC)
    assert late.add(friday_eight_pm, timedelta(hours=28)) == datetime(2026, 5, 17, 0, tzinfo=UTC)


def test_direct_construction_is_checked_too():
    with pytest.raises(Invalid) as refused:
        BusinessCalendar(hours={0: ((time(9), time(12)), (time(10), time(11)))})
    assert refused.value.field == "calendar.hours.mon"
    with pytest.raises(Invalid) as refused:
        BusinessCalendar(hours={7: ((time(9), time(12)),)})
    assert refused.value.field == "calendar.hours"


# Properties


@bounded
@given(calendar=calendars(), start=instants, shorter=durations, longer=durations)
def test_a_longer_target_is_never_due_earlier(calendar, start, shorter, longer):
    shorter, longer = sorted((shorter, longer))
    assert calendar.add(start, shorter) <= calendar.add(start, longer)


@bounded
@given(calendar=calendars(), start=instants, duration=durations)
def test_the_working_time_up_to_a_deadline_is_the_target(calendar, start, duration):
    assert calendar.working_time_between(start, calendar.add(start, duration)) == duration


@bounded
@given(calendar=calendars(), start=instants, duration=positive_durations)
def test_a_deadline_is_inside_working_time_or_exactly_at_the_close_of_an_interval(calendar, start, duration):
    due = calendar.add(start, duration)
    # The last moment before the deadline is always worked: the deadline never waits for an opening.
    assert calendar.is_working(due - US)
    if not calendar.is_working(due):
        # Not worked at the deadline itself: then it is the close of the interval that was running.
        assert calendar.working_time_between(due - timedelta(minutes=15), due) > timedelta(0)
        assert calendar.working_time_between(due, due + US) == timedelta(0)


@bounded
@given(calendar=calendars(), start=instants)
def test_a_zero_target_is_the_first_working_instant_at_or_after_the_start(calendar, start):
    due = calendar.add(start, timedelta(0))
    assert due >= start
    assert calendar.is_working(due)
    assert calendar.working_time_between(start, due) == timedelta(0)


@bounded
@given(
    calendar=calendars(), start=instants, duration=durations, pause_offset=st.integers(0, 400 * 60), pause_length=st.integers(0, 200 * 60)
)
def test_pausing_never_brings_a_deadline_forward(calendar, start, duration, pause_offset, pause_length):
    # The clock runs from `start`, so a pause begins at or after it (possibly after the deadline).
    due = calendar.add(start, duration)
    paused_at = start + timedelta(minutes=pause_offset)
    resumed_at = paused_at + timedelta(minutes=pause_length)
    remaining = calendar.working_time_between(paused_at, due)
    assert calendar.add(resumed_at, remaining) >= due


@bounded
@given(calendar=calendars(), start=instants, first=durations, second=positive_durations)
def test_a_target_split_in_two_lands_where_the_whole_target_does(calendar, start, first, second):
    assert calendar.add(calendar.add(start, first), second) == calendar.add(start, first + second)


@bounded
@given(zone=st.sampled_from(ZONES), start=instants, duration=durations, seconds=st.integers(0, 59))
def test_a_24x7_calendar_is_plain_datetime_addition(zone, start, duration, seconds):
    calendar = BusinessCalendar(timezone=zone)
    start = (start + timedelta(seconds=seconds)).astimezone(ZoneInfo(zone))
    due = calendar.add(start, duration)
    # In UTC: Python adds a timedelta to an aware datetime on its wall clock, which ignores DST.
    assert due == start.astimezone(UTC) + duration
    assert due.tzinfo is UTC
    assert calendar.working_time_between(start, due) == duration


@bounded
@given(zone=st.sampled_from(ZONES), start=instants, hours=st.integers(0, 9000), minutes=st.integers(0, 59))
def test_a_24x7_calendar_is_plain_addition_even_when_a_past_holiday_makes_it_walk_the_days(zone, start, hours, minutes):
    # The holiday lies before every start, so it removes no time but turns off the 24x7 shortcut,
    # and a year of hours makes the walk skip whole weeks across both DST changes.
    calendar = BusinessCalendar(timezone=zone, holidays=frozenset({date(2025, 12, 25)}))
    assert not calendar.is_always_open
    duration = timedelta(hours=hours, minutes=minutes)
    assert calendar.add(start, duration) == start + duration
    assert calendar.working_time_between(start, start + duration) == duration


@bounded
@given(
    calendar=calendars(zones=["Europe/Amsterdam", "America/New_York", "Australia/Lord_Howe", "America/Santiago"]),
    start=instants,
    duration=durations,
)
def test_skipping_whole_weeks_lands_where_walking_week_by_week_does(calendar, start, duration):
    weekly = sum(
        (timedelta(minutes=closing_minute(end) - minute_of_day(begin)) for spans in calendar.hours.values() for begin, end in spans),
        timedelta(0),
    )
    assume(duration // weekly <= 100)
    walked = start
    # A step of at most one nominal week never takes the skipping path.
    for _ in range(duration // weekly):
        walked = calendar.add(walked, weekly)
    if duration % weekly or not duration:
        walked = calendar.add(walked, duration % weekly)
    assert calendar.add(start, duration) == walked


@bounded
@given(calendar=calendars(), data=st.data())
def test_holidays_have_no_working_time(calendar, data):
    assume(calendar.holidays)
    holiday = data.draw(st.sampled_from(sorted(calendar.holidays)))
    zone = ZoneInfo(calendar.timezone)
    midnight = datetime.combine(holiday, time(0), zone)
    next_midnight = datetime.combine(holiday + timedelta(days=1), time(0), zone)
    assert calendar.working_time_between(midnight, next_midnight) == timedelta(0)
    assert not calendar.is_working(datetime.combine(holiday, time(12), zone))


@bounded
@given(calendar=calendars(zones=["UTC", "Africa/Johannesburg", "Asia/Kolkata"]), start=instants, minutes=st.integers(0, 3 * 24 * 60))
def test_working_time_matches_counting_working_minutes_on_the_wall_clock(calendar, start, minutes):
    # An independent oracle for zones without DST: walk minute by minute in local time.
    zone = ZoneInfo(calendar.timezone)
    counted = 0
    for step in range(minutes):
        wall = (start + timedelta(minutes=step)).astimezone(zone)
        if wall.date() in calendar.holidays:
            continue
        of_day = minute_of_day(wall.time())
        if any(minute_of_day(begin) <= of_day < closing_minute(end) for begin, end in calendar.hours[wall.weekday()]):
            counted += 1
    end = start + timedelta(minutes=minutes)
    assert calendar.working_time_between(start, end) == timedelta(minutes=counted)
    assert all(
        calendar.is_working(start + timedelta(minutes=step))
        == (calendar.working_time_between(start + timedelta(minutes=step), start + timedelta(minutes=step + 1)) > timedelta(0))
        for step in range(0, minutes, 97)
    )


@bounded
@given(calendar=calendars())
def test_a_definition_round_trips_through_json(calendar):
    definition = json.loads(json.dumps(calendar.to_definition()))
    again = BusinessCalendar.from_definition(definition)
    assert again == calendar
    assert again.to_definition() == definition


def test_an_aggregate_holding_a_calendar_can_be_copied_for_a_command():
    from copy import deepcopy

    from domain.sla import SLAPolicies
    from tests.unit.helpers import actor

    policies = SLAPolicies(tenant="city")
    week = {"mon": [["08:00", "17:00"]], "tue": [["08:00", "17:00"]]}
    policies.replace(actor("admin"), [{"id": "p1", "response_hours": 4, "calendar": {"timezone": "Africa/Johannesburg", "hours": week}}])
    copied = deepcopy(policies)
    assert copied.policies == policies.policies and copied is not policies
