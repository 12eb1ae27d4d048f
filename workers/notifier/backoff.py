"""How long a failed delivery waits before its next attempt."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# The longest a provider's Retry-After is honoured: a day-long one is a provider telling us to
# stop, and the attempts run out long before.
RETRY_AFTER_CAP = 3_600.0


def retry_delay(attempt: int, base: float, cap: float, retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """Seconds before the attempt after `attempt` (1 for the first). Exponential from `base`,
    at most `cap`, with jitter (equal jitter: half of it random) so that deliveries that failed
    together do not come back together. A provider's Retry-After is waited at least, with a
    little jitter of its own."""
    rng = rng or random.Random()
    if retry_after is not None:
        wait = min(max(retry_after, 0.0), max(cap, RETRY_AFTER_CAP))
        return wait + rng.uniform(0, min(1.0, base))
    full = min(cap, base * 2 ** min(max(attempt, 1) - 1, 60))
    return full / 2 + rng.uniform(0, full / 2)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header in seconds: a number of seconds, or an HTTP date; None when absent or
    unreadable (then the backoff decides)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
