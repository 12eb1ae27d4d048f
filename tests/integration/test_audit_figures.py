"""The dashboard as of a moment, replayed from the event store by the dashboard projection's own
code: as of now it is exactly the dashboard; as of a moment past, exactly what the dashboard showed
then. And SLA compliance replayed under other policies, beside what was recorded."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import msgspec
from hypothesis import HealthCheck, given, settings

from commands.loading import load_ticket
from domain.sla import policy_from_definition
from domain.sla_replay import SLAReplay
from projections import dashboard_queries as queries
from projections.as_of import dashboard_as_of, figures_as_of
from projections.audit_log import tenant_events
from tests.conftest import JWT_SECRET
from tests.integration.audit_helpers import chained
from tests.integration.test_dashboard import History, history_strategy, kept_figures, scopes_of

VIEWS = ("metrics", "volume", "sla", "workload")


def same_everywhere(live, replayed, scopes) -> None:
    for scope in scopes:
        assert kept_figures(replayed, scope) == kept_figures(live, scope), scope
        assert queries.totals(replayed, scope) == queries.totals(live, scope), scope  # the float sums too, exactly


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=history_strategy)
def test_the_figures_as_of_now_are_the_dashboards_exactly(app, engine, projectors, projected, history):
    tenant = f"f{uuid.uuid4().hex[:12]}"
    played = History(app, tenant)
    played.setup(history["teams"], history["policies"])
    for step in (*history["openings"], *history["steps"]):
        played.play(step)
    projected()
    chained(projectors, app)
    days = {load_ticket(app.repository, t).created_on.date() for t in played.tickets} or {datetime.now(UTC).date()}
    with dashboard_as_of(app, tenant, datetime.now(UTC)) as replayed:
        same_everywhere(engine, replayed, scopes_of(tenant, days))


def test_the_figures_as_of_a_past_moment_are_what_the_dashboard_showed_then_and_as_of_now_what_it_answers(
    app, engine, client, projectors, projected, tenant
):
    played = History(app, tenant, strict=True)
    played.setup([False, True], [{"categories": ["roads"], "response_hours": 1, "resolution_hours": 8}])
    for step in [("open", "roads", "w1", "high", False), ("open", "water", "w2", "low", False), ("status", 0, [0]), ("assign", 0, 0)]:
        played.play(step)
    projected()
    scopes = scopes_of(tenant, {datetime.now(UTC).date()})
    then, shown_then = datetime.now(UTC), {scope: kept_figures(engine, scope) for scope in scopes}
    time.sleep(0.01)
    for step in [("breach", 0, "resolution"), ("reply", 1, "public"), ("open", "roads", None, "medium", False), ("restrict", 0, True)]:
        played.play(step)
    projected()
    chained(projectors, app)
    with dashboard_as_of(app, tenant, then) as replayed:
        assert {scope: kept_figures(replayed, scope) for scope in scopes} == shown_then
    admin = {"Authorization": "Bearer " + _token(tenant)}
    for ward in (None, "w1"):
        figures = msgspec.to_builtins(figures_as_of(app, tenant, datetime.now(UTC), ward))
        params = {"ward": ward} if ward else {}
        assert figures == {view: client.get(f"/api/v1/dashboard/{view}", params=params, headers=admin).json() for view in VIEWS}


def _token(tenant: str) -> str:
    from api.auth import issue_token

    return issue_token(JWT_SECRET, tenant=tenant, role="admin", sub="admin-1")


def test_sla_replay_under_the_recorded_policies_gives_what_was_recorded_and_a_tighter_target_more_breaches(app, projectors, tenant):
    policy = {"id": "p0", "response_hours": 1, "resolution_hours": 8}
    played = History(app, tenant, strict=True)
    played.setup([False], [{"categories": [], "response_hours": 1, "resolution_hours": 8}])
    for step in [
        ("open", "roads", "w1", "high", False),
        ("open", "roads", "w1", "high", False),
        ("open", "water", "w2", "low", False),
        ("status", 0, [0]),  # open -> in_progress: staff met the response target
        ("status", 0, [1]),  # -> resolved, in time
        ("breach", 1, "response"),  # missed (recorded far in the future)
    ]:
        played.play(step)
    chained(projectors, app)

    def replayed(definition: dict) -> dict:
        replay = SLAReplay([policy_from_definition(0, definition)])
        for batch in tenant_events(app, tenant, ()):
            for event, _ in batch:
                replay.apply(event)
        return {(r.category, r.priority): r for r in replay.rows(datetime.now(UTC))}

    same = replayed(policy)
    roads = same[("roads", "high")]
    assert (roads.recorded.met, roads.recorded.breached) == (1, 1) and roads.recorded.compliance_percent == 50.0
    assert (roads.replayed.met, roads.replayed.breached, roads.replayed.undecided) == (
        1,
        0,
        1,
    )  # the recorded breach was a test's far future
    assert (same[("water", "low")].recorded.undecided, same[("water", "low")].replayed.undecided) == (1, 1)
    tight = replayed({"id": "p0", "response_hours": 1e-9, "resolution_hours": 1e-9})
    assert tight[("roads", "high")].replayed.breached == 2  # the two roads tickets: met late, or past due
    assert tight[("water", "low")].replayed.breached == 1
