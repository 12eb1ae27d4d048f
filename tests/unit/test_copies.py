"""A command's copy of an aggregate equals it and shares no container with it: whatever the command
changes in its copy, the cached original stays as it was."""

from __future__ import annotations

import uuid
from copy import deepcopy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from commands.copies import aggregate_copy, copied
from domain.calendar import BusinessCalendar
from domain.team import Member
from domain.ticket import Ticket
from tests.unit.helpers import actor, new_ticket

hashable = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.uuids(),
    st.datetimes(timezones=st.just(UTC)),
    st.decimals(allow_nan=False, allow_infinity=False),
)
values = st.recursive(
    st.one_of(
        hashable, st.builds(Member, user_id=st.text(max_size=4), display_name=st.text(max_size=4), role=st.sampled_from(["agent", "lead"]))
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
        st.tuples(inner, inner),
        st.sets(hashable, max_size=4),
    ),
    max_leaves=30,
)


def containers(value: Any) -> list[Any]:
    """Every mutable object in the value, itself included."""
    found = []
    if isinstance(value, (dict, list, set)):
        found.append(value)
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple, set)) else ()
    for item in items:
        found.extend(containers(item))
    return found


@given(values)
def test_a_copy_equals_what_deepcopy_makes_and_shares_no_mutable_object_with_the_original(value):
    copy = copied(value)
    assert copy == deepcopy(value) == value
    originals = {id(c) for c in containers(value)}
    assert not originals & {id(c) for c in containers(copy)}


def test_a_copied_ticket_changed_by_a_command_leaves_the_original_as_it_was():
    ticket = new_ticket(tags=["pothole"], custom_fields={"depth": 1})
    before = deepcopy(vars(ticket))
    copy = aggregate_copy(ticket)
    assert type(copy) is Ticket and vars(copy) == vars(ticket)
    copy.change_status(actor("manager"), "in_progress")
    copy.tags.append("flooded")
    copy.custom_fields["depth"] = 3
    assert copy.status == "in_progress" and copy.version == ticket.version + 1
    assert vars(ticket) == before


def test_what_knows_how_it_is_copied_is_copied_its_own_way():
    calendar = BusinessCalendar.from_definition({"timezone": "UTC", "hours": {"mon": [["09:00", "17:00"]]}})
    assert copied(calendar) is deepcopy(calendar)  # immutable: it says so itself
    assert copied({"ids": [uuid.UUID(int=1)], "at": datetime(2026, 1, 1, tzinfo=UTC), "n": Decimal("1.5")}) == {
        "ids": [uuid.UUID(int=1)],
        "at": datetime(2026, 1, 1, tzinfo=UTC),
        "n": Decimal("1.5"),
    }
