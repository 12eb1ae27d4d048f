"""Why a command was not answered that are no refusal of the domain's: the database did not answer
in time, or the process already holds as many commands as it may. The API answers both with 503
and Retry-After; neither message names a host, a port or anything else of the database's."""

from __future__ import annotations

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

# What a database that is down, unreachable, stopped or too slow raises: eventsourcing's wrappers,
# and psycopg's own (a pool timeout, a statement or lock timeout, a lost connection among them).
DATABASE_DOWN = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)


class Overloaded(Exception):
    """The process holds as many commands as it may (DOCKET_MAX_WAITING_COMMANDS): refused before
    deciding, so nothing was saved."""

    message = "Too many commands are waiting to be saved; nothing was saved: try again in a moment."


class DatabaseUnavailable(Exception):
    """The database did not answer within the bound. `saved` is False when the command certainly
    was not saved (it never reached a transaction), None when it may have been: its transaction
    was under way, and a transaction cut short may still have committed."""

    def __init__(self, saved: bool | None) -> None:
        super().__init__("not saved" if saved is False else "outcome unknown")
        self.saved = saved

    @property
    def message(self) -> str:
        if self.saved is False:
            return "The database did not answer in time; nothing was saved: try again shortly."
        return "The database did not answer in time; the change may or may not have been saved: check before trying again."
