"""SIGTERM to `docket serve` under load: it stops taking requests, finishes the commands in flight,
lets the projector and the relay reach the last event committed, and exits 0, having lost nothing
it acknowledged."""

from __future__ import annotations

import signal
import time
from uuid import UUID

import pytest
from sqlalchemy import select

from commands.app import TICKET_TOPICS, Docket, eventsourcing_env
from projections.operations import RELAY, head_of, tracking_recorder
from projections.sql import engine_for
from projections.ticket_tables import LIVE
from tests.conftest import CIPHER_KEY
from tests.e2e.processes import Service, roles_env
from tests.e2e.test_kill_under_load import Load
from tests.e2e.test_serve import eventually
from tests.servers import fresh_database
from workers.embedded import free_port

pytestmark = pytest.mark.e2e

STOP_TIMEOUT = 10  # DOCKET_STOP_TIMEOUT, its default
DB_TIMEOUT = 5  # DOCKET_DB_TIMEOUT, its default


def test_sigterm_under_load_exits_0_with_every_acknowledged_change_stored_projected_and_relayed(settings, tmp_path, tenant):
    with fresh_database(settings.database_url, tmp_path / "pg") as database_url:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        serve = Service(["serve"], roles_env(tmp_path / "data", database_url, port, DOCKET_API_WORKERS="2"), tmp_path / "serve.log")
        try:
            serve.wait_healthy(base)
            with Load(base, tenant) as load:
                assert eventually(lambda: len(load.acknowledged) >= 40, timeout=60), "the load never got going"
                began = time.monotonic()
                serve.process.send_signal(signal.SIGTERM)
                code = serve.process.wait(60)
                took = time.monotonic() - began
            assert code == 0, serve.text()
            # The API's requests, then the followers: each within its bound, with room for exiting.
            assert took < STOP_TIMEOUT + DB_TIMEOUT + STOP_TIMEOUT, serve.text()
            assert "caught up with the last committed event" in serve.text()
            acknowledged = dict(load.acknowledged)
        finally:
            if serve.process.poll() is None:
                serve.kill()

        app = Docket(env=eventsourcing_env(database_url, CIPHER_KEY))
        engine = engine_for(database_url, pool_size=1)
        try:
            for ticket_id, version in acknowledged.items():
                assert app.repository.get(UUID(ticket_id)).version >= version
            with engine.connect() as conn:
                rows = conn.execute(select(LIVE.tickets.c.id, LIVE.tickets.c.version).where(LIVE.tickets.c.tenant == tenant)).all()
            projected = {str(ticket_id): version for ticket_id, version in rows}
            assert all(projected.get(ticket_id, 0) >= version for ticket_id, version in acknowledged.items())
            relayed = tracking_recorder(app.recorder.datastore, RELAY).max_tracking_id(app.name) or 0
            assert relayed >= head_of(app, TICKET_TOPICS)
        finally:
            engine.dispose()
            app.close()
