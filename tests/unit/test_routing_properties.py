"""Properties of routing and of the assignee strategies."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import Invalid, Refused
from domain.routing import Offer, RoutingFacts, RoutingRules, Rule, eligible_members, pick_least_open, pick_round_robin, route
from tests.unit.helpers import TENANT, actor, new_ticket

users = st.lists(st.sampled_from([f"tech-{i}" for i in range(8)]), min_size=1, max_size=8, unique=True)
values = {
    "category": ["roads", "water", "gbv"],
    "ward": ["1", "2", None],
    "workflow": ["municipal", "field_service"],
    "priority": ["low", "high"],
}
facts = st.builds(
    RoutingFacts,
    category=st.sampled_from(values["category"]),
    ward=st.sampled_from(values["ward"]),
    workflow=st.sampled_from(values["workflow"]),
    priority=st.sampled_from(values["priority"]),
    is_sensitive=st.booleans(),
)
teams = st.sampled_from(["team-a", "team-b", "team-c", "team-d"])
rules = st.lists(
    st.builds(
        Rule,
        name=st.uuids().map(str),
        team_id=teams,
        match=st.dictionaries(
            st.sampled_from(["category", "workflow", "priority"]),
            st.sampled_from(["roads", "water", "gbv", "municipal", "field_service", "low", "high"]).map(lambda v: (v,)),
            max_size=2,
        ),
    ),
    max_size=6,
)


@given(members=users, rotation=st.integers(0, 1000), n=st.integers(0, 60))
def test_round_robin_spreads_n_tickets_within_one_of_even(members, rotation, n):
    counts = Counter()
    for _ in range(n):
        picked, rotation = pick_round_robin(members, rotation, set(members))
        counts[picked] += 1
    spread = [counts[m] for m in members]
    assert sum(spread) == n
    assert max(spread) - min(spread) <= 1


@given(members=users, rotation=st.integers(0, 1000), data=st.data())
def test_round_robin_only_ever_picks_an_eligible_member_and_none_when_nobody_is(members, rotation, data):
    eligible = set(data.draw(st.lists(st.sampled_from(members), unique=True)))
    picked, after = pick_round_robin(members, rotation, eligible)
    assert (picked in eligible) if eligible else (picked is None and after == rotation)


@given(members=users, data=st.data())
def test_least_open_always_picks_a_least_loaded_eligible_member(members, data):
    counts = {m: data.draw(st.integers(0, 20)) for m in members}
    eligible = set(data.draw(st.lists(st.sampled_from(members), unique=True)))
    picked = pick_least_open(members, counts, eligible)
    if not eligible:
        assert picked is None
    else:
        assert picked in eligible
        assert counts[picked] == min(counts[m] for m in eligible)


@given(members=users, data=st.data(), capacity=st.one_of(st.none(), st.integers(1, 10)))
def test_nobody_at_capacity_or_who_rejected_the_ticket_is_eligible(members, data, capacity):
    counts = {m: data.draw(st.integers(0, 12)) for m in members}
    excluded = set(data.draw(st.lists(st.sampled_from(members), unique=True)))
    for member in eligible_members(members, counts, capacity, excluded):
        assert member not in excluded
        assert capacity is None or counts[member] < capacity


@given(rules=rules, fallback=st.one_of(st.none(), teams), ticket=facts, restricted=st.sets(teams))
def test_a_sensitive_ticket_never_lands_on_an_unrestricted_team(rules, fallback, ticket, restricted):
    found = route(rules, fallback, ticket, restricted)
    if ticket.is_sensitive and found is not None:
        assert found.team_id in restricted


@given(rules=rules, fallback=st.one_of(st.none(), teams), ticket=facts)
def test_an_ordinary_ticket_takes_the_first_matching_rule_else_the_fallback(rules, fallback, ticket):
    ordinary = RoutingFacts(ticket.category, ticket.ward, ticket.workflow, ticket.priority, False)
    found = route(rules, fallback, ordinary, set())
    first = next((r for r in rules if all(getattr(ordinary, c) in v for c, v in r.match.items())), None)
    if first is not None:
        assert (found.team_id, found.rule) == (first.team_id, first.name)
    elif fallback is not None:
        assert (found.team_id, found.rule) == (fallback, "fallback")
    else:
        assert found is None


def offer(restricted: bool) -> Offer:
    return Offer("team-a", "Roads crew", restricted, "tech-1", "Thandi", None, "by hand")


@given(restricted=st.booleans(), sensitive=st.booleans())
def test_the_ticket_itself_refuses_a_sensitive_assignment_to_an_unrestricted_team(restricted, sensitive):
    ticket = new_ticket(is_sensitive=sensitive)
    ticket.collect_events()
    if sensitive and not restricted:
        with pytest.raises(Refused) as refused:
            ticket.assign(actor("admin"), offer(restricted))
        assert refused.value.code == "team_not_restricted"
        assert ticket.collect_events() == []
    else:
        ticket.assign(actor("admin"), offer(restricted))
        assert (ticket.team_id, ticket.assignee_id) == ("team-a", "tech-1")


def test_rules_are_versioned_and_refuse_an_unknown_team_naming_the_rule():
    rules = RoutingRules(tenant=TENANT)
    rules.replace(actor("admin"), [{"name": "roads", "category": "roads", "team_id": "team-a"}], None, {"team-a"})
    rules.replace(actor("admin"), [{"name": "water", "category": ["water"], "team_id": "team-a"}], "team-a", {"team-a"})
    assert rules.version_number == 2
    assert rules.rules == [Rule("water", "team-a", {"category": ("water",)})]
    with pytest.raises(Invalid) as refused:
        rules.replace(actor("admin"), [{"name": "x", "team_id": "team-z"}], None, {"team-a"})
    assert refused.value.field == "rules[0].team_id"
