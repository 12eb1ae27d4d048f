from __future__ import annotations

from domain.permissions import Actor, Role
from domain.ticket import Ticket
from domain.workflow import MUNICIPAL, Workflow

TENANT = "city"


def actor(role: str = "manager", sub: str | None = None, tenant: str = TENANT) -> Actor:
    """A caller. An agent here reads the whole tenant: these tests are of what staff do to a
    ticket; what an agent's reading reaches has its own tests (test_agent_scope.py)."""
    return Actor(id=sub or f"{role}-1", tenant=tenant, role=Role(role), agent_scope="all")


def new_ticket(workflow: Workflow = MUNICIPAL, **overrides) -> Ticket:
    details = {
        "title": "Pothole on Main St",
        "description": "Deep enough to lose a wheel",
        "category": "roads",
        "priority": "high",
        "ward": "ward-7",
        "location": {"lat": -33.9, "lon": 18.4},
    }
    details.update(overrides)
    return Ticket.open(actor("reporter", "citizen-1"), "TKT-000001", workflow, **details)


def replayed(ticket: Ticket, events: list) -> Ticket:
    """The aggregate rebuilt from its events alone, as the repository does."""
    aggregate = None
    for domain_event in events:
        aggregate = domain_event.mutate(aggregate)
    assert aggregate is not None and aggregate.id == ticket.id
    return aggregate
