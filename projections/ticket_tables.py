"""The tables of the `tickets` read model: tickets, their history, replies, attachments and
assignments; each tenant's workflows, settings, teams and routing rules."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR

# What search reads: the tracking number, title and description; of a sensitive ticket only its
# tracking number, for its words rest sealed and must not be found by words (nor by fragments of
# the sealed text). 'simple' keeps words as they are, whatever the language of the city or the customer.
SEARCH_TEXT = "(CASE WHEN is_sensitive THEN tracking_number ELSE tracking_number || ' ' || title || ' ' || description END)"
SEARCHABLE = f"to_tsvector('simple', {SEARCH_TEXT})"
# Parts of words and numbers (`00012`, `pothol`) are found through trigrams (pg_trgm): an index
# made only where the extension can be created (projections/sql.py create_indexes says so in the log).
TRIGRAM_EXTENSION = "pg_trgm"


@dataclass(frozen=True)
class TicketTables:
    suffix: str
    metadata: MetaData
    tickets: Table
    history: Table
    replies: Table
    attachments: Table
    workflows: Table
    tenant_settings: Table
    assignments: Table
    teams: Table
    routing_rules: Table
    sla_policies: Table


def ticket_tables(suffix: str = "") -> TicketTables:
    """The tables, under names with `suffix` so that a rebuild can fill a copy beside the live ones."""
    metadata = MetaData()
    return TicketTables(
        suffix,
        metadata,
        tickets=_tickets(metadata, f"tickets{suffix}"),
        history=_history(metadata, f"ticket_history{suffix}"),
        replies=_replies(metadata, f"ticket_replies{suffix}"),
        attachments=_attachments(metadata, f"ticket_attachments{suffix}"),
        workflows=_workflows(metadata, f"workflows{suffix}"),
        tenant_settings=_tenant_settings(metadata, f"tenant_settings{suffix}"),
        assignments=_assignments(metadata, f"ticket_assignments{suffix}"),
        teams=_teams(metadata, f"teams{suffix}"),
        routing_rules=_routing_rules(metadata, f"routing_rules{suffix}"),
        sla_policies=_sla_policies(metadata, f"sla_policies{suffix}"),
    )


def _tickets(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Uuid, nullable=False),
        Column("tenant", Text, nullable=False),
        Column("tracking_number", Text, nullable=False),
        Column("workflow", Text, nullable=False),
        Column("workflow_version", Integer, nullable=False),
        Column("status", Text, nullable=False),
        Column("status_category", Text, nullable=False),
        Column("title", Text, nullable=False),
        Column("description", Text, nullable=False),
        Column("category", Text, nullable=False),
        Column("priority", Text, nullable=False),
        Column("severity", Text),
        Column("ticket_type", Text),
        Column("ward", Text),
        Column("lat", Double),
        Column("lon", Double),
        Column("sealed_location", Text),  # a sensitive ticket's location, sealed (commands/sealing.py); its lat and lon stay null
        Column("address", Text),
        Column("reporter_id", Text, nullable=False),
        Column("reporter_name", Text),
        Column("reporter_phone", Text),
        Column("reporter_email", Text),
        Column("team_id", Text),
        Column("team_name", Text),
        Column("assignee_id", Text),
        Column("assignee_name", Text),
        Column("accepted", Boolean, nullable=False),
        Column("tags", ARRAY(Text), nullable=False),
        Column("watchers", ARRAY(Text), nullable=False),
        Column("custom_fields", JSONB, nullable=False),
        Column("is_sensitive", Boolean, nullable=False),
        Column("archived", Boolean, nullable=False),
        Column("reply_count", Integer, nullable=False),
        Column("internal_note_count", Integer, nullable=False),
        Column("attachment_count", Integer, nullable=False),
        Column("reopen_count", Integer, nullable=False),
        Column("sla_policy_id", Text),
        Column("sla_policy_version", Integer),
        Column("response_due", DateTime(timezone=True)),
        Column("resolution_due", DateTime(timezone=True)),
        Column("response_warning_at", DateTime(timezone=True)),
        Column("resolution_warning_at", DateTime(timezone=True)),
        Column("response_met_at", DateTime(timezone=True)),
        Column("resolution_met_at", DateTime(timezone=True)),
        Column("response_breached", Boolean, nullable=False),
        Column("resolution_breached", Boolean, nullable=False),
        Column("sla_paused_at", DateTime(timezone=True)),
        Column("escalation_level", Integer, nullable=False),
        Column("escalation_reason", Text),
        Column("escalated_at", DateTime(timezone=True)),  # the latest escalation
        Column("completion_notes", Text),  # the latest given with a move (field service: on completing)
        Column("first_responded_at", DateTime(timezone=True)),
        Column("resolved_at", DateTime(timezone=True)),
        Column("closed_at", DateTime(timezone=True)),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("version", Integer, nullable=False),
        Column("search", TSVECTOR, Computed(SEARCHABLE, persisted=True)),
        PrimaryKeyConstraint("id", name=f"{name}_pkey"),
        Index(f"{name}_search", "search", postgresql_using="gin"),
        Index(
            f"{name}_search_trigram",
            text(f"{SEARCH_TEXT} gin_trgm_ops"),
            postgresql_using="gin",
            info={"extension": TRIGRAM_EXTENSION},
        ),
        Index(f"{name}_tenant_created", "tenant", "created_at", "id"),
        Index(f"{name}_tenant_status", "tenant", "status"),
        # Every column a list's total and the row policy read: the total is counted off the index
        # alone, not the wide rows (half the time where the table is vacuumed).
        Index(f"{name}_tenant_visible", "tenant", "archived", "is_sensitive", "reporter_id"),
        Index(f"{name}_tenant_tracking_number", "tenant", "tracking_number", unique=True),
        Index(f"{name}_tenant_assignee", "tenant", "assignee_id", "status_category"),
        Index(f"{name}_response_due", "response_due", postgresql_where="response_met_at IS NULL AND NOT response_breached"),
        Index(f"{name}_resolution_due", "resolution_due", postgresql_where="resolution_met_at IS NULL AND NOT resolution_breached"),
    )


def _history(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("ticket_id", Uuid, nullable=False),
        Column("version", Integer, nullable=False),
        Column("tenant", Text, nullable=False),
        Column("notification_id", BigInteger, nullable=False),
        Column("event", Text, nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("actor", Text, nullable=False),
        Column("role", Text, nullable=False),
        Column("changes", JSONB, nullable=False),
        Column("note", Text),
        Column("internal", Boolean, nullable=False),  # an internal note's entry: staff only
        Column("note_public", Boolean, nullable=False),  # the note is for the reporter too
        PrimaryKeyConstraint("ticket_id", "version", name=f"{name}_pkey"),
    )


def _replies(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Uuid, nullable=False),
        Column("ticket_id", Uuid, nullable=False),
        Column("tenant", Text, nullable=False),
        Column("author", Text, nullable=False),
        Column("role", Text, nullable=False),
        Column("body", Text, nullable=False),
        Column("internal", Boolean, nullable=False),
        Column("is_solution", Boolean, nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("version", Integer, nullable=False),
        PrimaryKeyConstraint("id", name=f"{name}_pkey"),
        Index(f"{name}_ticket", "ticket_id", "version"),
    )


def _attachments(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Uuid, nullable=False),
        Column("ticket_id", Uuid, nullable=False),
        Column("tenant", Text, nullable=False),
        Column("sha256", Text, nullable=False),
        Column("name", Text, nullable=False),
        Column("content_type", Text, nullable=False),
        Column("size", BigInteger, nullable=False),
        Column("kind", Text, nullable=False),
        Column("added_by", Text, nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("id", name=f"{name}_pkey"),
        Index(f"{name}_ticket", "ticket_id", "at"),
    )


def _workflows(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("tenant", Text, nullable=False),
        Column("name", Text, nullable=False),
        Column("version", Integer, nullable=False),
        Column("definition", JSONB, nullable=False),
        Column("defined_by", Text, nullable=False),
        Column("defined_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("tenant", "name", "version", name=f"{name}_pkey"),
    )


def _tenant_settings(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("tenant", Text, nullable=False),
        Column("default_workflow", Text),
        Column("reporter_reply_moves_ticket", Boolean, nullable=False),
        Column("auto_route_on_open", Boolean, nullable=False),
        Column("sensitive_categories", ARRAY(Text)),  # null: the default, domain.tenant.DEFAULT_SENSITIVE_CATEGORIES
        Column("agent_scope", Text),  # null: by the ticket's workflow, domain.tenant.agent_scope_of
        Column("updated_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("tenant", name=f"{name}_pkey"),
    )


def _assignments(metadata: MetaData, name: str) -> Table:
    """Every assignment step of a ticket: who gave it to which team and person, by which rule or reason."""
    return Table(
        name,
        metadata,
        Column("ticket_id", Uuid, nullable=False),
        Column("version", Integer, nullable=False),
        Column("tenant", Text, nullable=False),
        Column("event", Text, nullable=False),
        Column("team_id", Text),
        Column("team_name", Text),
        Column("assignee_id", Text),
        Column("assignee_name", Text),
        Column("rule", Text),
        Column("reason", Text),
        Column("actor", Text, nullable=False),
        Column("role", Text, nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("ticket_id", "version", name=f"{name}_pkey"),
    )


def _teams(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Uuid, nullable=False),
        Column("tenant", Text, nullable=False),
        Column("name", Text, nullable=False),
        Column("categories", ARRAY(Text), nullable=False),
        Column("wards", ARRAY(Text), nullable=False),
        Column("is_restricted", Boolean, nullable=False),
        Column("capacity", Integer),
        Column("strategy", Text, nullable=False),
        Column("members", JSONB, nullable=False),  # [{"user_id", "display_name", "role"}] in joining order
        Column("version", Integer, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("id", name=f"{name}_pkey"),
        Index(f"{name}_tenant_name", "tenant", "name"),
    )


def _routing_rules(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("tenant", Text, nullable=False),
        Column("version", Integer, nullable=False),
        Column("rules", JSONB, nullable=False),
        Column("fallback_team_id", Text),
        Column("set_by", Text, nullable=False),
        Column("set_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("tenant", "version", name=f"{name}_pkey"),
    )


def _sla_policies(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("tenant", Text, nullable=False),
        Column("version", Integer, nullable=False),
        Column("policies", JSONB, nullable=False),
        Column("set_by", Text, nullable=False),
        Column("set_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("tenant", "version", name=f"{name}_pkey"),
    )


LIVE = ticket_tables()
