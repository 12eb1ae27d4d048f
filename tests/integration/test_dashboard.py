"""The dashboard read side: figures kept incrementally equal the figures worked out from scratch.

The oracle below reads the event store (each ticket's aggregate and its stored events, each team's
aggregate) and restates the rules of the issue in plain terms, independently of projections/:
a ticket counts unless it is sensitive, archived or held by a restricted team; open and resolved
follow the workflow category of its status (open or pending; resolved or closed); its response
time runs from its opening to the first status change or public reply by staff; a deadline is
breached when an SLABreached for it came after the last time deadlines of that kind were set.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import nats
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from commands.assignments import assign_ticket
from commands.breaches import breach_sla
from commands.loading import load_ticket
from commands.sensitivity import mark_sensitive
from commands.sla import set_sla_policies
from commands.structs import (
    AddReply,
    ArchiveTicket,
    AssignTicket,
    ChangeStatus,
    ChangeTeam,
    CreateTeam,
    EditTicket,
    MarkSensitive,
    OpenTicket,
    SetSLAPolicies,
)
from commands.teams import change_team, create_team
from commands.tickets import add_reply, archive_ticket, change_status, edit_ticket, open_ticket
from domain.errors import DomainError
from domain.permissions import Actor, Role
from domain.ticket import Ticket
from projections import dashboard_queries as queries
from projections.dashboard import LIVE
from projections.dashboard_queries import Scope
from projections.operations import rebuild
from workers.publisher import BUCKET, dashboard_bucket, publish_dirty

DASHBOARD = "/api/v1/dashboard"
VIEWS = ("metrics", "volume", "sla", "workload")
STAFF_ROLES = {"agent", "manager", "liaison", "admin"}
OPEN_STATES, RESOLVED_STATES = {"open", "pending"}, {"resolved", "closed"}
CATEGORIES = ["roads", "water", "lighting"]
WARDS = ["w1", "w2", None]
FAR_FUTURE = timedelta(days=3650)


def no_workload(tenant: str, users: list[str]) -> dict[str, int]:
    """No member holds any ticket: the workload assignments consult."""
    return {}


# The oracle: figures from scratch


@dataclass(frozen=True)
class Counted:
    """One ticket that the dashboard counts, as the event store tells it."""

    ward: str | None
    day: date
    category: str
    team_id: str | None
    team_name: str | None
    state: str  # the workflow category of its status
    response_seconds: float | None
    sla_kinds: frozenset[str]
    breached: frozenset[str]


def counted_tickets(app, ticket_ids) -> list[Counted]:
    counted = []
    for ticket_id in ticket_ids:
        ticket: Ticket = app.repository.get(ticket_id)
        events = list(app.events.get(ticket_id))
        opened = events[0]
        assert isinstance(opened, Ticket.Opened) and opened.timestamp.utcoffset() == timedelta(0)
        team = app.repository.get(uuid.UUID(ticket.team_id)) if ticket.team_id else None
        if ticket.is_sensitive or ticket.archived or (team is not None and team.is_restricted):
            continue
        responses = [e.timestamp for e in events if _is_staff_response(e)]
        kinds, breached = set(), set()
        for e in events:
            if isinstance(e, Ticket.SLADeadlinesSet):
                kinds |= set(e.clocks)
                breached -= set(e.clocks)
            elif isinstance(e, Ticket.SLABreached):
                breached.add(e.kind)
        counted.append(
            Counted(
                ward=ticket.ward,
                day=opened.timestamp.date(),
                category=ticket.category,
                team_id=ticket.team_id,
                team_name=team.name if team else None,
                state=opened.workflow_definition["states"][ticket.status],
                response_seconds=(responses[0] - opened.timestamp).total_seconds() if responses else None,
                sla_kinds=frozenset(kinds),
                breached=frozenset(breached),
            )
        )
    return counted


def _is_staff_response(e: Any) -> bool:
    if isinstance(e, Ticket.StatusChanged):
        return e.actor_role in STAFF_ROLES
    if isinstance(e, Ticket.ReplyAdded):
        return e.actor_role in STAFF_ROLES and not e.internal
    return False


def in_scope(tickets: list[Counted], scope: Scope) -> list[Counted]:
    return [
        t
        for t in tickets
        if (scope.ward is None or (t.ward or "") == scope.ward)
        and (scope.since is None or t.day >= scope.since)
        and (scope.until is None or t.day <= scope.until)
    ]


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def expected_figures(tickets: list[Counted]) -> dict[str, Any]:
    responded = [t.response_seconds for t in tickets if t.response_seconds is not None]
    with_sla = [t for t in tickets if t.sla_kinds]
    with_kind = {kind: [t for t in tickets if kind in t.sla_kinds] for kind in ("response", "resolution")}
    breaches = {kind: sum(kind in t.breached for t in tickets) for kind in ("response", "resolution")}
    categories = sorted({t.category for t in tickets})
    volume = [
        {
            "category": c,
            "open": sum(t.category == c and t.state in OPEN_STATES for t in tickets),
            "resolved": sum(t.category == c and t.state in RESOLVED_STATES for t in tickets),
        }
        for c in categories
    ]
    teams = sorted({(t.team_name, t.team_id) for t in tickets if t.team_id})
    return {
        "metrics": {
            "total_open": sum(t.state in OPEN_STATES for t in tickets),
            "total_resolved": sum(t.state in RESOLVED_STATES for t in tickets),
            "sla_compliance_percent": percent(sum(not t.breached for t in with_sla), len(with_sla)),
            "avg_response_hours": round(sum(responded) / len(responded) / 3600, 2) if responded else None,
            "sla_breaches": breaches["response"] + breaches["resolution"],
        },
        "volume": [v for v in volume if v["open"] or v["resolved"]],
        "sla": {
            "response_compliance_percent": percent(len(with_kind["response"]) - breaches["response"], len(with_kind["response"])),
            "resolution_compliance_percent": percent(len(with_kind["resolution"]) - breaches["resolution"], len(with_kind["resolution"])),
            "total_with_sla": len(with_sla),
            "response_breaches": breaches["response"],
            "resolution_breaches": breaches["resolution"],
        },
        "workload": [
            {
                "team_id": team_id,
                "team_name": name,
                "open_count": sum(t.team_id == team_id and t.state in OPEN_STATES for t in tickets),
                "total_count": sum(t.team_id == team_id for t in tickets),
            }
            for name, team_id in teams
        ],
    }


def kept_figures(engine, scope: Scope) -> dict[str, Any]:
    return {
        "metrics": msgspec.to_builtins(queries.metrics(engine, scope)),
        "volume": msgspec.to_builtins(queries.volume(engine, scope)),
        "sla": msgspec.to_builtins(queries.sla(engine, scope)),
        "workload": msgspec.to_builtins(queries.workload(engine, scope)),
    }


def kept_response_seconds(engine, scope: Scope) -> tuple[int, float]:
    """The unrounded sums behind avg_response_hours: histories in a test respond within milliseconds,
    which the figure in hours rounds to 0.0, so the seconds are compared as well."""
    kept = queries.totals(engine, scope)
    responded, seconds = kept["responded"], kept["response_seconds"]
    return int(responded), float(seconds)


def assert_kept_equals_from_scratch(app, engine, ticket_ids, scope: Scope) -> None:
    tickets = in_scope(counted_tickets(app, ticket_ids), scope)
    want, got = expected_figures(tickets), kept_figures(engine, scope)
    want_hours, got_hours = want["metrics"].pop("avg_response_hours"), got["metrics"].pop("avg_response_hours")
    assert got == want, scope
    assert (got_hours is None) == (want_hours is None) and (want_hours is None or got_hours == pytest.approx(want_hours, abs=0.011)), scope
    responded = [t.response_seconds for t in tickets if t.response_seconds is not None]
    kept_responded, kept_seconds = kept_response_seconds(engine, scope)
    assert kept_responded == len(responded), scope
    assert kept_seconds == pytest.approx(sum(responded), abs=1e-6), scope


# Random histories through the real use cases

policy_strategy = st.fixed_dictionaries(
    {
        "categories": st.lists(st.sampled_from(CATEGORIES), max_size=2, unique=True),
        "response_hours": st.sampled_from([None, 1, 4]),
        "resolution_hours": st.sampled_from([None, 8, 48]),
    }
).filter(lambda p: p["response_hours"] or p["resolution_hours"])

opening = st.tuples(
    st.sampled_from(CATEGORIES),
    st.sampled_from(WARDS),
    st.sampled_from(["low", "medium", "high"]),
    st.sampled_from([False, False, False, False, True]),  # sensitive, now and then
).map(lambda args: ("open", *args))
ticket = st.integers(0, 99)  # which of the tickets opened so far, modulo their number
STEP_ARGS = {
    "status": st.tuples(ticket, st.lists(st.integers(0, 9), min_size=1, max_size=4)),  # moves in a row
    "reply": st.tuples(ticket, st.sampled_from(["public", "internal", "reporter"])),
    "assign": st.tuples(ticket, st.integers(0, 9)),
    "breach": st.tuples(ticket, st.sampled_from(["response", "resolution"])),
    "category": st.tuples(ticket, st.sampled_from(CATEGORIES)),
    "ward": st.tuples(ticket, st.sampled_from(WARDS)),
    "restrict": st.tuples(st.integers(0, 9), st.booleans()),
    "archive": st.tuples(ticket),
    "sensitive": st.tuples(ticket),  # made sensitive after it opened: it leaves every figure
}
# How often each kind of step is drawn: what takes a ticket out of every figure is rare, so
# that most tickets go on counting.
STEP_KINDS = ["status"] * 6 + ["reply"] * 4 + ["assign"] * 3 + ["breach"] * 3 + ["open"] * 3 + ["category", "ward"] * 2
STEP_KINDS += ["restrict", "archive", "sensitive"]
step_strategy = st.sampled_from(STEP_KINDS).flatmap(
    lambda kind: opening if kind == "open" else STEP_ARGS[kind].map(lambda args: (kind, *args))
)
history_strategy = st.fixed_dictionaries(
    {
        "teams": st.lists(st.sampled_from([False, False, True]), min_size=1, max_size=3),  # whether each team is restricted
        "policies": st.lists(policy_strategy, max_size=2),
        "openings": st.lists(opening, min_size=1, max_size=4),
        "steps": st.lists(step_strategy, min_size=15, max_size=50),
    }
)


class History:
    """Plays steps through the use cases. In a drawn history a step the domain refuses changes
    nothing and is skipped; in a hand-made one (strict) every step must do what it says."""

    def __init__(self, app, tenant: str, strict: bool = False) -> None:
        self.app, self.tenant, self.strict = app, tenant, strict
        self.admin = self.actor("admin")
        self.tickets: list[uuid.UUID] = []
        self.reporters: dict[uuid.UUID, str] = {}
        self.teams: list[uuid.UUID] = []

    def actor(self, role: str, sub: str | None = None) -> Actor:
        return Actor(id=sub or f"{role}-1", tenant=self.tenant, role=Role(role), agent_scope="all")  # agents read the whole tenant

    def staff_for(self, ticket_id: uuid.UUID, choice: int = 0) -> Actor:
        """Someone whose role may see the ticket: liaison or admin for a sensitive one."""
        roles = ["liaison", "admin"] if load_ticket(self.app.repository, ticket_id).is_sensitive else ["agent", "manager", "admin"]
        return self.actor(roles[choice % len(roles)])

    def setup(self, teams: list[bool], policies: list[dict[str, Any]]) -> None:
        for i, restricted in enumerate(teams):
            saved = create_team(self.app, CreateTeam(actor=self.admin, name=f"Team {i}", is_restricted=restricted))
            self.teams.append(saved.id)
        definitions = [
            {
                "id": f"p{i}",
                **({"category": p["categories"]} if p["categories"] else {}),
                "response_hours": p["response_hours"],
                "resolution_hours": p["resolution_hours"],
            }
            for i, p in enumerate(policies)
        ]
        if definitions:
            set_sla_policies(self.app, SetSLAPolicies(actor=self.admin, policies=definitions))

    def play(self, step: tuple) -> None:
        try:
            self._play(step)
        except DomainError:
            if self.strict:
                raise

    def _play(self, step: tuple) -> None:
        kind, *args = step
        if kind == "open":
            category, ward, priority, sensitive = args
            reporter = f"r{len(self.tickets)}"
            cmd = OpenTicket(
                actor=self.actor("reporter", reporter), title="Report", description="d", category=category,
                ward=ward, priority=priority, is_sensitive=sensitive,
            )  # fmt: skip
            opened = open_ticket(self.app, cmd)
            self.tickets.append(opened.id)
            self.reporters[opened.id] = reporter
            return
        if kind == "restrict":
            team_id = self.teams[args[0] % len(self.teams)]
            change_team(self.app, ChangeTeam(actor=self.admin, team_id=team_id, changes={"is_restricted": args[1]}), self.holds_sensitive)
            return
        if not self.tickets:
            return
        ticket_id = self.tickets[args[0] % len(self.tickets)]
        match kind:
            case "status":
                for choice in args[1]:
                    ticket = load_ticket(self.app.repository, ticket_id)
                    allowed = [t.to for t in ticket.workflow.transitions if t.source == ticket.status]
                    change_status(
                        self.app,
                        ChangeStatus(actor=self.staff_for(ticket_id, choice), ticket_id=ticket_id, status=allowed[choice % len(allowed)]),
                    )
            case "reply":
                who = self.actor("reporter", self.reporters[ticket_id]) if args[1] == "reporter" else self.staff_for(ticket_id)
                add_reply(self.app, AddReply(actor=who, ticket_id=ticket_id, body="A word", internal=args[1] == "internal"))
            case "category":
                edit_ticket(self.app, EditTicket(actor=self.staff_for(ticket_id), ticket_id=ticket_id, changes={"category": args[1]}))
            case "ward":  # a misfiled ticket corrected
                edit_ticket(self.app, EditTicket(actor=self.staff_for(ticket_id), ticket_id=ticket_id, changes={"ward": args[1]}))
            case "assign":
                team_id = self.teams[args[1] % len(self.teams)]
                assign_ticket(self.app, no_workload, AssignTicket(actor=self.staff_for(ticket_id, 1), ticket_id=ticket_id, team_id=team_id))
            case "breach":
                breached = breach_sla(self.app, ticket_id, args[1], datetime.now(UTC) + FAR_FUTURE)
                assert breached or not self.strict, f"{step}: no {args[1]} deadline to breach"
            case "archive":
                archive_ticket(self.app, ArchiveTicket(actor=self.staff_for(ticket_id, 1), ticket_id=ticket_id))
            case "sensitive":
                mark_sensitive(self.app, no_workload, MarkSensitive(actor=self.actor("manager"), ticket_id=ticket_id, reason="abuse"))

    def holds_sensitive(self, tenant: str, team_id: str) -> bool:
        """Whether the team holds a sensitive ticket that is still open: then it stays restricted."""
        for ticket_id in self.tickets:
            t = load_ticket(self.app.repository, ticket_id)
            if t.team_id == team_id and t.is_sensitive and not t.archived and t.workflow.category(t.status) in OPEN_STATES:
                return True
        return False


def scopes_of(tenant: str, days: set[date]) -> list[Scope]:
    day = min(days)
    return [
        Scope(tenant),
        Scope(tenant, ward="w1"),
        Scope(tenant, ward=""),  # the tickets that name no ward
        Scope(tenant, since=day, until=day),
        Scope(tenant, ward="w2", since=day),
        Scope(tenant, until=day - timedelta(days=1)),
        Scope(tenant, since=day + timedelta(days=1)),
        Scope(tenant, since=day.replace(day=1), until=day),
        Scope(tenant, since=day - timedelta(days=40), until=day + timedelta(days=40)),  # whole months and days at the edges
        Scope(tenant, ward="w1", until=day + timedelta(days=400)),
    ]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=history_strategy)
def test_the_figures_kept_incrementally_equal_the_figures_worked_out_from_the_events(app, engine, projected, history):
    tenant = f"d{uuid.uuid4().hex[:12]}"
    played = History(app, tenant)
    played.setup(history["teams"], history["policies"])
    for step in (*history["openings"], *history["steps"]):
        played.play(step)
    projected()

    days = {load_ticket(app.repository, t).created_on.date() for t in played.tickets}
    for scope in scopes_of(tenant, days):
        assert_kept_equals_from_scratch(app, engine, played.tickets, scope)


# Rebuild


def dashboard_rows(engine) -> dict[str, list]:
    """Every row of the dashboard's tables but the marks of tenants waiting to be published."""
    tables = [table for table in LIVE.metadata.sorted_tables if table is not LIVE.dirty]
    with engine.connect() as conn:
        return {table.name: conn.execute(select(table).order_by(*table.primary_key.columns)).all() for table in tables}


