from __future__ import annotations

import asyncio

import msgspec
import nats
from nats.errors import TimeoutError as NatsTimeout

from workers.relay import ensure_stream


async def read_subject(url: str, subject: str, expected: int, timeout: float = 15.0) -> list[tuple[str, dict, dict]]:
    """Every message on `subject` in DOCKET_EVENTS, waiting until `expected` have arrived (and a little more)."""
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        await ensure_stream(js)
        sub = await js.subscribe(subject, ordered_consumer=True)
        messages = []
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            wait = 0.5 if len(messages) >= expected else 1.0
            try:
                msg = await sub.next_msg(timeout=wait)
            except NatsTimeout:
                if len(messages) >= expected:
                    break
                continue
            messages.append((msg.subject, dict(msg.headers or {}), msgspec.json.decode(msg.data)))
        return messages
    finally:
        await client.close()
