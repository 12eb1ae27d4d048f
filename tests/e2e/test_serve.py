"""`docket serve` on the embedded defaults, driven over HTTP and watched over NATS."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from projections.operations import PROJECTIONS
from tests.e2e.processes import DOCKET, ROOT, Service, docket, docket_env
from tests.nats_helpers import read_subject
from workers.embedded import free_port

pytestmark = pytest.mark.e2e


def port_answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def eventually(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def test_serve_takes_a_ticket_from_http_to_the_read_model_and_nats_and_keeps_it_across_a_restart(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = docket_env(tmp_path / "data", DOCKET_HTTP_PORT=str(port))
    serve = Service(["serve"], env, tmp_path / "serve.log")
    try:
        serve.wait_healthy(base)
        nats_url = serve.nats_url(tmp_path / "data")
        reporter = {"Authorization": "Bearer " + docket("token", "--tenant", "city", "--role", "reporter", "--sub", "ann", env=env).strip()}
        manager = {"Authorization": "Bearer " + docket("token", "--tenant", "city", "--role", "manager", "--sub", "bo", env=env).strip()}

        opened = httpx.post(
            f"{base}/api/v1/tickets", json={"title": "Pothole", "description": "Deep", "category": "roads"}, headers=reporter
        )
        assert opened.status_code == 201, opened.text
        ticket_id = opened.json()["id"]
        changed = httpx.patch(f"{base}/api/v1/tickets/{ticket_id}/status", json={"status": "in_progress"}, headers=manager)
        assert changed.status_code == 200, changed.text

        def listed():
            items = httpx.get(f"{base}/api/v1/tickets", params={"status": "in_progress"}, headers=manager).json()["items"]
            return [t for t in items if t["id"] == ticket_id]

        assert eventually(listed), "the ticket never reached the list"
        history = httpx.get(f"{base}/api/v1/tickets/{ticket_id}/history", headers=manager).json()["items"]
        assert [(e["event"], e["actor"]) for e in history] == [("Opened", "ann"), ("StatusChanged", "bo")]

        messages = asyncio.run(read_subject(nats_url, "docket.city.tickets.>", expected=2))
        assert [m[2]["event"] for m in messages] == ["Opened", "StatusChanged"]
        assert {m[2]["ticket_id"] for m in messages} == {ticket_id}

        rebuilt = docket("projections", "rebuild", "tickets", "--processes", "2", "--batch", "500", env=env)  # as a big store is
        assert "rebuilt tickets up to notification" in rebuilt
        assert listed()
        status = subprocess.run([*DOCKET, "projections", "status"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert status.returncode == 0, status.stderr
        assert f"attaching to the embedded PostgreSQL already running in {tmp_path / 'data' / 'postgres'}" in status.stderr
        assert "starting embedded PostgreSQL" not in status.stderr

        assert serve.terminate() == 0
        assert "stopped" in serve.text()

        serve = Service(["serve"], env, tmp_path / "serve-again.log")
        serve.wait_healthy(base)
        again = httpx.get(f"{base}/api/v1/tickets/{ticket_id}", headers=manager)
        assert (again.status_code, again.json()["status"]) == (200, "in_progress")
        first = opened.json()["tracking_number"]
        later = httpx.post(f"{base}/api/v1/tickets", json={"title": "Leak", "description": "d", "category": "water"}, headers=reporter)
        # A restarted process reserves a new block of numbers: later, never the same (gaps allowed).
        assert later.json()["tracking_number"] > first
        nats_url = serve.nats_url(tmp_path / "data")
        messages = asyncio.run(read_subject(nats_url, "docket.city.tickets.>", expected=3))
        assert [m[2]["event"] for m in messages] == ["Opened", "StatusChanged", "Opened"]
        assert serve.terminate() == 0
    finally:
        if serve.process.poll() is None:
            serve.kill()


def test_serve_stops_with_a_clear_message_and_no_server_left_running_when_its_port_is_taken(tmp_path):
    data = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run(
            [*DOCKET, "serve"], env=docket_env(data, DOCKET_HTTP_PORT=str(port)), cwd=ROOT, capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - started < 120
    assert f"docket: cannot listen on 127.0.0.1:{port}: address already in use" in result.stderr
    assert eventually(lambda: not servers_of(data), timeout=5), servers_of(data)


def servers_of(data_dir: Path) -> list[str]:
    """The processes (nats-server, postgres) still running on files in the data dir."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(data_dir) in cmdline:
            found.append(cmdline)
    return found


