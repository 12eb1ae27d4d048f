"""`docket`: one command with a subcommand per process role and operator task."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable

import msgspec
from tqdm import tqdm

from api.auth import DEFAULT_TTL, issue_token
from domain.permissions import Role
from projections.operations import PROJECTIONS, REBUILD_BATCH, count_events, rebuild, status
from workers.asyncapi import print_document
from workers.audit_cli import add_audit_commands
from workers.bootstrap import application, endpoints
from workers.event_loop import tune_garbage_collector
from workers.notifier.cli import add_commands as add_notification_commands
from workers.serve import ROLES, CannotStart, run
from workers.settings import Settings, SettingsError, load_settings

log = logging.getLogger("docket")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"docket: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tune_garbage_collector()  # a rebuild or an export decodes as many events as a role does
    # Until a role installs its own handlers, SIGTERM unwinds like Ctrl-C, so embedded servers still stop.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return args.handler(settings, args) or 0
    except SettingsError as error:
        print(f"docket: {error}", file=sys.stderr)
        return 2
    except CannotStart as error:  # the embedded servers have stopped on the way out
        print(f"docket: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        log.info("interrupted")
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="docket", description="Docket: event-sourced ticket backend.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run every role together (embedded servers when no URLs)")
    serve.set_defaults(handler=lambda s, a: run(_with_workers(s, a), ROLES))
    roles = (("api", "the HTTP API"), ("projector", "the projections"), ("relay", "the relay to NATS"), ("scheduler", "the SLA scheduler"))
    for role, text in roles:
        sub = commands.add_parser(role, help=f"run only {text} against the configured servers")
        sub.set_defaults(handler=lambda s, a, role=role: run(_with_workers(s, a), (role,)))
    for with_api in (serve, commands.choices["api"]):
        with_api.add_argument("--workers", type=_positive_count, help="API processes (default DOCKET_API_WORKERS, else one per core)")

    add_notification_commands(commands, run)

    asyncapi = commands.add_parser("asyncapi", help="print the AsyncAPI document of the NATS subjects and buckets")
    asyncapi.set_defaults(handler=lambda s, a: print_document())

    token = commands.add_parser("token", help="print a signed bearer token")
    token.add_argument("--tenant", required=True)
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--sub", required=True, help="the caller's user id")
    token.add_argument("--ward")
    token.add_argument("--team")
    token.add_argument(
        "--ttl", type=_positive("a token's lifetime in seconds"), default=DEFAULT_TTL, help=f"lifetime in seconds (default {DEFAULT_TTL})"
    )
    token.set_defaults(handler=_token)

    projections = commands.add_parser("projections", help="inspect and rebuild read models")
    actions = projections.add_subparsers(required=True, metavar="ACTION")
    rebuild = actions.add_parser("rebuild", help="rebuild a read model from the event store beside the live one")
    rebuild.add_argument("name", choices=sorted(PROJECTIONS))
    rebuild.add_argument(
        "--processes",
        type=_positive("the number of processes"),
        help="processes that apply the stored events (default: one per core when there are many)",
    )
    rebuild.add_argument(
        "--batch",
        type=_positive("the events per transaction"),
        default=REBUILD_BATCH,
        help=f"events each process applies per transaction; memory grows with it (default {REBUILD_BATCH:,})",
    )
    rebuild.set_defaults(handler=_rebuild)
    show = actions.add_parser("status", help="each projection's position and lag")
    show.set_defaults(handler=_status)
    add_audit_commands(commands)
    return parser


def _positive(what: str) -> Callable[[str], int]:
    """A whole number the parser refuses (exit 2), before anything is set up, unless positive."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = 0
        if number <= 0:
            raise argparse.ArgumentTypeError(f"{what} must be a positive whole number, got {value!r}")
        return number

    return parse


def _with_workers(settings: Settings, args: argparse.Namespace) -> Settings:
    workers = getattr(args, "workers", None)
    return settings if workers is None else msgspec.structs.replace(settings, api_workers=workers)


def _positive_count(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {value!r}")
    return int(value)


def _token(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.jwt_secret:
        print(
            "docket: tokens come from the identity provider (DOCKET_JWT_JWKS_URL or DOCKET_JWT_JWKS_FILE is set);"
            " set DOCKET_JWT_SECRET as well to issue HS256 tokens here.",
            file=sys.stderr,
        )
        return 2
    token = issue_token(
        settings.jwt_secret,
        tenant=args.tenant,
        role=args.role,
        sub=args.sub,
        ward=args.ward,
        team=args.team,
        ttl=args.ttl,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    print(token)
    return 0


def _rebuild(settings: Settings, args: argparse.Namespace) -> int:
    with endpoints(settings) as found, application(found) as app:
        total = count_events(app, PROJECTIONS[args.name].topics)
        with tqdm(total=total, desc=f"rebuilding {args.name}", unit="event") as bar:
            position = rebuild(app, args.name, progress=bar.update, shares=args.processes, batch=args.batch)
    print(f"rebuilt {args.name} up to notification {position}")
    return 0


def _status(settings: Settings, args: argparse.Namespace) -> int:
    with endpoints(settings) as found, application(found) as app:
        for line in status(app):
            print(msgspec.json.encode(line).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
