"""Work that can wait yields the CPU to work that cannot.

The projections' loops catch up with the event store; a request is someone waiting. Where both
share a machine (`docket serve` runs them all), each projection loop runs in a thread of its own
at a lower priority (niceness + BACKGROUND_NICENESS, on Linux), so that under more commands than
the machine can take the API answers and refuses first, and the read models catch up in bigger
batches a moment later. On a machine of their own, the lowered priority changes nothing: nothing
else asks for the CPU.

Only the loops' own threads are lowered: the API processes this process starts keep its priority,
and a thread's priority, once lowered, cannot be raised again without privilege.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

BACKGROUND_NICENESS = 10


async def in_background_thread(work: Callable[..., T], *args: Any, name: str) -> T:
    """work(*args) in a new thread named `name`, at the background priority; its result or error."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # its caller was cancelled
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        lower_this_threads_priority()
        try:
            result = work(*args)
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting task
            loop.call_soon_threadsafe(settle, None, error)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await future


def lower_this_threads_priority() -> None:
    """The calling thread's niceness raised by BACKGROUND_NICENESS (Linux sets it per thread)."""
    if sys.platform != "linux":  # elsewhere a thread's id is no process id, and the call would miss
        return
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + BACKGROUND_NICENESS)
    except OSError as error:
        log.info("could not lower the priority of thread %s (%s); it runs at the process's", threading.current_thread().name, error)
