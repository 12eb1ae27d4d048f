"""Two `docket scheduler` processes: one active, one standing by; kill the active one."""

from __future__ import annotations

import time

import pytest

from commands.loading import load_ticket
from commands.sla import set_sla_policies
from commands.structs import OpenTicket, SetSLAPolicies
from commands.tickets import open_ticket
from tests.conftest import CIPHER_KEY
from tests.e2e.processes import Service, docket_env

pytestmark = pytest.mark.e2e

DEADLINE_SECONDS = 15


def test_when_the_active_scheduler_dies_the_standby_takes_over_within_seconds_and_fires(
    app, actor, database_url, nats_server, projected, tmp_path
):
    hours = DEADLINE_SECONDS / 3600
    set_sla_policies(app, SetSLAPolicies(actor=actor("admin"), policies=[{"id": "fast", "response_hours": hours}]))
    opened = open_ticket(app, OpenTicket(actor=actor("reporter", "c1"), title="Gas smell", description="Near the school", category="gas"))
    projected()
    env = docket_env(
        tmp_path, DOCKET_DATABASE_URL=database_url, DOCKET_NATS_URL=nats_server.url_for("scheduler"), DOCKET_CIPHER_KEY=CIPHER_KEY
    )
    active = Service(["scheduler"], env, tmp_path / "active.log")
    active.wait_for_log("is the active SLA scheduler")
    standby = Service(["scheduler"], env, tmp_path / "standby.log")
    try:
        standby.wait_for_log("stands by")
        active.kill()
        killed = time.monotonic()
        standby.wait_for_log("is the active SLA scheduler", timeout=15)
        assert time.monotonic() - killed < 5
        standby.wait_for_log(f"ticket {opened.id} .* breached its response deadline", timeout=DEADLINE_SECONDS + 30)
    finally:
        assert standby.terminate() == 0
    ticket = load_ticket(app.repository, opened.id)
    assert (ticket.sla_breached, ticket.escalation_level) == ({"response"}, 1)
    assert "breached" not in active.text()
