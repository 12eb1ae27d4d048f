"""The cache given to Python 3.11's protocol checks (commands/protocol_checks.py) changes no answer."""

from __future__ import annotations

import sys
import typing

from eventsourcing.application import CanMutateProtocol
from eventsourcing.domain import CollectEventsProtocol, DomainEventProtocol

import commands.app  # noqa: F401 - importing it puts the cache in place
from tests.unit.helpers import new_ticket


def test_eventsourcing_protocols_answer_as_before_and_on_311_from_a_cache():
    ticket = new_ticket()
    (opened,) = ticket.collect_events()
    for _ in range(2):  # the first answers fill the cache, the second come from it
        assert isinstance(opened, CanMutateProtocol) and isinstance(opened, DomainEventProtocol)
        assert isinstance(ticket, CollectEventsProtocol) and not isinstance(ticket, DomainEventProtocol)
        assert not isinstance(object(), CanMutateProtocol) and not isinstance("event", DomainEventProtocol)
    if sys.version_info < (3, 12):
        assert typing._get_protocol_attrs.cache_info().hits > 0  # type: ignore[attr-defined]
