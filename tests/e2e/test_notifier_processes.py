"""`docket notifier` as separate processes, as compose runs them, as their own NATS user with the
production permissions: a notifier killed with SIGKILL in the middle of a burst and started again
tells every recipient exactly once; two notifiers share a burst and tell nobody twice; and
`docket notifications retry` and `status` do what they say."""

from __future__ import annotations

import random
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from commands.structs import ChangeStatus, OpenTicket, Reporter
from commands.tickets import change_status, open_ticket
from tests.e2e.processes import Service, docket, roles_env
from tests.notify_servers import PHONE_NUMBER_ID, WHATSAPP_TOKEN, Providers, eventually
from tests.notify_stack import FromNowRelay, Stack, deliveries, settled
from workers.embedded import embedded_nats, free_port

pytestmark = pytest.mark.e2e

BURST = 300


@pytest.fixture
def private_nats(tmp_path):
    """A NATS server of this test's own, with Docket's users: the notifiers' durable consumer
    starts with this test's events, and each role has only its own permissions."""
    with embedded_nats(tmp_path / "nats") as server:
        yield server


@pytest.fixture
def providers():
    with Providers() as running:
        running.delay = 0.003  # a provider's round trip: some requests are in flight when the notifier dies
        yield running


def notifier_env(tmp_path, database_url, private_nats, providers, **extra):
    settings = {
        "DOCKET_NATS_URL": private_nats.url_for("notifier"),
        "DOCKET_WHATSAPP_URL": f"{providers.base_url}/v21.0",
        "DOCKET_WHATSAPP_TOKEN": WHATSAPP_TOKEN,
        "DOCKET_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "DOCKET_NOTIFY_TIMEOUT": "1",
        "DOCKET_NOTIFY_BACKOFF_SECONDS": "0.05",
        "DOCKET_NOTIFY_ACK_WAIT_SECONDS": "3",
        "DOCKET_NOTIFY_RATE_WHATSAPP": "500",
        "DOCKET_NOTIFY_CONCURRENCY": "16",
    }
    return roles_env(tmp_path, database_url, free_port(), **{**settings, **extra})


def start_notifier(env, tmp_path, name) -> Service:
    service = Service(["notifier"], env, tmp_path / f"{name}.log")
    service.wait_for_log(r"notifier consumes docket\.\*\.tickets\.> through durable consumer notifier")
    return service


def burst(app, actor, count):
    """`count` tickets opened, each reporter with a phone of their own; returns a function that
    moves them all (from 8 threads, as a busy API would) and the phones."""
    phones = [f"+2783{random.randrange(10**7):07d}" for _ in range(count)]
    tickets = [
        open_ticket(
            app, OpenTicket(actor=actor("reporter", f"r{i}"), title="Leak", description="d", category="water", reporter=Reporter(phone=p))
        )
        for i, p in enumerate(phones)
    ]

    def move_all():
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda t: change_status(app, ChangeStatus(actor=actor(), ticket_id=t.id, status="in_progress")), tickets))

    return move_all, phones


def exactly_once(providers, phones):
    told = {phone: len(providers.accepted("whatsapp", phone)) for phone in phones}
    return all(count == 1 for count in told.values()), told


def test_a_notifier_killed_in_the_middle_of_a_burst_and_started_again_tells_everyone_exactly_once(
    app, actor, tenant, engine, database_url, private_nats, providers, tmp_path
):
    env = notifier_env(tmp_path, database_url, private_nats, providers)
    move_all, phones = burst(app, actor, BURST)
    with Stack(app, database_url, private_nats.url_for("relay"), FromNowRelay), settled(engine, tenant):
        first = start_notifier(env, tmp_path, "first")
        try:
            move_all()
            assert eventually(lambda: len(providers.accepted("whatsapp")) >= BURST // 3, timeout=30)
            first.kill()
            killed_at = len(providers.accepted("whatsapp"))
            assert killed_at < BURST, "the notifier finished before it could be killed"
            second = start_notifier(env, tmp_path, "second")
            try:
                assert eventually(lambda: exactly_once(providers, phones)[0], timeout=60), exactly_once(providers, phones)[1]
                records = [d for d in deliveries(engine, tenant) if d["event"] == "StatusChanged"]
                assert eventually(lambda: all(d["status"] == "sent" for d in deliveries(engine, tenant)), timeout=20)
            finally:
                second.terminate()
        finally:
            if first.process.poll() is None:
                first.kill()
    assert len(records) == BURST and len({d["id"] for d in records}) == BURST
    repeats = [r for r in providers.requests("whatsapp") if r.repeat]
    # What the killed notifier had in flight may reach the provider again, under the same key: at
    # most one request per send it had started.
    assert len(repeats) <= 16, len(repeats)
    assert all(r.key for r in providers.requests("whatsapp"))
    print(f"killed after {killed_at} of {BURST}; {len(repeats)} requests repeated under their idempotency key")


def test_two_notifiers_share_a_burst_and_tell_nobody_twice_and_the_cli_retries_and_counts(
    app, actor, tenant, engine, database_url, private_nats, providers, tmp_path
):
    # Time enough for the provider to answer on a busy machine: a request given up on and sent again
    # reaches the recipient once (its idempotency key), but counts as a repeat, which this test refuses.
    env = notifier_env(tmp_path, database_url, private_nats, providers, DOCKET_NOTIFY_TIMEOUT="10")
    move_all, phones = burst(app, actor, BURST // 2)
    providers.fail("whatsapp", 400, body={"error": {"message": "(#131026) Message undeliverable", "code": 131026}})
    with Stack(app, database_url, private_nats.url_for("relay"), FromNowRelay), settled(engine, tenant):
        pair = [start_notifier(env, tmp_path, "one"), start_notifier(env, tmp_path, "two")]
        try:
            move_all()
            dead = eventually(lambda: [d for d in deliveries(engine, tenant) if d["status"] == "dead"], timeout=30)
            assert len(dead) == 1 and "131026" in dead[0]["last_error"]
            assert eventually(lambda: sum(len(providers.accepted("whatsapp", p)) for p in phones) == len(phones) - 1, timeout=60)
            retried = docket("notifications", "retry", str(dead[0]["id"]), env=env)
            assert '"queued":true' in retried
            assert eventually(lambda: exactly_once(providers, phones)[0], timeout=30), exactly_once(providers, phones)[1]
            assert eventually(lambda: all(d["status"] == "sent" for d in deliveries(engine, tenant)), timeout=20)
            status = docket("notifications", "status", env=env)
            assert re.search(r'\{"status":"sent","channel":"whatsapp","count":\d+\}', status)
            assert '"consumer": "notifier", "lag": 0' in status
        finally:
            for service in pair:
                assert service.terminate() == 0
    sent = [int(re.search(r"notifier stopped after sending (\d+) deliveries", s.text()).group(1)) for s in pair]
    assert all(n > 0 for n in sent) and sum(sent) == len(phones), sent  # shared, and each message once
    assert not [r for r in providers.requests("whatsapp") if r.repeat]
