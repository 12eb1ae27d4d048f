"""The API's handler threads are all running before the first request: none is started from the
event loop in a surge, which would hold the loop while each new thread waits for the GIL."""

from __future__ import annotations

import threading

from workers.api_server import handler_threads


def running_handler_threads() -> int:
    return sum(thread.name.startswith("docket-api") for thread in threading.enumerate())


def test_every_handler_thread_runs_as_soon_as_the_pool_is_made_and_a_surge_starts_none():
    before = running_handler_threads()
    pool = handler_threads(12)
    try:
        assert running_handler_threads() == before + 12
        release = threading.Event()
        surge = [pool.submit(release.wait) for _ in range(12)]
        assert running_handler_threads() == before + 12
        release.set()
        assert all(done.result() for done in surge)
    finally:
        pool.shutdown()
    assert running_handler_threads() == before
