"""The `tickets` read model: one row per ticket (its record, assignment and SLA clock), one per
event for its history, its replies, attachments and assignment steps; and each tenant's
workflows, settings, teams, routing rules and SLA policies.

A batch's events change rows in memory (projections/rows.py), each ticket's row read once and
written once however many of the batch's events change it."""

from __future__ import annotations

import json
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg import Cursor
from psycopg.types.json import Jsonb
from sqlalchemy import ARRAY, Text, func, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as upsert

from commands import sealing
from commands.app import CONFIG_TOPICS, TEAM_TOPICS, TICKET_TOPICS, event_name
from domain.permissions import STAFF
from domain.routing import RoutingRules
from domain.sla import SLAPolicies
from domain.team import Team
from domain.tenant import TenantConfig
from domain.ticket import ERASED, PERSONAL_FIELDS, Ticket
from domain.workflow import Category
from projections.base import TrackedProjection
from projections.rows import Row, RowWriter
from projections.ticket_tables import TicketTables, ticket_tables

# What the history shows of an opening; the workflow definition is kept on the event alone.
OPENED_FIELDS = (
    "tracking_number", "workflow", "workflow_version", "status", "title", "description", "category", "priority", "severity",
    "ticket_type", "reporter_id", "reporter_name", "reporter_phone", "reporter_email", "location", "address", "ward", "tags",
    "watchers", "custom_fields", "is_sensitive",
)  # fmt: skip
STAFF_ROLES = {role.value for role in STAFF}
REDACTED = "[redacted]"
UNSET = (None, [], {})  # an opening's field its history leaves out
# A sensitive ticket's words and the reporter's details rest sealed (commands/sealing.py), as do
# its history entries, replies, attachment names and assignment reasons; its location rests as
# sealed text in place of coordinates.
SEALED_COLUMNS = (
    "title", "description", "reporter_name", "reporter_phone", "reporter_email", "address", "completion_notes", "escalation_reason",
)  # fmt: skip


