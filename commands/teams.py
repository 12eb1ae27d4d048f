"""Team and routing-rule use cases."""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from commands.app import Docket, last_notification_id, tenant_aggregate
from commands.structs import AddMember, ChangeTeam, CreateTeam, RemoveMember, RoutingRulesSaved, SetRoutingRules, TeamSaved
from domain.errors import NotFound, Refused, VersionConflict
from domain.routing import RoutingRules
from domain.team import Team

log = logging.getLogger(__name__)

# Whether a team holds open sensitive tickets, from the read model; injected by the composition root.
SensitiveHolding = Callable[[str, str], bool]


def create_team(app: Docket, cmd: CreateTeam) -> TeamSaved:
    fields = {name: getattr(cmd, name) for name in ("name", "categories", "wards", "is_restricted", "capacity", "strategy")}
    team = Team.create(cmd.actor, **fields)
    log.info("tenant %s created team %s (%s)", team.tenant, team.name, team.id)
    return _saved(app, team)


def change_team(app: Docket, cmd: ChangeTeam, holds_sensitive: SensitiveHolding) -> TeamSaved:
    team = load_team(app, cmd.team_id, cmd.actor.tenant)
    if cmd.changes.get("is_restricted") is False and team.is_restricted and holds_sensitive(team.tenant, str(team.id)):
        raise Refused(
            f"Team {team.name} holds open sensitive tickets; reassign them to a restricted team before lifting its restriction.",
            code="team_holds_sensitive_tickets",
            field="is_restricted",
        )
    team.change(cmd.actor, cmd.changes)
    return _saved(app, team)


def add_member(app: Docket, cmd: AddMember) -> TeamSaved:
    team = load_team(app, cmd.team_id, cmd.actor.tenant)
    team.add_member(cmd.actor, cmd.user_id, cmd.display_name, cmd.role)
    return _saved(app, team)


def remove_member(app: Docket, cmd: RemoveMember) -> TeamSaved:
    team = load_team(app, cmd.team_id, cmd.actor.tenant)
    team.remove_member(cmd.actor, cmd.user_id)
    return _saved(app, team)


def set_routing_rules(app: Docket, cmd: SetRoutingRules) -> RoutingRulesSaved:
    rules = tenant_aggregate(app, RoutingRules, cmd.actor.tenant)
    named = {str(r.get("team_id")) for r in cmd.rules} | ({cmd.fallback_team_id} if cmd.fallback_team_id else set())
    teams = {team_id for team_id in named if _team_or_none(app, team_id, cmd.actor.tenant) is not None}
    rules.replace(cmd.actor, cmd.rules, cmd.fallback_team_id, teams)
    recordings = _save(app, rules)
    log.info("tenant %s set routing rules version %s", rules.tenant, rules.version_number)
    return RoutingRulesSaved(version=rules.version_number, notification_id=last_notification_id(recordings))


def load_team(app: Docket, team_id: UUID | str, tenant: str) -> Team:
    """The tenant's team; another tenant's team does not exist for the caller."""
    team = _team_or_none(app, team_id, tenant)
    if team is None:
        raise NotFound(f"No team {team_id} exists.", code="unknown_team", field="team_id")
    return team


def _team_or_none(app: Docket, team_id: UUID | str, tenant: str) -> Team | None:
    try:
        team = app.repository.get(UUID(str(team_id)))
    except (AggregateNotFoundError, ValueError):
        return None
    return team if isinstance(team, Team) and team.tenant == tenant else None


def _saved(app: Docket, team: Team) -> TeamSaved:
    recordings = _save(app, team)
    return TeamSaved(id=team.id, version=team.version, notification_id=last_notification_id(recordings))


def _save(app: Docket, aggregate: Team | RoutingRules) -> list:
    try:
        return app.save(aggregate)
    except IntegrityError:
        raise VersionConflict("Someone else changed this at the same time; reload and retry.") from None
