"""The eventsourcing Application that stores Docket's events in PostgreSQL."""

from __future__ import annotations

from typing import TypeVar

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.utils import get_topic
from psycopg.conninfo import conninfo_to_dict

from domain.routing import RoutingRules
from domain.sla import SLAPolicies
from domain.team import Team
from domain.tenant import TenantConfig
from domain.ticket import Ticket
from domain.tracking import TrackingNumbers

TICKET_EVENTS = (
    "Opened", "StatusChanged", "ReplyAdded", "Edited", "Transferred", "Archived", "FieldRedacted", "AttachmentAdded",
    "Assigned", "AssignmentAccepted", "AssignmentRejected", "Unassigned",
    "SLADeadlinesSet", "SLAPaused", "SLAResumed", "SLAMet", "SLABreached", "Escalated",
)  # fmt: skip
TICKET_TOPICS = tuple(get_topic(getattr(Ticket, name)) for name in TICKET_EVENTS)
CONFIG_TOPICS = tuple(get_topic(getattr(TenantConfig, name)) for name in ("WorkflowDefined", "SettingsChanged"))
# RotationAdvanced changes no read model, but a round-robin assignment saves it after the ticket's
# events: were it left out, the projection's position would stop short of the command's last
# notification id, and whoever waits for the read model to reach that id would wait for ever.
TEAM_TOPICS = (
    *(get_topic(getattr(Team, name)) for name in ("TeamCreated", "TeamChanged", "MemberAdded", "MemberRemoved", "RotationAdvanced")),
    get_topic(RoutingRules.RulesReplaced),
    get_topic(SLAPolicies.PoliciesReplaced),
)


A = TypeVar("A", TrackingNumbers, TenantConfig, RoutingRules, SLAPolicies)


class Docket(Application):
    """Events go to the table `docket_events`; each has a global notification id."""

    name = "Docket"
    # A tenant's counter gains an event per ticket and a team one per round-robin pick: loaded on
    # every open or assignment, they would get slower with age without snapshots.
    snapshotting_intervals = {TrackingNumbers: 100, Team: 100}


def eventsourcing_env(database_url: str, cipher_key: str) -> dict[str, str]:
    """eventsourcing's settings: the postgresql:// URL (host may be a socket directory) taken
    apart, and AES-GCM encryption of every stored event with `cipher_key` (base64, 32 bytes)."""
    info = conninfo_to_dict(database_url)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(info.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(info.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(info.get("port") or "5432"),
        "POSTGRES_USER": str(info.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(info.get("password") or ""),
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "8",
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": cipher_key,
    }
    return env


def tenant_aggregate(app: Docket, kind: type[A], tenant: str) -> A:
    """The tenant's one aggregate of this kind (its counter, configuration, rules, policies);
    a tenant that never had one gets a fresh one, saved with the first change to it."""
    try:
        return app.repository.get(kind.create_id(tenant))
    except AggregateNotFoundError:
        return kind(tenant=tenant)


def last_notification_id(recordings: list) -> int | None:
    """The global position of what a command recorded; None when it recorded nothing."""
    return max((r.notification.id for r in recordings), default=None)


def event_name(domain_event: object) -> str:
    return type(domain_event).__name__
