"""`docket audit ...`: verify, export, checkpoint, figures as of a moment, SLA replay, public key.

Exit codes: 0 done (for verify: intact), 1 not intact, or a file or store that cannot be read as
asked, 2 a wrong argument or setting (a key that is not one, a policies file that is not valid).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec
from tqdm import tqdm

from commands.app import TICKET_TOPICS
from commands.config_cache import conninfo
from domain.audit_keys import BadKey, VerifyKey, signing_key_from_text, verify_key_from_pem
from domain.errors import Invalid
from domain.sla import policy_from_definition
from domain.sla_replay import SLAReplay
from projections.audit_chain import LIVE
from projections.audit_checkpoints import Checkpoint, recorded_checkpoints
from projections.audit_log import count_tenant_events, tenant_events
from workers.bootstrap import application, endpoints
from workers.settings import Settings, SettingsError

log = logging.getLogger("docket.audit")
TENANT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_POLICIES_FILE = 10 * 1024 * 1024


def add_audit_commands(commands: Any) -> None:
    """Adds `audit` and its actions to the `docket` parser's subcommands."""
    audit = commands.add_parser("audit", help="verify, export and replay the audit trail")
    actions = audit.add_subparsers(required=True, metavar="ACTION")

    verify = actions.add_parser("verify", help="recompute the audit chains and check them against the signed checkpoints")
    verify.add_argument("--tenant", type=_tenant)
    verify.add_argument("--file", type=Path, help="verify this export instead, offline (with --public-key)")
    verify.add_argument("--public-key", type=Path, help="the audit key's public half, PEM (default: the configured key's)")
    verify.set_defaults(handler=_verify)

    export = actions.add_parser("export", help="write a tenant's events as signed NDJSON to stdout")
    export.add_argument("--tenant", type=_tenant, required=True)
    export.add_argument("--from", dest="since", type=_moment, help="first event time, ISO 8601")
    export.add_argument("--to", dest="until", type=_moment, help="last event time, ISO 8601")
    export.add_argument("--stored", action="store_true", help="the events as stored (encrypted, base64), not decrypted")
    export.add_argument("--output", type=Path, help="write here instead of stdout")
    export.set_defaults(handler=_export)

    checkpoint = actions.add_parser("checkpoint", help="sign the chains' heads now and publish them")
    checkpoint.add_argument("--tenant", type=_tenant)
    checkpoint.set_defaults(handler=_checkpoint)

    figures = actions.add_parser("figures", help="the dashboard figures as they were at a moment")
    figures.add_argument("--tenant", type=_tenant, required=True)
    figures.add_argument("--as-of", dest="as_of", type=_moment, required=True, help="ISO 8601 time, or `now`")
    figures.add_argument("--ward")
    figures.set_defaults(handler=_figures)

    replay = actions.add_parser("sla-replay", help="SLA compliance under other policies, beside what was recorded")
    replay.add_argument("--tenant", type=_tenant, required=True)
    replay.add_argument("--policies", type=Path, required=True, help='JSON: {"policies": [...]} as PUT /sla-policies takes')
    replay.add_argument("--from", dest="since", type=_day, help="first day tickets were opened on (UTC), YYYY-MM-DD")
    replay.add_argument("--to", dest="until", type=_day, help="last day tickets were opened on (UTC), YYYY-MM-DD")
    replay.add_argument("--json", action="store_true", help="print JSON rather than a table")
    replay.set_defaults(handler=_sla_replay)

    public = actions.add_parser("public-key", help="print the audit key's public half (PEM), for `verify --public-key`")
    public.set_defaults(handler=_public_key)


# Arguments: refused by the parser (exit 2) before anything is set up


def _tenant(value: str) -> str:
    if not TENANT.match(value):
        raise argparse.ArgumentTypeError(f"a tenant is 1-64 letters, digits, _ and -, got {value[:80]!r}")
    return value


