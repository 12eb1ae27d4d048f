"""The relay through NATS outages: nats-server killed (SIGKILL) while acknowledgements are
outstanding, then started again on the same store, three times over. Commands go on meanwhile;
afterwards every event is on the stream exactly once and the relay is still publishing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time

from commands.app import TICKET_TOPICS
from commands.structs import OpenTicket
from commands.tickets import open_ticket
from projections.operations import events_after
from tests.nats_helpers import read_subject
from workers.embedded import NATS_PID, embedded_nats, nats_passwords, nats_server_binary, nats_users
from workers.relay import Relay, connect_nats

ROUNDS = 3


def open_many(app, actor, n):
    for i in range(n):
        open_ticket(app, OpenTicket(actor=actor("reporter", "c1"), title=f"Outage {i}", description="d", category="power"))


def kill_and_restart(data_dir, down_for: float) -> subprocess.Popen:
    """SIGKILL the server, wait, and start it again with the same config: same port, same store."""
    os.kill(int((data_dir / NATS_PID).read_text()), signal.SIGKILL)
    time.sleep(down_for)
    passwords = nats_passwords(data_dir)
    env = {variable: passwords[user] for user, variable in nats_users().items()}
    with open(data_dir / "nats-server.log", "ab") as log:
        return subprocess.Popen([nats_server_binary(), "-c", str(data_dir / "nats-server.conf")], env=env, stdout=log, stderr=log)


def test_the_relay_publishes_every_event_once_through_nats_being_killed_and_restarted(app, actor, tenant, database_url, tmp_path):
    data_dir = tmp_path / "nats"
    restarted: list[subprocess.Popen] = []
    with embedded_nats(data_dir) as server:

        async def scenario() -> tuple[list[int], list[int]]:
            client = await connect_nats(server.url_for("relay"), "relay-under-test")
            stop = asyncio.Event()
            relay = asyncio.create_task(Relay(app, database_url, client.jetstream()).run(stop))
            try:
                for round_ in range(ROUNDS):
                    await asyncio.to_thread(open_many, app, actor, 60)
                    await asyncio.sleep(0.05 * round_)  # the acks of the last batch still outstanding, or not
                    restarted.append(await asyncio.to_thread(kill_and_restart, data_dir, 1.0 + round_))
                    await asyncio.to_thread(open_many, app, actor, 20)  # commands go on while NATS is away
                stored = [t.notification_id for e, t in events_after(app, 0, TICKET_TOPICS, limit=1_000_000) if e.tenant == tenant]
                messages = await read_subject(server.url_for("admin"), f"docket.{tenant}.tickets.>", expected=len(stored), timeout=90)
                return stored, [int(m[1]["Nats-Msg-Id"]) for m in messages]
            finally:
                stop.set()
                await asyncio.wait_for(relay, 30)
                await client.close()

        try:
            stored, published = asyncio.run(scenario())
        finally:
            for process in restarted:
                process.terminate()
                process.wait(10)
    assert len(stored) == ROUNDS * 80
    assert published == stored
