"""The projections' loops run at a lower priority than the API, in threads of their own, and hand
back what they return or raise."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest

from workers.background import BACKGROUND_NICENESS, in_background_thread

LOWERED_BY = BACKGROUND_NICENESS if sys.platform == "linux" else 0  # only Linux sets a thread's own


def niceness_of_this_thread() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id() if sys.platform == "linux" else 0)


def test_work_runs_lowered_in_its_own_thread_and_the_callers_priority_stays():
    before = niceness_of_this_thread()

    def where_and_how_nice() -> tuple[str, int]:
        return threading.current_thread().name, niceness_of_this_thread()

    name, niceness = asyncio.run(in_background_thread(where_and_how_nice, name="docket-test"))
    assert (name, niceness) == ("docket-test", before + LOWERED_BY)
    assert niceness_of_this_thread() == before


def test_what_the_work_raises_reaches_the_awaiting_task():
    def fail(why: str) -> None:
        raise ValueError(why)

    with pytest.raises(ValueError, match="the projection broke"):
        asyncio.run(in_background_thread(fail, "the projection broke", name="docket-test"))


def test_a_cancelled_caller_leaves_the_work_to_finish_without_an_error_in_the_loop():
    finished = threading.Event()
    release = threading.Event()

    def slow() -> None:
        release.wait(5)
        finished.set()

    async def cancel_then_let_it_finish() -> list[dict]:
        problems: list[dict] = []
        asyncio.get_running_loop().set_exception_handler(lambda _, context: problems.append(context))
        task = asyncio.create_task(in_background_thread(slow, name="docket-test"))
        await asyncio.sleep(0.05)
        task.cancel()
        release.set()
        await asyncio.to_thread(finished.wait, 5)
        await asyncio.sleep(0.05)  # for the thread's settle callback to run
        return problems

    assert asyncio.run(cancel_then_let_it_finish()) == []
    assert finished.is_set()