def _moment(value: str) -> datetime:
    if value == "now":
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time (2026-01-31T09:00:00Z): {value[:80]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # a time without a zone is UTC


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {value[:80]!r}") from None


def _fail(message: str, code: int = 1) -> int:
    print(f"docket audit: {message}", file=sys.stderr)
    return code


# Keys


def _signing_key(settings: Settings) -> Any:
    try:
        return signing_key_from_text(settings.audit_signing_key)
    except BadKey as error:
        raise SettingsError(f"the audit signing key: {error}") from None


def _verify_key(settings: Settings, path: Path | None) -> VerifyKey:
    if path is None:
        return _signing_key(settings).verify_key
    try:
        data = path.read_bytes()[:65536]
    except OSError as error:
        raise SettingsError(f"cannot read the public key {path}: {error.strerror or error}") from None
    try:
        return verify_key_from_pem(data)
    except BadKey as error:
        raise SettingsError(f"{path}: {error}") from None


# Handlers


def _verify(settings: Settings, args: argparse.Namespace) -> int:
    from workers.audit_checkpoints import published_checkpoints
    from workers.audit_offline import verify_export
    from workers.audit_verify import Report, trusted_checkpoints, verify_store

    if args.file is not None:
        if args.public_key is None:
            return _fail("--file needs --public-key: an export is checked against the key you trust, not one it carries", 2)
        report = verify_export(args.file, _verify_key(settings, args.public_key))
    else:
        key = _verify_key(settings, args.public_key)
        with endpoints(settings) as found, application(found) as app:
            report_checkpoints: list[Checkpoint | str] = list(recorded_checkpoints(app.recorder.datastore, args.tenant))
            nats_url = settings.nats_url or _running_embedded_nats(settings.data_dir)
            tenants = _tenants(app, args.tenant)
            if nats_url is None:
                log.info("no NATS to read checkpoints from: checking those recorded in the database only")
            else:
                report_checkpoints += asyncio.run(_published(published_checkpoints, nats_url, tenants))
            report = Report()
            trusted = trusted_checkpoints(report_checkpoints, key, report)
            with tqdm(total=_position(app), desc="verifying", unit="event", file=sys.stderr, disable=None) as bar:
                verify_store(conninfo(app), _unique(trusted), args.tenant, progress=bar.update, report=report)
    for line in report.lines():
        print(line)
    return 0 if report.intact else 1


async def _published(fetch: Any, nats_url: str, tenants: list[str]) -> list[Checkpoint | str]:
    found: list[Checkpoint | str] = []
    for tenant in tenants:
        found += await fetch(nats_url, tenant)
    return found


def _unique(checkpoints: list[Checkpoint]) -> list[Checkpoint]:
    """The same checkpoint from the database and from NATS counts once; two that differ both count."""
    return list({(c.tenant, c.notification_id, c.hash, c.at, c.signature): c for c in checkpoints}.values())


def _tenants(app: Any, tenant: str | None) -> list[str]:
    if tenant is not None:
        return [tenant]
    with app.recorder.datastore.transaction(commit=False) as curs:
        return [row["tenant"] for row in curs.execute(f"SELECT tenant FROM {LIVE.heads.name} ORDER BY tenant").fetchall()]


def _position(app: Any) -> int:
    with app.recorder.datastore.transaction(commit=False) as curs:
        return curs.execute(f"SELECT coalesce(max(notification_id), 0) AS n FROM {LIVE.chain.name}_tracking").fetchone()["n"]


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from workers.audit_export import export, export_range

    key = _signing_key(settings)
    with endpoints(settings) as found, application(found) as app:
        span = export_range(app, args.tenant, args.since, args.until)
        out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115 - closed below
        try:
            with tqdm(total=span[2] if span else 0, desc=f"exporting {args.tenant}", unit="event", file=sys.stderr, disable=None) as bar:
                summary = export(app, args.tenant, out, key, stored=args.stored, since=args.since, until=args.until, progress=bar.update)
        finally:
            if args.output:
                out.close()
    rate = summary.events / summary.seconds if summary.seconds else 0
    log.info("exported %d events and %d checkpoints of %s (%.0f events/s)", summary.events, summary.checkpoints, args.tenant, rate)
    return 0


def _checkpoint(settings: Settings, args: argparse.Namespace) -> int:
    from workers.audit_checkpoints import checkpoint_now

    key = _signing_key(settings)
    with endpoints(settings) as found, application(found) as app:
        nats_url = settings.nats_url or _running_embedded_nats(settings.data_dir, "projector")
        signed = asyncio.run(checkpoint_now(app.recorder.datastore, nats_url, key, args.tenant))
    for checkpoint in signed:
        print(msgspec.json.encode(checkpoint).decode())
    if nats_url is None:
        log.warning("no NATS configured or running here: the checkpoints are recorded and the projector publishes them")
    return 0


def _figures(settings: Settings, args: argparse.Namespace) -> int:
    from projections.as_of import figures_as_of
    from projections.dashboard import DashboardProjection

    with endpoints(settings) as found, application(found) as app:
        total = count_tenant_events(app, args.tenant, DashboardProjection.topics, args.as_of)
        with tqdm(total=total, desc=f"replaying {args.tenant}", unit="event", file=sys.stderr, disable=None) as bar:
            figures = figures_as_of(app, args.tenant, args.as_of, args.ward, progress=bar.update)
    body = {"tenant": args.tenant, "as_of": args.as_of.isoformat(), "ward": args.ward, **msgspec.to_builtins(figures)}
    print(json.dumps(body, indent=2))
    return 0


def _sla_replay(settings: Settings, args: argparse.Namespace) -> int:
    try:
        policies = _policies(args.policies)
    except (Invalid, ValueError) as error:
        field = getattr(error, "field", None)
        return _fail(f"{args.policies}: {field + ': ' if field else ''}{getattr(error, 'message', error)}", 2)
    replay = SLAReplay(policies, args.since, args.until)
    with endpoints(settings) as found, application(found) as app:
        total = count_tenant_events(app, args.tenant, TICKET_TOPICS)
        with tqdm(total=total, desc=f"replaying {args.tenant}", unit="event", file=sys.stderr, disable=None) as bar:
            for batch in tenant_events(app, args.tenant, TICKET_TOPICS):
                for domain_event, _ in batch:
                    replay.apply(domain_event)
                bar.update(len(batch))
    rows = replay.rows(datetime.now(UTC))
    if args.json:
        print(json.dumps([_row_json(row) for row in rows], indent=2))
    else:
        _print_table(rows)
    return 0


def _public_key(settings: Settings, args: argparse.Namespace) -> int:
    print(_signing_key(settings).verify_key.pem, end="")
    return 0


# SLA replay input and output


def _policies(path: Path) -> list[Any]:
    """The policies file, checked as PUT /sla-policies checks a body."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_POLICIES_FILE + 1)
    except OSError as error:
        raise ValueError(f"cannot read it: {error.strerror or error}") from None
    if len(data) > MAX_POLICIES_FILE:
        raise ValueError(f"larger than {MAX_POLICIES_FILE} bytes")
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError as error:
        raise ValueError(f"not JSON ({error})") from None
    listed = raw.get("policies") if isinstance(raw, dict) else raw
    if not isinstance(listed, list) or not all(isinstance(p, dict) for p in listed):
        raise ValueError('give {"policies": [{...}, ...]}, as PUT /sla-policies takes')
    return [policy_from_definition(i, p) for i, p in enumerate(listed)]


def _row_json(row: Any) -> dict[str, Any]:
    def tally(t: Any) -> dict[str, Any]:
        return {"met": t.met, "breached": t.breached, "undecided": t.undecided, "compliance_percent": t.compliance_percent}

    return {"category": row.category, "priority": row.priority, "recorded": tally(row.recorded), "replayed": tally(row.replayed)}


def _print_table(rows: list[Any]) -> None:
    head = (
        f"{'category':<20} {'priority':<8} | {'recorded met':>12} {'breached':>8} {'%':>7} | {'replayed met':>12} {'breached':>8} {'%':>7}"
    )
    print(head)
    print("-" * len(head))

    def percent(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    for r in rows:
        rec, rep = r.recorded, r.replayed
        print(
            f"{r.category[:20]:<20} {r.priority[:8]:<8} | {rec.met:>12} {rec.breached:>8} {percent(rec.compliance_percent):>7} "
            f"| {rep.met:>12} {rep.breached:>8} {percent(rep.compliance_percent):>7}"
        )
    if not rows:
        print("(no tickets)")


# Reaching the NATS server a running `docket serve` started in the data dir


def _running_embedded_nats(data_dir: Path, user: str = "admin") -> str | None:
    """The URL of the embedded nats-server that `docket serve` runs on this data dir, as `user`;
    None when none runs there."""
    from workers.embedded import NATS_PID, PASSWORDS

    try:
        pid = int((data_dir / NATS_PID).read_text().strip())
        config = (data_dir / "nats-server.conf").read_text()
        passwords = json.loads((data_dir / PASSWORDS).read_text())
        Path(f"/proc/{pid}").stat()
    except (OSError, ValueError):
        return None
    port = re.search(r"^listen: 127\.0\.0\.1:(\d+)$", config, re.MULTILINE)
    if port is None or user not in passwords:
        return None
    return f"nats://{user}:{passwords[user]}@127.0.0.1:{port.group(1)}"
