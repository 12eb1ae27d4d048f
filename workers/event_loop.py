"""The event loop the long-running roles run on: uvloop where it is installed (uvicorn's standard
extra brings it on Linux and macOS), else asyncio's own. uvloop spends a fraction of the CPU per
socket wait and write, which is most of what an API process does besides its handlers.

The garbage collector is tuned for a process that allocates many short-lived objects (an event
decoded, a row, a request) beside a large heap that lives for ever (modules, caches, pools):
what is there at the start is frozen out of every collection, and the youngest generation is
collected after many more allocations than Python's default 700. With the defaults, collections
that walk the whole heap took about half of the time spent decoding events."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

# Allocations (less deallocations) between collections of the youngest generation, and collections
# of each generation between collections of the next.
GC_THRESHOLDS = (20_000, 20, 20)


def run(main: Coroutine[Any, Any, T]) -> T:
    tune_garbage_collector()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        log.info("uvloop is not installed: running on asyncio's own event loop")
        return None
    return uvloop.new_event_loop


def tune_garbage_collector() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
