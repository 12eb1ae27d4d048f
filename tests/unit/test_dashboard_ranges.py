"""A dashboard range is summed from whole months and the days at its edges: every day once."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from projections.dashboard_queries import covering

days = st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31))
FAR_PAST, FAR_FUTURE = date(2023, 1, 1), date(2029, 1, 1)


def expand(months, spans) -> list[date]:
    """Every day the spans cover, months expanded into their days, within a finite window."""
    covered = []
    for start, end in spans:
        day = start or FAR_PAST
        while day < (end or FAR_FUTURE):
            covered.append(day)
            day += timedelta(days=1)
    if months is not None:
        start, end = months
        day = start or FAR_PAST
        while day < (end or FAR_FUTURE):
            covered.append(day)
            day += timedelta(days=1)
    return covered


@given(since=st.one_of(st.none(), days), until=st.one_of(st.none(), days))
def test_months_and_edge_days_cover_the_range_exactly_once(since, until):
    months, spans = covering(since, until)
    covered = expand(months, spans)
    low, high = since or FAR_PAST, until or FAR_FUTURE - timedelta(days=1)
    expected = [low + timedelta(days=n) for n in range((high - low).days + 1)] if low <= high else []
    assert sorted(covered) == expected
    if months is not None:
        assert all(edge is None or edge.day == 1 for edge in months)
