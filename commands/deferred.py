"""Commands whose callers wait for their commit on an event loop, not in a thread.

A command decides in a thread (it may load from the database), then waits for the committer. A
thread that waits holds nothing but itself, yet its waking costs: the committer wakes it, it takes
the interpreter lock to return, and the event loop is woken in turn to answer. Under load those
hand-offs are a large part of what an API process spends on a command. `run_deferred` decides in
a handler thread as before, but the thread returns once the command is queued; the loop awaits
the commit itself. The committer hands each answer to the loop (`call_soon_threadsafe`), whose
wake-ups coalesce: the answers of one batch wake it about once, not a thread each.
What the caller hears is the same: the same answer, refusal or DatabaseUnavailable, within the
same bound, counted against the same limit of waiting commands until it is answered. A use case
whose answer does more than shape the reply (erasing a reporter deletes a key) is not deferred:
its answer would run on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from commands.metrics import observe_command

if TYPE_CHECKING:
    from commands.runner import CommandRunner, Job

T = TypeVar("T")

# The event loop whose caller awaits the commands run in this context (a handler thread's).
deferring: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar("deferring", default=None)


async def run_deferred(call: Callable[[], T]) -> T:
    """What `call` (a use case) answers: decided in a handler thread, its commit awaited here."""
    loop = asyncio.get_running_loop()
    decided = await loop.run_in_executor(None, _deferred, loop, call)
    return await decided.outcome() if isinstance(decided, Pending) else decided


def _deferred(loop: asyncio.AbstractEventLoop, call: Callable[[], Any]) -> Any:
    token = deferring.set(loop)
    try:
        return call()
    finally:
        deferring.reset(token)


def wake(loop: asyncio.AbstractEventLoop, answered: asyncio.Future[None]) -> None:
    """From the thread that answered a job: its waiter's loop is told (a loop that has closed, its
    process stopping, has no one left to tell)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(functools.partial(_set, answered))


def _set(answered: asyncio.Future[None]) -> None:
    if not answered.done():
        answered.set_result(None)


class Counted:
    """A command from its admission to its answer: counted among the waiting, then in the metrics."""

    def __init__(self, runner: CommandRunner, name: str) -> None:
        self.runner, self.name = runner, name
        self.began = time.perf_counter()
        self.admitted = False

    def admit(self) -> None:
        """Counted among the waiting; Overloaded when they are as many as the runner holds."""
        self.runner._admit()
        self.admitted = True

    def settle(self, answer: T) -> T:
        self._end(None)
        return answer

    def settle_error(self, error: BaseException) -> None:
        self._end(error)

    def _end(self, error: BaseException | None) -> None:
        if self.admitted:
            self.runner._release()
        observe_command(self.name, error, time.perf_counter() - self.began)


class Pending(Generic[T]):
    """A command decided and queued; `outcome()`, on the loop that deferred it, is its answer."""

    def __init__(self, job: Job[Any], answer: Callable[[Any, int | None], T], answered: asyncio.Future[None], counted: Counted) -> None:
        self.job, self.answer, self.answered, self.counted = job, answer, answered, counted

    async def outcome(self) -> T:
        runner = self.counted.runner
        try:
            try:
                await asyncio.wait_for(asyncio.shield(self.answered), max(self.job.deadline - time.monotonic(), 0))
            except TimeoutError:
                runner._give_up(self.job)
            return self.counted.settle(runner._answered(self.job, self.answer))
        except BaseException as error:
            self.counted.settle_error(error)
            raise
