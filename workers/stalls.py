"""One line when a wait on NATS starts failing and one when it next succeeds, however many attempts
fail between: an outage of minutes should not bury the log in a line per retry or per message."""

from __future__ import annotations

import logging
import time
from typing import Any


class StallLog:
    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.since: float | None = None  # monotonic time of the first failure of this stall

    @property
    def stalled(self) -> bool:
        return self.since is not None

    def failed(self, message: str, *args: Any) -> bool:
        """Logs the failure as a warning if it begins a stall, else at debug; True if it began one."""
        if self.since is not None:
            self.log.debug(message, *args)
            return False
        self.since = time.monotonic()
        self.log.warning(message, *args)
        return True

    def succeeded(self, message: str, *args: Any) -> bool:
        """Ends a stall, logging the message and how long the stall lasted; True if one ended."""
        if self.since is None:
            return False
        self.log.info(message + " after %.1fs stalled", *args, time.monotonic() - self.since)
        self.since = None
        return True
