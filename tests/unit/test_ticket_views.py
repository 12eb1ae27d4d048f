"""A ticket's view is made from its row by position (projections/ticket_queries.ticket_views): each
field is the column of its name, and what depends on the caller depends on the caller alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.permissions import Action, Actor, Role, may
from projections.ticket_queries import DERIVED, TICKET_ROWS, TicketView, ticket_view, ticket_views

COLUMNS = tuple(column.name for column in TICKET_ROWS.selected_columns) + ("position",)  # as a list page selects them


def a_row(lat: float | None, assignee: str) -> dict[str, object]:
    """Each column holding a value that names it, so a field read from the wrong column shows."""
    row: dict[str, object] = {name: f"value of {name}" for name in COLUMNS}
    return row | {"is_sensitive": False, "lat": lat, "lon": 2.5, "assignee_id": assignee}


actors = st.builds(Actor, id=st.sampled_from(["tech-1", "tech-2", "someone"]), role=st.sampled_from(list(Role)), tenant=st.just("t"))


@given(actor=actors, assignee=st.sampled_from(["tech-1", "tech-2"]), lat=st.sampled_from([None, 1.5]))
def test_every_field_is_its_column_and_what_the_caller_sees_follows_their_role(actor: Actor, assignee: str, lat: float | None) -> None:
    row = a_row(lat, assignee)
    view = ticket_views(COLUMNS, actor)(tuple(row.values()))
    for name in TicketView.__struct_fields__:
        if name not in DERIVED:
            assert getattr(view, name) == row.get(name), name
    assert (view.location is None) == (lat is None)
    if view.location is not None:
        assert (view.location.lat, view.location.lon) == (lat, 2.5)
    assert (view.reporter.id, view.reporter.name) == ("value of reporter_id", "value of reporter_name")
    reaches_reporter = actor.role is not Role.AGENT or assignee == actor.id
    assert view.reporter.phone == ("value of reporter_phone" if reaches_reporter else None)
    assert view.reporter.email == ("value of reporter_email" if reaches_reporter else None)
    notes = may(actor.role, Action.READ_INTERNAL_NOTES)
    assert view.internal_note_count == ("value of internal_note_count" if notes else None)
    assert view.sla_policy_id == (None if actor.role is Role.REPORTER else "value of sla_policy_id")


def test_a_row_by_name_gives_the_view_its_values_give() -> None:
    actor = Actor(id="tech-1", role=Role.AGENT, tenant="t")
    row = a_row(None, "tech-2")
    assert ticket_view(row, actor) == ticket_views(COLUMNS, actor)(tuple(row.values()))


def test_a_field_with_a_default_that_no_column_gives_takes_the_default() -> None:
    names = tuple(name for name in COLUMNS if name != "completion_notes")
    row = {name: value for name, value in a_row(None, "x").items() if name != "completion_notes"}
    view = ticket_views(names, Actor(id="m", role=Role.MANAGER, tenant="t"))(tuple(row.values()))
    assert view.completion_notes is None