def test_rebuilding_the_dashboard_gives_exactly_the_rows_the_live_projection_kept(app, engine, projected, tenant):
    played = History(app, tenant, strict=True)
    played.setup([False, True], [{"categories": ["roads"], "response_hours": 1, "resolution_hours": 8}])
    steps = [
        ("open", "roads", "w1", "high", False),
        ("open", "roads", "w1", "low", False),
        ("open", "water", "w2", "medium", False),
        ("open", "roads", None, "medium", True),
        ("status", 0, [0]),  # open -> in_progress
        ("reply", 1, "public"),
        ("reply", 2, "internal"),
        ("assign", 0, 0),
        ("assign", 1, 0),
        ("assign", 3, 1),  # the sensitive ticket, to the restricted team
        ("breach", 1, "resolution"),  # escalates it
        ("status", 1, [1, 1]),  # escalated -> resolved -> in_progress: reopened, its resolution clock restarts
        ("category", 2, "roads"),  # a policy now applies: deadlines set
        ("breach", 2, "response"),
        ("restrict", 0, True),  # the team's tickets leave every figure...
        ("restrict", 0, False),  # ...and come back
        ("status", 0, [1]),
        ("archive", 2),
    ]
    for step in steps:
        played.play(step)
    projected()
    live = dashboard_rows(engine)
    assert any(row.tenant == tenant for row in live[LIVE.facts.name])

    rebuild(app, "dashboard")

    assert dashboard_rows(engine) == live
    assert_kept_equals_from_scratch(app, engine, played.tickets, Scope(tenant))


