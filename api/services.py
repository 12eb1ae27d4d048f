"""What the API's handlers are given: built once by the composition root."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from api.auth import TokenVerifier
from api.dashboard_feed import DashboardFeed
from api.limits import Limits
from api.sign_in import IdentityProvider
from commands.app import Docket
from commands.attachments import AttachmentRules, BlobStore
from projections.reading import Reads
from projections.row_security import as_docket
from projections.team_queries import holds_sensitive, open_counts, teams_of_member


@dataclass(frozen=True)
class Services:
    app: Docket
    engine: Engine
    tokens: TokenVerifier
    blobs: BlobStore
    attachment_rules: AttachmentRules = AttachmentRules()
    limits: Limits = Limits()
    metrics_dir: str | None = None  # where the API processes' command metrics are kept, when several share them
    nats_url: str | None = None  # servers that /health/ready checks answer (comma-separated); None: not checked
    webhook_allow_private: bool = False  # DOCKET_WEBHOOK_ALLOW_PRIVATE: webhooks may point at private addresses
    read_wait: float = 5.0  # DOCKET_READ_WAIT: seconds a read given `after` waits for its read models (api/consistency.py)
    identity_provider: IdentityProvider | None = None  # where the operations page signs people in; None: tokens are pasted
    # Tells the dashboard's streams when figures change; with no NATS to watch, never (they send on connecting).
    dashboard_feed: DashboardFeed = field(default_factory=lambda: DashboardFeed(None))
    reads: Reads = field(init=False)  # the handlers' reads, on the event loop, on the engine's database

    def __post_init__(self) -> None:
        object.__setattr__(self, "reads", Reads(self.engine.url, self.limits.db_timeout))

    # The command side's questions to the read model count every ticket, whoever asks.

    def holds_sensitive(self, tenant: str, team_id: str) -> bool:
        with as_docket():
            return holds_sensitive(self.engine, tenant, team_id)

    def member_teams(self, tenant: str, user_id: str) -> list[str]:
        """The teams a person is a member of, for assigning a ticket to the person alone."""
        with as_docket():
            return teams_of_member(self.engine, tenant, user_id)

    def workload(self, tenant: str, users: Sequence[str]) -> Mapping[str, int]:
        """Open tickets per user, for least-open routing and team capacities."""
        with as_docket():
            return open_counts(self.engine, tenant, users)