class TicketsProjection(TrackedProjection):
    name = "tickets"
    topics = TICKET_TOPICS + CONFIG_TOPICS + TEAM_TOPICS
    shared_topics = TICKET_TOPICS  # a ticket's events change its own rows alone
    # 2: full-text search; 3: completion notes, public notes; 4: sensitive categories, agent scope; 5: sealed text;
    # 6: escalated_at, search by parts of words (trigrams), a sensitive ticket searchable by its tracking number alone
    version = 6
    tables: TicketTables
    tables_for = staticmethod(ticket_tables)

    def apply_all(self, curs: Cursor[Any], items: list[tuple[Any, Tracking]]) -> None:
        rows = RowWriter(curs)
        touched = {e.originator_id for e, _ in items}
        rows.load(self.tables.tickets, touched)
        apply = self.apply  # looked up once: each lookup of a singledispatchmethod makes a new function
        for domain_event, tracking in items:
            apply(domain_event, tracking, rows)
        rows.flush()

    @singledispatchmethod
    def apply(self, domain_event: Any, tracking: Tracking, rows: RowWriter) -> None:
        """Events this read model does not show change nothing."""

    @apply.register
    def _opened(self, e: Ticket.Opened, tracking: Tracking, rows: RowWriter) -> None:
        opened = {f: getattr(e, f) for f in OPENED_FIELDS}
        columns = {f: v for f, v in opened.items() if f != "location"}
        rows.add(
            self.tables.tickets,
            dict(
                id=e.originator_id,
                tenant=e.tenant,
                **_sealed(e, columns),
                **_place(e, e.location),
                status_category=Category.OPEN.value,
                accepted=False,
                archived=False,
                response_breached=False,
                resolution_breached=False,
                escalation_level=0,
                reply_count=0,
                internal_note_count=0,
                attachment_count=0,
                reopen_count=0,
                created_at=e.timestamp,
                updated_at=e.timestamp,
                version=e.originator_version,
            ),
        )
        self._record(rows, e, tracking, {f: {"old": None, "new": v} for f, v in opened.items() if v not in UNSET})

    @apply.register
    def _status_changed(self, e: Ticket.StatusChanged, tracking: Tracking, rows: RowWriter) -> None:
        ticket = self._ticket(rows, e)
        reopened = e.from_category in (Category.RESOLVED, Category.CLOSED) and e.to_category in (Category.OPEN, Category.PENDING)
        values: dict[str, Any] = {"status": e.to_status, "status_category": e.to_category}
        if "assignee_id" in e.fields:
            values["assignee_id"] = e.fields["assignee_id"]
        if "completion_notes" in e.fields:
            values["completion_notes"] = e.fields["completion_notes"]
        if e.actor_role in STAFF_ROLES:
            values["first_responded_at"] = ticket.get("first_responded_at") or e.timestamp
        if e.to_category == Category.RESOLVED:
            values["resolved_at"] = e.timestamp
        if e.to_category == Category.CLOSED:
            values["closed_at"] = e.timestamp
        if reopened:
            values.update(resolved_at=None, closed_at=None, reopen_count=ticket.get("reopen_count", 0) + 1)
        self._touch(rows, e, **values)
        changes = {"status": {"old": e.from_status, "new": e.to_status}}
        changes.update({name: {"old": None, "new": value} for name, value in e.fields.items()})
        self._record(rows, e, tracking, changes, note=e.note, note_public=e.note_public)

    @apply.register
    def _reply_added(self, e: Ticket.ReplyAdded, tracking: Tracking, rows: RowWriter) -> None:
        ticket = self._ticket(rows, e)
        rows.append(
            self.tables.replies,
            dict(
                id=e.reply_id,
                ticket_id=e.originator_id,
                tenant=e.tenant,
                author=e.actor_id,
                role=e.actor_role,
                body=_seal_if(e, e.body),
                internal=e.internal,
                is_solution=e.is_solution,
                at=e.timestamp,
                version=e.originator_version,
            ),
        )
        counter = "internal_note_count" if e.internal else "reply_count"
        values: dict[str, Any] = {counter: ticket.get(counter, 0) + 1}
        if e.actor_role in STAFF_ROLES and not e.internal:
            values["first_responded_at"] = ticket.get("first_responded_at") or e.timestamp
        self._touch(rows, e, **values)
        changes = {"reply_id": {"old": None, "new": str(e.reply_id)}, "internal": {"old": None, "new": e.internal}}
        if e.is_solution:
            changes["is_solution"] = {"old": None, "new": True}
        self._record(rows, e, tracking, changes, internal=e.internal)

    @apply.register
    def _edited(self, e: Ticket.Edited, tracking: Tracking, rows: RowWriter) -> None:
        values = {name: change["new"] for name, change in e.changes.items()}
        if "location" in values:
            values.update(_place(e, values.pop("location")))
        self._touch(rows, e, **values)
        self._record(rows, e, tracking, e.changes)

    @apply.register
    def _transferred(self, e: Ticket.Transferred, tracking: Tracking, rows: RowWriter) -> None:
        self._touch(rows, e, assignee_id=e.to_assignee)
        self._record(rows, e, tracking, {"assignee_id": {"old": e.from_assignee, "new": e.to_assignee}}, note=e.reason)

    @apply.register
    def _marked_sensitive(self, e: Ticket.MarkedSensitive, tracking: Tracking, rows: RowWriter) -> None:
        ticket = self._ticket(rows, e)
        values: dict[str, Any] = {"is_sensitive": True, **self._resting_sealed(ticket)}
        changes = {"is_sensitive": {"old": False, "new": True}}
        if e.team_released:
            values.update(team_id=None, team_name=None)
            changes["team_id"] = {"old": ticket.get("team_id"), "new": None}
        if e.assignee_released:
            values.update(assignee_id=None, assignee_name=None, accepted=False)
            changes["assignee_id"] = {"old": ticket.get("assignee_id"), "new": None}
        self._touch(rows, e, **values)
        self._reseal(rows, e.originator_id, lambda changes: changes)
        self._record(rows, e, tracking, changes, note=e.reason)

    @apply.register
    def _archived(self, e: Ticket.Archived, tracking: Tracking, rows: RowWriter) -> None:
        self._touch(rows, e, archived=True)
        self._record(rows, e, tracking, {"archived": {"old": False, "new": True}}, note=e.reason)

    @apply.register
    def _erased(self, e: Ticket.Erased, tracking: Tracking, rows: RowWriter) -> None:
        """The reporter is gone for good: from the ticket and from every entry of its history."""
        personal = {name: ERASED for name in PERSONAL_FIELDS if name != "location"}
        self._touch(rows, e, **personal, lat=None, lon=None, sealed_location=None)
        if e.is_sensitive:
            self._reseal(rows, e.originator_id, _erased_from)
        else:
            self._rewrite_history(rows, e.originator_id, _erased_from)
        self._record(rows, e, tracking, {"erased": {"old": None, "new": True}}, note=e.reason)

    @apply.register
    def _field_redacted(self, e: Ticket.FieldRedacted, tracking: Tracking, rows: RowWriter) -> None:
        """Clears the field on the ticket and every value of it in the ticket's history."""
        self._touch(rows, e, **({"lat": None, "lon": None, "sealed_location": None} if e.field == "location" else {e.field: None}))
        if e.is_sensitive:  # its history rests sealed: each entry is unsealed, cleared and sealed again
            self._reseal(rows, e.originator_id, lambda changes: _redacted(changes, e.field))
            self._record(rows, e, tracking, {e.field: {"old": REDACTED, "new": None}}, note=e.reason)
            return
        history = self.tables.history
        scrubbed = func.jsonb_set(
            history.c.changes, literal([e.field], ARRAY(Text)), literal(Jsonb({"old": REDACTED, "new": REDACTED}), JSONB)
        )
        rows.execute(
            update(history).where(history.c.ticket_id == e.originator_id, history.c.changes.has_key(e.field)).values(changes=scrubbed),
        )
        self._record(rows, e, tracking, {e.field: {"old": REDACTED, "new": None}}, note=e.reason)

    @apply.register
    def _attachment_added(self, e: Ticket.AttachmentAdded, tracking: Tracking, rows: RowWriter) -> None:
        ticket = self._ticket(rows, e)
        rows.append(
            self.tables.attachments,
            dict(
                id=e.attachment_id,
                ticket_id=e.originator_id,
                tenant=e.tenant,
                sha256=e.sha256,
                name=_seal_if(e, e.name),
                content_type=e.content_type,
                size=e.size,
                kind=e.kind,
                added_by=e.actor_id,
                at=e.timestamp,
            ),
        )
        self._touch(rows, e, attachment_count=ticket.get("attachment_count", 0) + 1)
        changes = {"attachment": {"old": None, "new": {"id": str(e.attachment_id), "name": e.name, "kind": e.kind}}}
        self._record(rows, e, tracking, changes)

    @apply.register
    def _assigned(self, e: Ticket.Assigned, tracking: Tracking, rows: RowWriter) -> None:
        who = {"team_id": e.team_id, "team_name": e.team_name, "assignee_id": e.assignee_id, "assignee_name": e.assignee_name}
        self._touch(rows, e, **who, accepted=False)
        self._record_assignment(rows, e, **who, rule=e.rule, reason=e.reason)
        changes = {"team_id": {"old": e.from_team_id, "new": e.team_id}, "assignee_id": {"old": e.from_assignee_id, "new": e.assignee_id}}
        if e.rule:
            changes["rule"] = {"old": None, "new": e.rule}
        self._record(rows, e, tracking, changes, note=e.reason)

    @apply.register
    def _accepted(self, e: Ticket.AssignmentAccepted, tracking: Tracking, rows: RowWriter) -> None:
        self._record_assignment(rows, e, **self._holder(rows, e), assignee_id=e.actor_id)
        self._touch(rows, e, accepted=True)
        self._record(rows, e, tracking, {"accepted": {"old": False, "new": True}})

    @apply.register
    def _rejected(self, e: Ticket.AssignmentRejected, tracking: Tracking, rows: RowWriter) -> None:
        self._record_assignment(rows, e, **self._holder(rows, e), assignee_id=e.actor_id, reason=e.reason)
        self._touch(rows, e, assignee_id=None, assignee_name=None, accepted=False)
        self._record(rows, e, tracking, {"assignee_id": {"old": e.actor_id, "new": None}}, note=e.reason)

    @apply.register
    def _unassigned(self, e: Ticket.Unassigned, tracking: Tracking, rows: RowWriter) -> None:
        self._record_assignment(rows, e, **self._holder(rows, e), assignee_id=e.from_assignee, reason=e.reason)
        self._touch(rows, e, assignee_id=None, assignee_name=None, accepted=False)
        self._record(rows, e, tracking, {"assignee_id": {"old": e.from_assignee, "new": None}}, note=e.reason)

    @apply.register
    def _deadlines_set(self, e: Ticket.SLADeadlinesSet, tracking: Tracking, rows: RowWriter) -> None:
        values = self._deadlines(e)
        for kind in e.clocks:
            values.update({f"{kind}_met_at": None, f"{kind}_breached": False})
        changes = self._deadline_changes(rows, e)
        self._touch(rows, e, sla_policy_id=e.policy_id, sla_policy_version=e.policy_version, **values)
        self._record(
            rows, e, tracking, {**changes, "sla_policy": {"old": None, "new": f"{e.policy_id} v{e.policy_version}"}}, note=e.reason
        )

    @apply.register
    def _sla_paused(self, e: Ticket.SLAPaused, tracking: Tracking, rows: RowWriter) -> None:
        self._touch(rows, e, sla_paused_at=e.at)
        self._record(rows, e, tracking, {"sla_paused_at": {"old": None, "new": e.at.isoformat()}})

    @apply.register
    def _sla_resumed(self, e: Ticket.SLAResumed, tracking: Tracking, rows: RowWriter) -> None:
        changes = self._deadline_changes(rows, e)
        self._touch(rows, e, sla_paused_at=None, **self._deadlines(e))
        self._record(rows, e, tracking, changes)

    @apply.register
    def _sla_met(self, e: Ticket.SLAMet, tracking: Tracking, rows: RowWriter) -> None:
        self._touch(rows, e, **{f"{e.kind}_met_at": e.at})
        self._record(
            rows, e, tracking, {f"{e.kind}_met_at": {"old": None, "new": e.at.isoformat()}, "on_time": {"old": None, "new": e.on_time}}
        )

    @apply.register
    def _sla_breached(self, e: Ticket.SLABreached, tracking: Tracking, rows: RowWriter) -> None:
        self._touch(rows, e, **{f"{e.kind}_breached": True})
        self._record(rows, e, tracking, {f"{e.kind}_breached": {"old": False, "new": True}}, note=f"due {e.due.isoformat()}")

    @apply.register
    def _escalated(self, e: Ticket.Escalated, tracking: Tracking, rows: RowWriter) -> None:
        self._touch(rows, e, escalation_level=e.level, escalation_reason=e.reason, escalated_at=e.timestamp)
        self._record(rows, e, tracking, {"escalation_level": {"old": e.level - 1, "new": e.level}}, note=e.reason)

    @apply.register
    def _policies_replaced(self, e: SLAPolicies.PoliciesReplaced, tracking: Tracking, rows: RowWriter) -> None:
        row = {"tenant": e.tenant, "version": e.policies_version, "policies": e.policies, "set_by": e.actor_id, "set_at": e.timestamp}
        rows.append(self.tables.sla_policies, row)

    @apply.register
    def _team_created(self, e: Team.TeamCreated, tracking: Tracking, rows: RowWriter) -> None:
        fields = {f: getattr(e, f) for f in ("name", "categories", "wards", "is_restricted", "capacity", "strategy")}
        row = {
            "id": e.originator_id,
            "tenant": e.tenant,
            **fields,
            "members": [],
            "version": e.originator_version,
            "updated_at": e.timestamp,
        }
        rows.add(self.tables.teams, row)

    @apply.register
    def _team_changed(self, e: Team.TeamChanged, tracking: Tracking, rows: RowWriter) -> None:
        self._touch_team(rows, e, **{name: change["new"] for name, change in e.changes.items()})

    @apply.register
    def _member_added(self, e: Team.MemberAdded, tracking: Tracking, rows: RowWriter) -> None:
        """A new member joins at the end; a member changed again keeps their place, as in the aggregate
        (round-robin goes round in this order)."""
        member = {"user_id": e.user_id, "display_name": e.display_name, "role": e.role}
        member.update({f: getattr(e, f) for f in ("phone", "email") if getattr(e, f, None)})  # contacts only where given
        current = self._members(rows, e)
        known = any(m["user_id"] == e.user_id for m in current)
        members = [member if m["user_id"] == e.user_id else m for m in current] if known else [*current, member]
        self._touch_team(rows, e, members=members)

    @apply.register
    def _member_removed(self, e: Team.MemberRemoved, tracking: Tracking, rows: RowWriter) -> None:
        members = [m for m in self._members(rows, e) if m["user_id"] != e.user_id]
        self._touch_team(rows, e, members=members)

    @apply.register
    def _rules_replaced(self, e: RoutingRules.RulesReplaced, tracking: Tracking, rows: RowWriter) -> None:
        row = {"tenant": e.tenant, "version": e.rules_version, "rules": e.rules, "fallback_team_id": e.fallback_team_id}
        rows.append(self.tables.routing_rules, dict(**row, set_by=e.actor_id, set_at=e.timestamp))

    @apply.register
    def _workflow_defined(self, e: TenantConfig.WorkflowDefined, tracking: Tracking, rows: RowWriter) -> None:
        row = {"tenant": e.tenant, "name": e.name, "version": e.version, "definition": e.definition}
        rows.append(self.tables.workflows, dict(**row, defined_by=e.actor_id, defined_at=e.timestamp))

    @apply.register
    def _settings_changed(self, e: TenantConfig.SettingsChanged, tracking: Tracking, rows: RowWriter) -> None:
        table = self.tables.tenant_settings
        defaults = {
            "default_workflow": None,
            "reporter_reply_moves_ticket": False,
            "auto_route_on_open": False,
            "sensitive_categories": None,
            "agent_scope": None,
        }
        row = {"tenant": e.tenant, **defaults, **e.changes, "updated_at": e.timestamp}
        statement = (
            upsert(table).values(**row).on_conflict_do_update(index_elements=["tenant"], set_={**e.changes, "updated_at": e.timestamp})
        )
        rows.execute(statement)

    @staticmethod
    def _deadlines(e: Any) -> dict[str, Any]:
        return {f"{kind}_{name}": getattr(e, f"{kind}_{name}") for kind in e.clocks for name in ("due", "warning_at")}

    def _deadline_changes(self, rows: RowWriter, e: Any) -> dict[str, Any]:
        """Old and new deadlines: the old ones as the row held them before this event."""
        old = self._ticket(rows, e)
        return {f"{kind}_due": {"old": _iso(old.get(f"{kind}_due")), "new": _iso(getattr(e, f"{kind}_due"))} for kind in e.clocks}

    @staticmethod
    def _resting_sealed(ticket: Row) -> dict[str, Any]:
        """What a ticket's row changes once it is sensitive: its words (which _touch seals) and its
        place, as sealed text."""
        place = {"lat": ticket["lat"], "lon": ticket["lon"]} if ticket.get("lat") is not None else None
        return {
            **{name: ticket.get(name) for name in SEALED_COLUMNS},
            "lat": None,
            "lon": None,
            "sealed_location": _sealed_place(place, ticket.get("id")),
        }

    def _reseal(self, rows: RowWriter, ticket_id: Any, change: Any) -> None:
        """Seals (again) every history entry, reply, attachment name and assignment reason of the
        ticket, after `change` on each entry's unsealed changes."""
        self._rewrite_history(rows, ticket_id, change, sealed=True)
        t = self.tables
        for table, column in ((t.replies, "body"), (t.attachments, "name"), (t.assignments, "reason")):
            for row in rows.execute(select(table).where(table.c.ticket_id == ticket_id)).fetchall():
                key = [table.c[k] == row[k] for k in (c.name for c in table.primary_key.columns)]
                rows.execute(update(table).where(*key).values({column: sealing.seal(sealing.unseal(row[column], ticket_id), ticket_id)}))

    def _rewrite_history(self, rows: RowWriter, ticket_id: Any, change: Any, sealed: bool = False) -> None:
        """Rewrites each history entry of the ticket with `change` on its changes; `sealed`: the
        entries are unsealed first and sealed again (with their notes)."""
        history = self.tables.history
        rows.flush()
        for entry in rows.execute(select(history).where(history.c.ticket_id == ticket_id)).fetchall():
            key = (history.c.ticket_id == ticket_id) & (history.c.version == entry["version"])
            if sealed:
                changes = change(sealing.unseal_json(entry["changes"], ticket_id))
                note = sealing.seal(sealing.unseal(entry["note"], ticket_id), ticket_id)
                rows.execute(update(history).where(key).values(changes=Jsonb(sealing.seal_json(changes, ticket_id)), note=note))
            elif (changes := change(entry["changes"])) != entry["changes"]:
                rows.execute(update(history).where(key).values(changes=Jsonb(changes)))

    def _ticket(self, rows: RowWriter, e: Any) -> Row:
        """The ticket's row as the batch has left it; empty when there is none (its events then
        change no row, as an UPDATE of no row would)."""
        return rows.row(self.tables.tickets, e.originator_id) or {}

    def _holder(self, rows: RowWriter, e: Any) -> dict[str, Any]:
        """The ticket's team and assignee's name before this event: an accept, reject or unassign
        entry names them as an assignment does, so the history reads on its own."""
        ticket = self._ticket(rows, e)
        return {name: ticket[name] for name in ("team_id", "team_name", "assignee_name") if name in ticket}

    def _members(self, rows: RowWriter, e: Any) -> list[dict[str, str]]:
        team = rows.row(self.tables.teams, e.originator_id)
        return team["members"] if team else []

    def _touch_team(self, rows: RowWriter, e: Any, **values: Any) -> None:
        rows.change(self.tables.teams, e.originator_id, {**values, "updated_at": e.timestamp, "version": e.originator_version})

    def _touch(self, rows: RowWriter, e: Any, **values: Any) -> None:
        values = {**_sealed(e, values), "updated_at": e.timestamp, "version": e.originator_version}
        rows.change(self.tables.tickets, e.originator_id, values)

    def _record_assignment(self, rows: RowWriter, e: Any, **values: Any) -> None:
        row = {"ticket_id": e.originator_id, "version": e.originator_version, "tenant": e.tenant, "event": event_name(e)}
        values["reason"] = _seal_if(e, values.get("reason"))
        rows.append(self.tables.assignments, dict(**row, **values, actor=e.actor_id, role=e.actor_role, at=e.timestamp))

    def _record(
        self,
        rows: RowWriter,
        e: Any,
        tracking: Tracking,
        changes: dict[str, Any],
        note: str | None = None,
        internal: bool = False,
        note_public: bool = False,
    ) -> None:
        rows.append(
            self.tables.history,
            dict(
                ticket_id=e.originator_id,
                version=e.originator_version,
                tenant=e.tenant,
                notification_id=tracking.notification_id,
                event=event_name(e),
                at=e.timestamp,
                actor=e.actor_id,
                role=e.actor_role,
                changes=sealing.seal_json(changes, e.originator_id) if e.is_sensitive else changes,
                note=_seal_if(e, note),
                internal=internal,
                note_public=note_public,
            ),
        )


