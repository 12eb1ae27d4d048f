"""Team and routing-rule use cases."""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from commands.app import Docket, tenant_aggregate
from commands.runner import Unit
from commands.structs import AddMember, ChangeTeam, CreateTeam, RemoveMember, RoutingRulesSaved, SetRoutingRules, TeamSaved
from domain.errors import NotFound, Refused
from domain.routing import RoutingRules
from domain.team import Team

log = logging.getLogger(__name__)

# Whether a team holds open sensitive tickets, from the read model; injected by the composition root.
SensitiveHolding = Callable[[str, str], bool]


def create_team(app: Docket, cmd: CreateTeam) -> TeamSaved:
    fields = {name: getattr(cmd, name) for name in ("name", "categories", "wards", "is_restricted", "capacity", "strategy")}

    def decide(unit: Unit) -> Team:
        team = Team.create(cmd.actor, **fields)
        unit.save(team)
        return team

    def created(team: Team, notification_id: int | None) -> TeamSaved:
        log.info("tenant %s created team %s (%s)", team.tenant, team.name, team.id)
        return _saved(team, notification_id)

    return app.commands.run(decide, created)


def change_team(app: Docket, cmd: ChangeTeam, holds_sensitive: SensitiveHolding) -> TeamSaved:
    def change(team: Team) -> None:
        if cmd.changes.get("is_restricted") is False and team.is_restricted and holds_sensitive(team.tenant, str(team.id)):
            raise Refused(
                f"Team {team.name} holds open sensitive tickets; reassign them to a restricted team before lifting its restriction.",
                code="team_holds_sensitive_tickets",
                field="is_restricted",
            )
        team.change(cmd.actor, cmd.changes)

    return _run_team_command(app, cmd.team_id, cmd.actor.tenant, change)


def add_member(app: Docket, cmd: AddMember) -> TeamSaved:
    def add(team: Team) -> None:
        team.add_member(cmd.actor, cmd.user_id, cmd.display_name, cmd.role, phone=cmd.phone, email=cmd.email)

    return _run_team_command(app, cmd.team_id, cmd.actor.tenant, add)


def remove_member(app: Docket, cmd: RemoveMember) -> TeamSaved:
    return _run_team_command(app, cmd.team_id, cmd.actor.tenant, lambda t: t.remove_member(cmd.actor, cmd.user_id))


def set_routing_rules(app: Docket, cmd: SetRoutingRules) -> RoutingRulesSaved:
    named = {str(r.get("team_id")) for r in cmd.rules} | ({cmd.fallback_team_id} if cmd.fallback_team_id else set())

    def decide(unit: Unit) -> RoutingRules:
        rules = tenant_aggregate(unit, RoutingRules, cmd.actor.tenant)
        teams = {team_id for team_id in named if _team_or_none(unit, team_id, cmd.actor.tenant) is not None}
        rules.replace(cmd.actor, cmd.rules, cmd.fallback_team_id, teams)
        unit.save(rules)
        return rules

    def saved(rules: RoutingRules, notification_id: int | None) -> RoutingRulesSaved:
        log.info("tenant %s set routing rules version %s", rules.tenant, rules.version_number)
        return RoutingRulesSaved(version=rules.version_number, notification_id=notification_id)

    return app.commands.run(decide, saved)


def load_team(unit: Unit, team_id: UUID | str, tenant: str) -> Team:
    """The tenant's team; another tenant's team does not exist for the caller."""
    team = _team_or_none(unit, team_id, tenant)
    if team is None:
        raise NotFound(f"No team {team_id} exists.", code="unknown_team", field="team_id")
    return team


def _team_or_none(unit: Unit, team_id: UUID | str, tenant: str) -> Team | None:
    try:
        team = unit.get_config(UUID(str(team_id)))
    except (AggregateNotFoundError, ValueError):
        return None
    return team if isinstance(team, Team) and team.tenant == tenant else None


def _run_team_command(app: Docket, team_id: UUID | str, tenant: str, act: Callable[[Team], None]) -> TeamSaved:
    def decide(unit: Unit) -> Team:
        team = load_team(unit, team_id, tenant)
        act(team)
        unit.save(team)
        return team

    return app.commands.run(decide, _saved)


def _saved(team: Team, notification_id: int | None) -> TeamSaved:
    return TeamSaved(id=team.id, version=team.version, notification_id=notification_id)
