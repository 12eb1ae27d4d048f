"""What an agent's reading reaches, from the read model: their teams and the tenant's setting."""

from __future__ import annotations

from sqlalchemy import Text, cast, func, select

from projections.reading import Connectable
from projections.ticket_tables import LIVE

teams, settings = LIVE.teams, LIVE.tenant_settings


def agent_reach(engine: Connectable, tenant: str, user_id: str) -> tuple[frozenset[str], str | None]:
    """The ids of the teams the user is a member of, and the tenant's agent_scope, in one query."""
    member = teams.c.members.contains([{"user_id": user_id}])
    team_ids = select(func.array_agg(cast(teams.c.id, Text))).where(teams.c.tenant == tenant, member).scalar_subquery()
    scope = select(settings.c.agent_scope).where(settings.c.tenant == tenant).scalar_subquery()
    with engine.connect() as conn:
        row = conn.execute(select(team_ids.label("teams"), scope.label("scope"))).one()
    return frozenset(row.teams or ()), row.scope