def _seal_if(e: Any, text: str | None) -> str | None:
    return sealing.seal(text, e.originator_id) if e.is_sensitive else text


def _sealed(e: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The values as a sensitive ticket's row keeps them: its words and the reporter's details sealed."""
    if not e.is_sensitive:
        return values
    return {name: sealing.seal(value, e.originator_id) if name in SEALED_COLUMNS else value for name, value in values.items()}


def _place(e: Any, location: dict[str, float] | str | None) -> dict[str, Any]:
    """Coordinates, or for a sensitive ticket none: its location rests sealed. An erased location
    (a text, "[erased]") is none."""
    if not isinstance(location, dict):
        return {"lat": None, "lon": None, "sealed_location": None}
    if e.is_sensitive:
        return {"lat": None, "lon": None, "sealed_location": _sealed_place(location, e.originator_id)}
    return {"lat": (location or {}).get("lat"), "lon": (location or {}).get("lon"), "sealed_location": None}


def _sealed_place(location: dict[str, float] | None, ticket: Any) -> str | None:
    return sealing.seal(json.dumps(location, sort_keys=True), ticket) if location else None


def _erased_from(changes: dict[str, Any]) -> dict[str, Any]:
    return {name: {"old": ERASED, "new": ERASED} if name in PERSONAL_FIELDS else change for name, change in changes.items()}


def _redacted(changes: dict[str, Any], field: str) -> dict[str, Any]:
    return {**changes, field: {"old": REDACTED, "new": REDACTED}} if field in changes else changes


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None
