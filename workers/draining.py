"""What a stopping process waits for once its API has stopped taking commands: its projections and
its relay reaching the last event committed by then, for at most the stop timeout. A follower that
cannot (the database or NATS is down) is named in the log, and the process stops all the same: the
next start goes on from its tracked position."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from commands.app import TICKET_TOPICS, Docket
from commands.errors import DATABASE_DOWN
from projections.operations import PROJECTIONS, RELAY, head_of, tracking_recorder

log = logging.getLogger(__name__)

POLL = 0.1


async def catch_up(app: Docket, roles: Collection[str], timeout: float) -> None:
    """Returns when every follower among roles has reached the last event it handles, or after timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        targets = await asyncio.wait_for(asyncio.to_thread(last_events, app, roles), timeout)
        while behind := await asyncio.wait_for(asyncio.to_thread(lagging, app, targets), max(deadline - loop.time(), POLL)):
            if loop.time() >= deadline:
                log.warning("stopping before %s caught up (%gs passed)", ", ".join(behind), timeout)
                return
            await asyncio.sleep(POLL)
    except (TimeoutError, *DATABASE_DOWN) as error:
        log.warning("stopping without knowing whether %s caught up (%s)", " and ".join(roles), type(error).__name__)
        return
    if targets:
        log.info("%s caught up with the last committed event", ", ".join(targets))


def last_events(app: Docket, roles: Collection[str]) -> dict[str, int]:
    """The last event committed so far that each follower of these roles handles, by its tracking name."""
    topics: dict[str, tuple[str, ...]] = {}
    if "projector" in roles:
        topics |= {name: projection.topics for name, projection in PROJECTIONS.items()}
    if "relay" in roles:
        topics[RELAY] = TICKET_TOPICS
    return {name: head_of(app, followed) for name, followed in topics.items()}


def lagging(app: Docket, targets: dict[str, int]) -> list[str]:
    """The followers short of their targets, each with its position."""
    behind = []
    for name, target in targets.items():
        position = tracking_recorder(app.recorder.datastore, name).max_tracking_id(app.name) or 0
        if position < target:
            behind.append(f"{name} at {position} of {target}")
    return behind
