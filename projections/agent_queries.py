"""What an agent's reading reaches, from the read model: their teams and the tenant's agent_scope."""

from __future__ import annotations

from psycopg.types.json import Jsonb
from sqlalchemy import Text, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import JSONB

from projections.reading import Connectable
from projections.sql import Prepared
from projections.ticket_tables import LIVE

teams, settings = LIVE.teams, LIVE.tenant_settings

# Compiled once: built for each request, the statement cost more than running it.
_TEAM_IDS = select(func.array_agg(cast(teams.c.id, Text))).where(
    teams.c.tenant == bindparam("tenant"), teams.c.members.contains(bindparam("member", type_=JSONB))
)
_SCOPE = select(settings.c.agent_scope).where(settings.c.tenant == bindparam("tenant"))
REACH = Prepared(select(_TEAM_IDS.scalar_subquery().label("teams"), _SCOPE.scalar_subquery().label("scope")))


def agent_reach(engine: Connectable, tenant: str, user_id: str) -> tuple[frozenset[str], str | None]:
    """The ids of the teams the user is a member of, and the tenant's agent_scope, in one query."""
    with engine.connect() as conn:
        row = REACH.first(conn, tenant=tenant, member=Jsonb([{"user_id": user_id}]))
    assert row is not None  # a select of two subqueries has a row
    return frozenset(row["teams"] or ()), row["scope"]
