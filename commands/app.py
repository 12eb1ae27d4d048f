"""The eventsourcing Application that stores Docket's events in PostgreSQL."""

from __future__ import annotations

import dataclasses
import inspect
import math
from functools import lru_cache
from typing import Any, TypeVar

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder, Mapper, Transcoder, Transcoding
from eventsourcing.utils import get_topic
from psycopg.conninfo import conninfo_to_dict

from commands import sealing
from commands.config_cache import ConfigCache
from commands.numbers import TrackingNumberBlocks
from commands.personal_data import PersonalDataMapper, TicketKeys
from commands.protocol_checks import cache_protocol_members
from commands.recent_events import RecentEvents
from commands.runner import MAX_BATCH, MAX_WAIT, MAX_WAITING, TIMEOUT, CommandRunner, Unit
from commands.transcoding import MsgspecJSONTranscoder
from domain.ids import TENANTS_KEPT
from domain.notification_rules import NotificationRules
from domain.routing import RoutingRules
from domain.sla import SLAPolicies
from domain.team import Member, Team
from domain.tenant import TenantConfig
from domain.ticket import Ticket

cache_protocol_members()  # every process that stores or replays events imports this module


def event_names(aggregate: type[Aggregate]) -> tuple[str, ...]:
    """The events an aggregate class records, read from the class itself: every event class it
    holds, less the default `Created` that eventsourcing adds (each aggregate here names its own)."""
    return tuple(
        sorted(
            name
            for name, value in inspect.getmembers(aggregate, inspect.isclass)
            if issubclass(value, aggregate.Event) and value is not aggregate.Event and name != "Created"
        )
    )


def topics_of(*aggregates: type[Aggregate]) -> tuple[str, ...]:
    return tuple(get_topic(getattr(aggregate, name)) for aggregate in aggregates for name in event_names(aggregate))


# What the projections, the relay and the scheduler read. Every event of an aggregate counts, even
# one that changes no read model (a team's RotationAdvanced): a command's last notification id may
# be such an event, and whoever waits for a projection to reach it would otherwise wait for ever.
TICKET_EVENTS = event_names(Ticket)
TICKET_TOPICS = topics_of(Ticket)
CONFIG_TOPICS = topics_of(TenantConfig)
TEAM_TOPICS = topics_of(Team, RoutingRules, SLAPolicies)
# Read by the notifier through the configuration cache; no projection applies them.
NOTIFY_TOPICS = topics_of(NotificationRules)


A = TypeVar("A", TenantConfig, RoutingRules, SLAPolicies)


class MemberAsDict(Transcoding):
    type = Member
    name = "team_member"

    def encode(self, obj: Member) -> dict[str, str | None]:
        return dataclasses.asdict(obj)

    def decode(self, data: dict[str, str | None]) -> Member:
        return Member(**data)  # phone and email default for members stored before they had them


class Docket(Application):
    """Events go to the table `docket_events`; each has a global notification id. Commands reach
    it through `commands` (one unit of work, group commit); tracking numbers come from `numbers`."""

    name = "Docket"
    # A team gains an event per round-robin pick: loaded on every assignment, it would get slower
    # with age without snapshots.
    snapshotting_intervals = {Team: 100}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        max_batch: int = MAX_BATCH,
        max_wait: float = MAX_WAIT,
        max_waiting: int = MAX_WAITING,
        timeout: float = TIMEOUT,
    ) -> None:
        super().__init__(env)
        if cipher_key := self.env.get("CIPHER_KEY"):
            sealing.use_key(cipher_key)  # the read models seal sensitive tickets' text with a key made from it
        self.config = ConfigCache(self, CONFIG_TOPICS + TEAM_TOPICS + NOTIFY_TOPICS)
        self.commands = CommandRunner(self, self.config, max_batch=max_batch, max_wait=max_wait, max_waiting=max_waiting, timeout=timeout)
        self.numbers = TrackingNumberBlocks(self)

    def construct_mapper(self) -> Mapper:
        """Every event through PersonalDataMapper: a ticket's personal fields under its own key."""
        plain = super().construct_mapper()
        mapper = PersonalDataMapper(transcoder=plain.transcoder, compressor=plain.compressor, cipher=plain.cipher)
        mapper.keys = self.ticket_keys = TicketKeys(lambda: self.recorder.datastore, self.env.get("CIPHER_KEY") or "")
        mapper.recent = RecentEvents()
        return mapper

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Makes the keys of the tickets opening in this save before their events are mapped, and
        stores them in the events' transaction."""
        opening = [o.id for o in objs if isinstance(o, Ticket) and o.pending_events and isinstance(o.pending_events[0], Ticket.Opened)]
        if opening:
            kwargs["before_events"] = [*kwargs.get("before_events", ()), self.ticket_keys.fresh(opening)]
        return super().save(*objs, **kwargs)

    def construct_transcoder(self) -> Transcoder:
        transcoder = MsgspecJSONTranscoder()  # reads what eventsourcing's JSONTranscoder writes, faster
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(MemberAsDict())  # a team's snapshot holds its members

    def close(self) -> None:
        self.commands.close()
        self.config.close()
        super().close()


def eventsourcing_env(database_url: str, cipher_key: str, *, timeout: float = TIMEOUT, pool_size: int = 4) -> dict[str, str]:
    """eventsourcing's settings: the postgresql:// URL (host may be a socket directory) taken
    apart, and AES-GCM encryption of every stored event with `cipher_key` (base64, 32 bytes).
    Waits for a connection, for one to open and for the events table's lock end after `timeout`
    seconds (whole seconds, at least 2), and `pool_size` connections stay open (as many again
    and more open under load)."""
    info = conninfo_to_dict(database_url)
    seconds = str(max(math.ceil(timeout), 2))
    env = {
        "PERSISTENCE_MODULE": "commands.persistence:BoundedPostgresFactory",
        "POSTGRES_DBNAME": str(info.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(info.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(info.get("port") or "5432"),
        "POSTGRES_USER": str(info.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(info.get("password") or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(2 * pool_size),
        "POSTGRES_CONNECT_TIMEOUT": seconds,
        "POSTGRES_LOCK_TIMEOUT": seconds,
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": cipher_key,
        # Aggregates stay in memory; a command reads only the events stored since (fast-forward).
        "AGGREGATE_CACHE_MAXSIZE": "20000",
    }
    return env


def tenant_aggregate(unit: Unit, kind: type[A], tenant: str) -> A:
    """The tenant's one aggregate of this kind (its configuration, rules, policies), to change; a
    tenant that never had one gets a fresh one, saved with the first change to it."""
    try:
        return unit.get_config(kind.create_id(tenant))
    except AggregateNotFoundError:
        return kind(tenant=tenant)


def tenant_settings(unit: Unit, kind: type[A], tenant: str) -> A:
    """The tenant's one aggregate of this kind, to read and never to change: the cached one itself,
    not a copy (an opening reads two). A tenant that never had one reads the defaults, made once
    per process and tenant rather than for every command."""
    try:
        return unit.read_config(kind.create_id(tenant))
    except AggregateNotFoundError:
        return _defaults(kind, tenant)


@lru_cache(maxsize=TENANTS_KEPT)
def _defaults(kind: type[A], tenant: str) -> A:
    return kind(tenant=tenant)


def event_name(domain_event: object) -> str:
    return type(domain_event).__name__
