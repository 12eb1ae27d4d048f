"""Every way a ticket reaches a person (an assignment naming them, a transfer, field service's move
to `assigned`) goes through the same checks, for random teams, members, tickets and paths.

The oracle restates the rule in plain terms: the ticket's team may hold it (a sensitive ticket only
a restricted team), the person is a member of that team, and their role may read the ticket
(sensitive: liaison or admin; ordinary: anyone but the liaison). A refusal is a 409 that names the
rule and changes nothing."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.assignments import assign_ticket
from commands.loading import load_ticket
from commands.structs import AddMember, AssignTicket, ChangeStatus, CreateTeam, OpenTicket, TransferTicket
from commands.teams import add_member, create_team
from commands.tickets import change_status, open_ticket, transfer_ticket
from domain.errors import Refused
from domain.permissions import Actor, Role

MEMBER_ROLES = ["agent", "manager", "liaison", "admin"]
READS_SENSITIVE = {"liaison", "admin"}


def no_workload(tenant, users):
    return {}


case = st.fixed_dictionaries(
    {
        "restricted": st.booleans(),
        "sensitive": st.booleans(),
        "members": st.lists(st.sampled_from(MEMBER_ROLES), min_size=1, max_size=3),
        "candidate": st.integers(0, 3),  # a member by position, or (past the last) a stranger
        "path": st.sampled_from(["assign", "person", "transfer", "move"]),
    }
)


def allowed(c) -> str | None:
    """None when the candidate may be given the ticket, else the code of the rule that refuses."""
    if c["sensitive"] and not c["restricted"]:
        return "team_not_restricted"
    if c["candidate"] >= len(c["members"]):
        return "not_a_member"
    role = c["members"][c["candidate"]]
    may_read = role in READS_SENSITIVE if c["sensitive"] else role != "liaison"
    return None if may_read else "assignee_may_not_read"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(c=case)
def test_every_path_to_a_person_checks_the_same_rule(app, c):
    tenant = f"p{uuid.uuid4().hex[:10]}"
    admin = Actor(id="admin-0", tenant=tenant, role=Role.ADMIN)
    team = create_team(app, CreateTeam(actor=admin, name="Team", is_restricted=c["restricted"], strategy="none")).id
    for i, role in enumerate(c["members"]):
        add_member(app, AddMember(actor=admin, team_id=team, user_id=f"m{i}", display_name=f"Member {i}", role=role))
    candidate = f"m{c['candidate']}"
    reporter = Actor(id="r", tenant=tenant, role=Role.REPORTER)
    opened = open_ticket(
        app, OpenTicket(actor=reporter, title="t", description="d", category="water", workflow="field_service", is_sensitive=c["sensitive"])
    )
    if c["path"] != "assign" and not (c["sensitive"] and not c["restricted"]):
        assign_ticket(app, no_workload, AssignTicket(actor=admin, ticket_id=opened.id, team_id=team))  # to the team's queue
    before = load_ticket(app.repository, opened.id).version
    give = {
        "assign": lambda: assign_ticket(
            app, no_workload, AssignTicket(actor=admin, ticket_id=opened.id, team_id=team, assignee_id=candidate)
        ),
        # the person alone: the team holding the ticket, or (the read model says) their team
        "person": lambda: assign_ticket(
            app, no_workload, AssignTicket(actor=admin, ticket_id=opened.id, assignee_id=candidate), lambda t, u: [str(team)]
        ),
        "transfer": lambda: transfer_ticket(app, TransferTicket(actor=admin, ticket_id=opened.id, assignee_id=candidate)),
        "move": lambda: change_status(
            app, ChangeStatus(actor=admin, ticket_id=opened.id, status="assigned", fields={"assignee_id": candidate})
        ),
    }[c["path"]]
    refusal = allowed(c)
    if c["path"] == "person" and refusal == "team_not_restricted":
        refusal = "no_team_for_assignee"  # the person's one team may not hold it, and no team holds it
    elif c["path"] != "assign" and refusal == "team_not_restricted":
        refusal = "no_team"  # the sensitive ticket could never be given to the team in the first place
    if refusal is None:
        give()
        assert load_ticket(app.repository, opened.id).assignee_id == candidate
        return
    with pytest.raises(Refused) as refused:
        give()
    assert refused.value.code == refusal, c
    assert load_ticket(app.repository, opened.id).version == before  # a refused command changes nothing