# Over HTTP


def get(client, view: str, headers: dict[str, str], **params: Any):
    return client.get(f"{DASHBOARD}/{view}", params={k: v for k, v in params.items() if v is not None}, headers=headers)


def figures(client, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    answers = {view: get(client, view, headers, **params) for view in VIEWS}
    for view, response in answers.items():
        assert response.status_code == 200, (view, response.text)
    return {view: response.json() for view, response in answers.items()}


@pytest.fixture
def city(app, tenant, projected):
    """A small history: four tickets that count in two wards and one with no ward, over two teams."""
    played = History(app, tenant, strict=True)
    played.setup([False, False, True], [{"categories": ["roads"], "response_hours": 1, "resolution_hours": 48}])
    names = {}
    for name, step in {
        "pothole": ("open", "roads", "w1", "high", False),
        "crack": ("open", "roads", "w1", "low", False),
        "leak": ("open", "water", "w2", "medium", False),
        "sinkhole": ("open", "roads", "w2", "urgent", False),
        "lamp": ("open", "lighting", None, "low", False),
    }.items():
        played.play(step)
        names[name] = len(played.tickets) - 1
    for step in [
        ("status", names["pothole"], [0]),  # in_progress, by an agent: responded
        ("assign", names["pothole"], 0),
        ("status", names["crack"], [0]),
        ("status", names["crack"], [1]),  # in_progress -> resolved
        ("assign", names["crack"], 0),
        ("breach", names["sinkhole"], "response"),  # escalates it, by the system: no response
        ("breach", names["sinkhole"], "resolution"),
        ("assign", names["sinkhole"], 1),
        ("reply", names["leak"], "internal"),  # an internal note is no response
        ("reply", names["lamp"], "public"),
    ]:
        played.play(step)
    projected()
    assert load_ticket(app.repository, played.tickets[names["crack"]]).status == "resolved"
    assert load_ticket(app.repository, played.tickets[names["sinkhole"]]).sla_breached == {"response", "resolution"}
    played.names = names
    return played


def test_each_dashboard_endpoint_answers_the_figures_of_a_small_history(client, auth, city, app):
    team_0, team_1 = (str(t) for t in city.teams[:2])
    assert figures(client, auth("manager")) == {
        "metrics": {"total_open": 4, "total_resolved": 1, "sla_compliance_percent": 66.67, "avg_response_hours": 0.0, "sla_breaches": 2},
        "volume": [
            {"category": "lighting", "open": 1, "resolved": 0},
            {"category": "roads", "open": 2, "resolved": 1},
            {"category": "water", "open": 1, "resolved": 0},
        ],
        "sla": {
            "response_compliance_percent": 66.67,
            "resolution_compliance_percent": 66.67,
            "total_with_sla": 3,
            "response_breaches": 1,
            "resolution_breaches": 1,
        },
        "workload": [
            {"team_id": team_0, "team_name": "Team 0", "open_count": 1, "total_count": 2},
            {"team_id": team_1, "team_name": "Team 1", "open_count": 1, "total_count": 1},
        ],
    }


def test_a_ward_and_a_date_range_narrow_every_figure(client, auth, city, app):
    today = load_ticket(app.repository, city.tickets[0]).created_on.date()
    manager = auth("manager")
    w1 = figures(client, manager, ward="w1")
    assert w1["metrics"] == {
        "total_open": 1,
        "total_resolved": 1,
        "sla_compliance_percent": 100.0,
        "avg_response_hours": 0.0,
        "sla_breaches": 0,
    }
    assert w1["volume"] == [{"category": "roads", "open": 1, "resolved": 1}]
    assert w1["sla"]["total_with_sla"] == 2
    assert [(w["team_name"], w["open_count"], w["total_count"]) for w in w1["workload"]] == [("Team 0", 1, 2)]
    w2 = figures(client, manager, ward="w2")
    assert w2["metrics"] == {
        "total_open": 2,
        "total_resolved": 0,
        "sla_compliance_percent": 0.0,
        "avg_response_hours": None,
        "sla_breaches": 2,
    }
    assert [(w["team_name"], w["total_count"]) for w in w2["workload"]] == [("Team 1", 1)]

    assert figures(client, manager, **{"from": today.isoformat(), "to": today.isoformat()}) == figures(client, manager)
    nothing = {
        "metrics": {"total_open": 0, "total_resolved": 0, "sla_compliance_percent": None, "avg_response_hours": None, "sla_breaches": 0},
        "volume": [],
        "sla": {
            "response_compliance_percent": None,
            "resolution_compliance_percent": None,
            "total_with_sla": 0,
            "response_breaches": 0,
            "resolution_breaches": 0,
        },
        "workload": [],
    }
    assert figures(client, manager, **{"from": (today + timedelta(days=1)).isoformat()}) == nothing
    assert figures(client, manager, **{"to": (today - timedelta(days=1)).isoformat()}) == nothing
    assert figures(client, manager, ward="w1", **{"from": today.isoformat()})["metrics"] == w1["metrics"]
    assert figures(client, manager, ward="w9") == nothing


def test_the_http_figures_equal_the_figures_worked_out_from_the_events(client, auth, city, app, engine):
    for params, scope in [({}, Scope(city.tenant)), ({"ward": "w2"}, Scope(city.tenant, ward="w2"))]:
        want = expected_figures(in_scope(counted_tickets(app, city.tickets), scope))
        assert figures(client, auth("manager"), **params) == want


def test_a_sensitive_ticket_a_restricted_teams_ticket_an_archived_one_and_another_tenants_change_no_figure(
    client, auth, city, app, projected, actor
):
    before = figures(client, auth("manager"))
    restricted = city.teams[2]
    sensitive = len(city.tickets)
    for step in [
        ("open", "roads", "w1", "high", True),
        ("status", sensitive, [0]),  # by a liaison officer
        ("reply", sensitive, "public"),
        ("assign", sensitive, 2),  # by an administrator; a restricted team is the only kind it may go to
        ("breach", sensitive, "resolution"),
        ("open", "water", "w2", "low", False),
        ("status", sensitive + 1, [1]),
        ("open", "lighting", "w1", "low", False),
        ("status", sensitive + 2, [0]),
    ]:
        city.play(step)
    assign_ticket(app, no_workload, AssignTicket(actor=city.admin, ticket_id=city.tickets[sensitive + 1], team_id=restricted))
    archive_ticket(app, ArchiveTicket(actor=city.admin, ticket_id=city.tickets[sensitive + 2]))
    outsider = actor("reporter", "r-out", tenant_=f"x{uuid.uuid4().hex[:10]}")
    other = open_ticket(app, OpenTicket(actor=outsider, title="Elsewhere", description="d", category="roads", ward="w1"))
    change_status(app, ChangeStatus(actor=actor("manager", tenant_=outsider.tenant), ticket_id=other.id, status="in_progress"))
    projected()

    sensitive_ticket = load_ticket(app.repository, city.tickets[sensitive])
    assert (sensitive_ticket.is_sensitive, sensitive_ticket.team_id, sensitive_ticket.sla_breached) == (
        True,
        str(restricted),
        {"resolution"},
    )
    assert load_ticket(app.repository, city.tickets[sensitive + 1]).team_id == str(restricted)
    assert load_ticket(app.repository, city.tickets[sensitive + 2]).archived
    assert figures(client, auth("manager")) == before
    assert figures(client, auth("admin")) == before
    assert figures(client, auth("manager", tenant_=outsider.tenant))["metrics"]["total_open"] == 1


def test_a_ward_councillor_sees_only_their_own_ward_whatever_they_ask_for(client, auth, city):
    manager = auth("manager")
    councillor = auth("ward_councillor", ward="w1")
    assert figures(client, councillor) == figures(client, manager, ward="w1")
    assert figures(client, councillor, ward="w2") == figures(client, manager, ward="w1")
    assert figures(client, councillor, ward="") == figures(client, manager, ward="w1")


def test_a_ward_councillor_whose_token_names_no_ward_is_refused_rather_than_shown_the_tickets_without_a_ward(client, auth, city):
    for view in VIEWS:
        response = get(client, view, auth("ward_councillor"))
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "no_ward"


@pytest.mark.parametrize("role", ["reporter", "liaison"])
def test_reporters_and_liaison_officers_may_not_read_the_dashboard(client, auth, role):
    for view in VIEWS:
        response = get(client, view, auth(role))
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "role_not_allowed"


@pytest.mark.parametrize("role", ["agent", "manager", "admin", "auditor"])
def test_the_roles_that_run_the_ordinary_work_read_the_dashboard(client, auth, role):
    for view in VIEWS:
        assert get(client, view, auth(role)).status_code == 200


def test_a_range_that_ends_before_it_starts_is_refused(client, auth):
    for view in VIEWS:
        response = get(client, view, auth("manager"), **{"from": "2024-05-02", "to": "2024-05-01"})
        assert response.status_code == 400, response.text
        assert (response.json()["code"], response.json().get("field")) == ("bad_range", "from")


@pytest.mark.parametrize("bad", [{"from": "2024-13-01"}, {"to": "yesterday"}, {"from": "2024-05-01T10:00:00Z"}])
def test_a_date_that_is_not_a_day_is_refused(client, auth, bad):
    for view in VIEWS:
        response = get(client, view, auth("manager"), **bad)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["code"] == "invalid_date" and body["message"].strip()
        assert body.get("field") == next(iter(bad)), body


def test_the_dashboard_needs_a_token(client):
    assert client.get(f"{DASHBOARD}/metrics").status_code == 401


# Publishing to NATS


def test_figures_that_failed_to_reach_nats_are_published_on_a_later_round(app, engine, projected, tenant, nats_url):
    played = History(app, tenant, strict=True)
    played.play(("open", "roads", "w1", "low", False))
    projected()

    async def rounds() -> dict[str, Any]:
        client = await nats.connect(nats_url)
        try:
            js = client.jetstream()
            kv = await dashboard_bucket(js)
            await js.delete_key_value(BUCKET)  # NATS loses the bucket under the publisher's feet
            with pytest.raises(nats.errors.Error):
                await publish_dirty(kv, engine)
            kv = await dashboard_bucket(js)
            assert tenant in await publish_dirty(kv, engine)
            return msgspec.json.decode((await kv.get(f"{tenant}.dashboard.metrics")).value)
        finally:
            await client.close()

    assert asyncio.run(rounds())["total_open"] == 1


def test_renaming_a_team_that_holds_tickets_publishes_the_workload_under_its_new_name(app, engine, projected, tenant, nats_url):
    played = History(app, tenant, strict=True)
    played.setup([False], [])
    played.play(("open", "roads", "w1", "low", False))
    played.play(("assign", 0, 0))
    projected()

    async def publish_round() -> list[dict[str, Any]]:
        client = await nats.connect(nats_url)
        try:
            kv = await dashboard_bucket(client.jetstream())
            await publish_dirty(kv, engine)
            return msgspec.json.decode((await kv.get(f"{tenant}.dashboard.workload")).value)
        finally:
            await client.close()

    assert [w["team_name"] for w in asyncio.run(publish_round())] == ["Team 0"]
    change_team(app, ChangeTeam(actor=played.admin, team_id=played.teams[0], changes={"name": "Road crew"}), played.holds_sensitive)
    projected()
    assert [w["team_name"] for w in asyncio.run(publish_round())] == ["Road crew"]
