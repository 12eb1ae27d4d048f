"""How long a request may be held, and how many commands may wait at once.

A command (POST, PUT, PATCH, DELETE) beyond `max_waiting_commands` in this process is refused at
once, 503 `overloaded`, before it takes a handler thread: an unbounded queue makes every command
slow where refusing some keeps the rest fast. (The command runner keeps the same bound for callers
that are not HTTP.)

Every request is answered within `db_timeout` + GRACE seconds of its last byte: a handler's thread
cannot be stopped, but its caller stops waiting for it and is answered 503 `database_unavailable`.
The command runner's own bound, `db_timeout` from the command's call, comes first and says whether
the command was saved; this one answers what waits elsewhere, such as a query on a connection to a
server that has stopped answering, which no timeout of the client library ends. A response that
has begun (a download) and a body still arriving are not cut.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import RETRY_DATABASE, RETRY_OVERLOADED
from commands.errors import DatabaseUnavailable, Overloaded
from commands.runner import MAX_WAITING, TIMEOUT

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
GRACE = 0.5  # after db_timeout, for the command runner's answer to arrive first
READ_TIMED_OUT = "The database did not answer in time; try again shortly."


@dataclass(frozen=True)
class Limits:
    db_timeout: float = TIMEOUT
    max_waiting_commands: int = MAX_WAITING


class _Commands:
    """Commands this process is handling: one count for every route's middleware."""

    def __init__(self) -> None:
        self.count = 0


def request_limits(limits: Limits) -> Callable[..., ASGIApp]:
    """Litestar middleware (it wraps each route) enforcing `limits`."""
    commands = _Commands()
    bound = limits.db_timeout + GRACE

    def middleware(app: ASGIApp) -> ASGIApp:
        async def limited(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            write = scope["method"] in WRITES
            if not write:
                await answer_within(bound, app, scope, receive, send, write)
                return
            if commands.count >= limits.max_waiting_commands:
                await send_error(send, "overloaded", Overloaded.message, RETRY_OVERLOADED)
                return
            commands.count += 1
            answered = False

            def counted_out() -> None:
                nonlocal answered
                if not answered:
                    answered = True
                    commands.count -= 1

            try:
                # Out of the count once its answer is sent, not once the handler's task ends: the
                # client may have sent its next command by then, which would count twice.
                await answer_within(bound, app, scope, receive, send, write, on_answered=counted_out)
            finally:
                counted_out()

        return limited

    return middleware


async def answer_within(
    bound: float, app: ASGIApp, scope: Scope, receive: Receive, send: Send, write: bool, on_answered: Callable[[], None] = lambda: None
) -> None:
    """Runs the app in this task under a deadline `bound` seconds away, counted afresh from the
    body's last byte, none while a body arrives or once the answer has begun; past it the app is
    cancelled and 503 answered. (The same task, not one of its own: a task and a wait per request
    cost the loop more than the bound's bookkeeping.)"""
    loop = asyncio.get_running_loop()
    limit = asyncio.timeout(bound)
    started = False

    def bound_again(when: float | None) -> None:
        if not started and not limit.expired():
            limit.reschedule(when)

    async def receiving() -> Message:
        bound_again(None)
        message = await receive()
        if not (message["type"] == "http.request" and message.get("more_body", False)):
            bound_again(loop.time() + bound)
        return message

    async def sending(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            bound_again(None)
            started = True
        await send(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            on_answered()

    try:
        async with limit:
            await app(scope, receiving, sending)
        return
    except TimeoutError:
        if not limit.expired():
            raise  # the app's own
    if not started:  # the deadline passed before an answer began
        await send_error(send, "database_unavailable", DatabaseUnavailable(saved=None).message if write else READ_TIMED_OUT, RETRY_DATABASE)


async def send_error(send: Send, code: str, message: str, retry_after: int) -> None:
    """A 503 in the API's error shape, sent without the framework: the handler is not involved."""
    body = msgspec.json.encode({"status_code": 503, "code": code, "message": message})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after).encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})
