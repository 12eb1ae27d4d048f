"""Teams, their members, and the tenant's routing rules."""

from __future__ import annotations

from uuid import UUID

import msgspec
from litestar import Controller, delete, get, patch, post, put
from litestar.params import FromPath, JSONBody

from api.schemas import MemberBody, NewTeam, RoutingRulesBody, TeamEdit
from api.tickets import Caller, Used
from commands.structs import AddMember, ChangeTeam, CreateTeam, RemoveMember, RoutingRulesSaved, SetRoutingRules, TeamSaved
from commands.teams import add_member, change_team, create_team, remove_member, set_routing_rules
from projections.team_queries import RoutingRulesView, TeamView, current_routing_rules, get_team, list_teams

TeamId = FromPath[UUID]


class TeamController(Controller):
    path = "/api/v1/teams"
    tags = ["teams"]

    @get("/", operation_id="listTeams", summary="The tenant's teams with their members")
    async def list(self, actor: Caller, services: Used) -> list[TeamView]:
        return await services.reads.run(list_teams, actor)

    @post("/", operation_id="createTeam", summary="Create a team (admin)", sync_to_thread=True)
    def create(self, data: JSONBody[NewTeam], actor: Caller, services: Used) -> TeamSaved:
        return create_team(services.app, CreateTeam(actor=actor, **msgspec.structs.asdict(data)))

    @get("/{team_id:uuid}", operation_id="getTeam", summary="One team")
    async def detail(self, team_id: TeamId, actor: Caller, services: Used) -> TeamView:
        return await services.reads.run(get_team, actor, team_id)

    @patch("/{team_id:uuid}", operation_id="changeTeam", summary="Change a team (admin)", sync_to_thread=True)
    def change(self, team_id: TeamId, data: JSONBody[TeamEdit], actor: Caller, services: Used) -> TeamSaved:
        return change_team(services.app, ChangeTeam(actor=actor, team_id=team_id, changes=data.changes()), services.holds_sensitive)

    @put(
        "/{team_id:uuid}/members/{user_id:str}", operation_id="putTeamMember", summary="Add or update a member (admin)", sync_to_thread=True
    )
    def put_member(self, team_id: TeamId, user_id: FromPath[str], data: JSONBody[MemberBody], actor: Caller, services: Used) -> TeamSaved:
        details = {"display_name": data.display_name, "role": data.role, "phone": data.phone, "email": data.email}
        command = AddMember(actor=actor, team_id=team_id, user_id=user_id, **details)
        return add_member(services.app, command)

    @delete(
        "/{team_id:uuid}/members/{user_id:str}",
        operation_id="removeTeamMember",
        summary="Remove a member (admin)",
        status_code=200,
        sync_to_thread=True,
    )
    def remove_member(self, team_id: TeamId, user_id: FromPath[str], actor: Caller, services: Used) -> TeamSaved:
        return remove_member(services.app, RemoveMember(actor=actor, team_id=team_id, user_id=user_id))


class RoutingRulesController(Controller):
    path = "/api/v1/routing-rules"
    tags = ["teams"]

    @get("/", operation_id="getRoutingRules", summary="The tenant's routing rules, in order, at their latest version")
    async def detail(self, actor: Caller, services: Used) -> RoutingRulesView:
        return await services.reads.run(current_routing_rules, actor)

    @put("/", operation_id="setRoutingRules", summary="Replace the routing rules: a new version (admin)", sync_to_thread=True)
    def replace(self, data: JSONBody[RoutingRulesBody], actor: Caller, services: Used) -> RoutingRulesSaved:
        fallback = str(data.fallback_team_id) if data.fallback_team_id else None
        return set_routing_rules(services.app, SetRoutingRules(actor=actor, rules=data.as_dicts(), fallback_team_id=fallback))
