"""`docket notifier [--sensitive]`, `docket notifications status` and `docket notifications retry`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError

from commands.deliveries import Requeued, retry_deliveries, status_counts
from workers.bootstrap import application, endpoints
from workers.embedded import NATS_PID, PASSWORDS, EmbeddedNats
from workers.notifier.role import ORDINARY, SENSITIVE, Kind
from workers.relay import STREAM
from workers.settings import Settings

RunRoles = Callable[[Settings, tuple[str, ...]], None]
LISTEN = re.compile(r"^listen:\s*(\S+)$", re.MULTILINE)
NATS_TIMEOUT = 3.0


def add_commands(commands: Any, run_roles: RunRoles) -> None:
    notifier = commands.add_parser("notifier", help="run only the notifier against the configured servers")
    notifier.add_argument(
        "--sensitive",
        action="store_true",
        help="the sensitive notifier: sensitive tickets' events, the neutral text only, as its own NATS user",
    )
    notifier.set_defaults(handler=lambda s, a: run_roles(s, ("sensitive_notifier",) if a.sensitive else ("notifier",)))

    group = commands.add_parser("notifications", help="the delivery record: counts, consumer lag, sending dead deliveries again")
    actions = group.add_subparsers(required=True, metavar="ACTION")
    status = actions.add_parser("status", help="deliveries by status and channel, and each notifier consumer's lag")
    status.set_defaults(handler=_status)
    retry = actions.add_parser("retry", help="queue dead deliveries to be sent again by a running notifier")
    retry.add_argument("delivery_ids", nargs="*", type=_delivery_id, metavar="DELIVERY_ID", help="deliveries to send again")
    retry.add_argument("--all-dead", action="store_true", help="every dead delivery (since --since, if given)")
    retry.add_argument("--since", type=_moment, help="with --all-dead: those that died at or after this ISO 8601 time (UTC unless it says)")
    retry.set_defaults(handler=_retry, parser=retry)


def _delivery_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a delivery id is a UUID, got {value!r}") from None


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since is an ISO 8601 time such as 2026-05-01T08:00, got {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _retry(settings: Settings, args: argparse.Namespace) -> int:
    if bool(args.delivery_ids) == bool(args.all_dead) or (args.since and not args.all_dead):
        args.parser.error("name delivery ids, or say --all-dead [--since T]")
    with endpoints(settings) as found, application(found) as app:
        if args.all_dead:
            outcome = retry_deliveries(app.recorder.datastore, dead_since=args.since or datetime(1970, 1, 1, tzinfo=UTC))
        else:
            outcome = retry_deliveries(app.recorder.datastore, ids=args.delivery_ids)
    for line in outcome:
        print(msgspec.json.encode(line).decode())
    queued = sum(1 for line in outcome if line.queued)
    print(f"queued {queued} deliveries to be sent again; a running notifier sends them within a second or two")
    return 0 if queued or not _named_but_refused(outcome, args) else 1


def _named_but_refused(outcome: list[Requeued], args: argparse.Namespace) -> bool:
    return bool(args.delivery_ids) and not any(line.queued for line in outcome)


def _status(settings: Settings, args: argparse.Namespace) -> int:
    with endpoints(settings) as found, application(found) as app:
        for count in status_counts(app.recorder.datastore):
            print(msgspec.json.encode(count).decode())
    for kind in (ORDINARY, SENSITIVE):
        print(json.dumps(asyncio.run(consumer_lag(settings, kind))))
    return 0


async def consumer_lag(settings: Settings, kind: Kind) -> dict[str, Any]:
    """How many events the role's durable consumer has yet to hand out, and has handed out but
    not had acknowledged, as its own NATS user sees them."""
    url = nats_url_for(settings, kind.user)
    line: dict[str, Any] = {"consumer": kind.durable}
    if url is None:
        return {**line, "lag": None, "why": "no NATS to ask: set DOCKET_NATS_URL, or run docket serve on this data dir"}
    try:
        client = await nats.connect(url, connect_timeout=NATS_TIMEOUT, allow_reconnect=False, inbox_prefix=f"_INBOX_{kind.user}")
    except (OSError, TimeoutError, NatsError) as error:
        return {**line, "lag": None, "why": f"NATS did not answer ({type(error).__name__})"}
    try:
        info = await client.jetstream(timeout=NATS_TIMEOUT).consumer_info(STREAM, kind.durable)
    except NotFoundError:
        return {**line, "lag": None, "why": "no such consumer yet: the notifier has not run"}
    except (TimeoutError, NatsError) as error:
        return {
            **line,
            "lag": None,
            "why": f"NATS refused or did not answer ({type(error).__name__}); this user may not read that consumer",
        }
    finally:
        await client.close()
    return {**line, "lag": info.num_pending + info.num_ack_pending, "pending": info.num_pending, "unacknowledged": info.num_ack_pending}


def nats_url_for(settings: Settings, user: str) -> str | None:
    """The configured NATS URL, else that of the embedded server a `docket serve` runs on this
    data dir, as the role's user."""
    if settings.nats_url:
        return settings.nats_url
    running = running_embedded_nats(settings.data_dir)
    return running.url_for(user) if running is not None and user in running.passwords else None


def running_embedded_nats(data_dir: Path) -> EmbeddedNats | None:
    try:
        pid = int((data_dir / NATS_PID).read_text().strip())
        os.kill(pid, 0)
        listen = LISTEN.search((data_dir / "nats-server.conf").read_text())
        passwords = json.loads((data_dir / PASSWORDS).read_text())
    except (OSError, ValueError):
        return None
    return EmbeddedNats(f"nats://{listen.group(1)}", passwords) if listen else None
