"""Teams: who handles which categories and wards, and how a team hands tickets to its members."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain import ticket_fields as rules
from domain.contacts import email_field, phone_field
from domain.errors import Invalid, Refused
from domain.permissions import STAFF, Action, Actor, require

STRATEGIES = ("round_robin", "least_open", "none")
TEAM_FIELDS = ("name", "categories", "wards", "is_restricted", "capacity", "strategy")


@dataclass(frozen=True, slots=True)
class Member:
    user_id: str
    display_name: str
    role: str
    phone: str | None = None  # E.164: where the notifier reaches them (notification rules)
    email: str | None = None


class Team(Aggregate):
    @event("TeamCreated")
    def __init__(
        self, *, tenant: str, actor_id: str, actor_role: str, name: str, categories: list[str], wards: list[str],
        is_restricted: bool, capacity: int | None, strategy: str,
    ) -> None:  # fmt: skip
        self.tenant = tenant
        self.name, self.categories, self.wards = name, categories, wards
        self.is_restricted, self.capacity, self.strategy = is_restricted, capacity, strategy
        self.members: dict[str, Member] = {}
        self.rotation = 0  # how many tickets round-robin has handed out: the next goes to the member after

    @classmethod
    def create(cls, actor: Actor, **fields: Any) -> Team:
        require(actor, Action.MANAGE_TEAMS)
        checked = {name: _checked(name, fields.get(name, DEFAULTS[name])) for name in TEAM_FIELDS}
        return cls(tenant=actor.tenant, actor_id=actor.id, actor_role=actor.role.value, **checked)

    def change(self, actor: Actor, changes: dict[str, Any]) -> None:
        self._allow(actor)
        checked = {name: _checked(name, value) for name, value in changes.items()}
        diff = {name: {"old": getattr(self, name), "new": new} for name, new in checked.items() if getattr(self, name) != new}
        if diff:
            self._changed(tenant=self.tenant, actor_id=actor.id, actor_role=actor.role.value, changes=diff)

    @event("TeamChanged")
    def _changed(self, *, tenant: str, actor_id: str, actor_role: str, changes: dict[str, Any]) -> None:
        for name, change in changes.items():
            setattr(self, name, change["new"])

    def add_member(
        self, actor: Actor, user_id: str, display_name: str, role: str, phone: str | None = None, email: str | None = None
    ) -> None:
        """Adds the member, or changes them: their name, role, phone (kept in E.164) and email."""
        self._allow(actor)
        user_id = rules.required_text("user_id", user_id)
        if role not in {r.value for r in STAFF}:
            raise Invalid(f"A team member is staff: one of {', '.join(sorted(STAFF))}.", code="invalid_member_role", field="role")
        name = rules.required_text("display_name", display_name)
        member = Member(user_id, name, role, phone_field("phone", phone), email_field("email", email))
        if self.members.get(user_id) != member:
            self._member_added(
                tenant=self.tenant,
                actor_id=actor.id,
                actor_role=actor.role.value,
                user_id=user_id,
                display_name=member.display_name,
                role=role,
                phone=member.phone,
                email=member.email,
            )

    @event("MemberAdded")
    def _member_added(
        self, *, tenant: str, actor_id: str, actor_role: str, user_id: str, display_name: str, role: str,
        phone: str | None = None, email: str | None = None,  # members added before they had contacts have none
    ) -> None:  # fmt: skip
        self.members[user_id] = Member(user_id, display_name, role, phone, email)

    def remove_member(self, actor: Actor, user_id: str) -> None:
        self._allow(actor)
        if user_id not in self.members:
            raise Refused(f"{user_id} is not a member of {self.name}.", code="not_a_member", field="user_id")
        self._member_removed(tenant=self.tenant, actor_id=actor.id, actor_role=actor.role.value, user_id=user_id)

    @event("MemberRemoved")
    def _member_removed(self, *, tenant: str, actor_id: str, actor_role: str, user_id: str) -> None:
        del self.members[user_id]

    def advance_rotation(self, to: int) -> None:
        self._rotated(tenant=self.tenant, rotation=to)

    @event("RotationAdvanced")
    def _rotated(self, *, tenant: str, rotation: int) -> None:
        self.rotation = rotation

    def member_name(self, user_id: str | None) -> str | None:
        member = self.members.get(user_id or "")
        return member.display_name if member else None

    def _allow(self, actor: Actor) -> None:
        if actor.tenant != self.tenant:
            raise Invalid(f"No team {self.id} exists.", code="unknown_team", field="team_id")
        require(actor, Action.MANAGE_TEAMS)


DEFAULTS: dict[str, Any] = {"name": None, "categories": [], "wards": [], "is_restricted": False, "capacity": None, "strategy": "none"}


def _checked(name: str, value: Any) -> Any:
    match name:
        case "name":
            return rules.required_text("name", value)
        case "categories" | "wards":
            return rules.labels(name, value)
        case "is_restricted":
            return bool(value)
        case "capacity":
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise Invalid(
                    "capacity is the most open tickets a member holds: a whole number from 1, or null.",
                    code="invalid_capacity",
                    field="capacity",
                )
            return value
        case "strategy":
            return rules.one_of("strategy", value, STRATEGIES)
    raise Invalid(f"The field '{name}' of a team cannot be changed; these can: {', '.join(TEAM_FIELDS)}.", code="not_editable", field=name)


def _member_added_v1_v2(state: dict[str, Any]) -> None:
    """A MemberAdded stored before members had a phone and an email: they have neither."""
    state.setdefault("phone", None)
    state.setdefault("email", None)


Team.MemberAdded.class_version = 2
Team.MemberAdded.upcast_v1_v2 = staticmethod(_member_added_v1_v2)