def test_serve_started_again_after_a_sigkill_stops_the_nats_server_the_killed_one_left_on_its_store(tmp_path):
    from workers.embedded import NATS_PID

    data = tmp_path / "data"
    port = free_port()
    env = docket_env(data, DOCKET_HTTP_PORT=str(port))
    base = f"http://127.0.0.1:{port}"
    serve = Service(["serve"], env, tmp_path / "serve.log")
    again = None
    try:
        serve.wait_healthy(base)
        left = psutil.Process(int((data / NATS_PID).read_text()))
        serve.kill()  # SIGKILL: docket cannot stop the nats-server it runs in its own session
        assert left.is_running()
        assert eventually(lambda: not port_answers(port)), "the killed serve's other API process kept the port"
        again = Service(["serve"], env, tmp_path / "serve-again.log")
        again.wait_healthy(base)
        assert "left running on" in again.text()
        assert not left.is_running() or left.status() == psutil.STATUS_ZOMBIE
        assert int((data / NATS_PID).read_text()) != left.pid
        assert again.terminate() == 0
    finally:
        for service in (serve, again):
            if service is not None and service.process.poll() is None:
                service.kill()
        postmaster = data / "postgres" / "postmaster.pid"
        if postmaster.exists():  # the killed docket's PostgreSQL, which the second one attached to
            psutil.Process(int(postmaster.read_text().split()[0])).terminate()


@contextlib.contextmanager
def serve_with_two_api_processes(tmp_path: Path, **extra: str) -> Iterator[tuple[Service, str, dict[str, str]]]:
    """`docket serve` with DOCKET_API_WORKERS=2, healthy; its base URL and environment."""
    port = free_port()
    env = docket_env(tmp_path / "data", DOCKET_HTTP_PORT=str(port), DOCKET_API_WORKERS="2", **extra)
    base = f"http://127.0.0.1:{port}"
    serve = Service(["serve"], env, tmp_path / "serve.log")
    try:
        serve.wait_healthy(base)
        yield serve, base, env
    finally:
        if serve.process.poll() is None:
            serve.kill()


def test_metrics_add_up_the_commands_of_every_api_process(tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    with serve_with_two_api_processes(tmp_path) as (serve, base, env):
        reporter = {"Authorization": "Bearer " + docket("token", "--tenant", "city", "--role", "reporter", "--sub", "ann", env=env).strip()}
        for n in range(20):  # a connection each, so that both processes take some
            answer = httpx.post(
                f"{base}/api/v1/tickets", json={"title": f"Leak {n}", "description": "d", "category": "water"}, headers=reporter
            )
            assert answer.status_code == 201, answer.text
        families = text_string_to_metric_families(httpx.get(f"{base}/metrics").text)
        opened = sum(
            sample.value
            for family in families
            for sample in family.samples
            if sample.name == "docket_commands_total" and sample.labels == {"command": "open_ticket", "outcome": "ok"}
        )
        assert opened == 20
        assert serve.terminate() == 0


def api_processes(serve: Service) -> set[int]:
    """The API processes `docket serve` started: every one of them beside the process that follows the event store."""
    found = set()
    for child in psutil.Process(serve.process.pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.Error:  # gone, or a zombie not reaped yet
            pass
    return found


def thread_priorities(pid: int) -> list[int]:
    priorities = []
    for thread in psutil.Process(pid).threads():
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            priorities.append(os.getpriority(os.PRIO_PROCESS, thread.id))
    return priorities


def test_an_api_process_killed_under_serve_is_named_in_the_log_and_the_api_comes_back(tmp_path):
    with serve_with_two_api_processes(tmp_path, DOCKET_PROJECTION_NICE="7") as (serve, base, _):
        first = api_processes(serve)
        assert len(first) == 2
        killed = min(first)
        psutil.Process(killed).kill()

        def back() -> bool:
            now = api_processes(serve)
            return len(now) == 2 and not now & first and port_answers(httpx.URL(base).port)

        assert eventually(back, timeout=30), api_processes(serve)
        serve.wait_healthy(base)
        # The projections' threads, and only theirs, run below the API: restarted API processes too.
        started_at = os.getpriority(os.PRIO_PROCESS, serve.process.pid)
        lowered = min(started_at + 7, 19)
        assert thread_priorities(serve.process.pid).count(lowered) == len(PROJECTIONS)
        assert set(thread_priorities(serve.process.pid)) == {started_at, lowered}
        for pid in api_processes(serve):
            assert set(thread_priorities(pid)) == {started_at}
        assert f"api failed (API process {killed} ended (exit code -9)); restarting" in serve.text()
        assert serve.terminate() == 0
        assert "did not stop within" not in serve.text()  # each was joined once: none taken for alive after it ended
