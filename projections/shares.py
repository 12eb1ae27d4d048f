"""A rebuild's first pass spread over processes, each applying its share of the aggregates.

A projection whose `shared_topics` events change only their own aggregate's rows (a ticket's
events: its row, its history, its replies) may apply them in any order from one aggregate to
the next, as long as each aggregate's events keep theirs. So each worker process reads the
events of the aggregates that hash to it, in order, decodes them and writes their rows in its own
transactions; the events of every other topic (configuration, teams) go to the first worker. The
shadow tables have no tracking position of their own meanwhile: a rebuild that fails is started
again from nothing. The rebuild then catches up on what was stored since, in one process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import Notification
from psycopg.sql import SQL, Identifier

from commands.app import Docket

log = logging.getLogger(__name__)

MIN_EVENTS = 20_000  # below this, starting the processes costs more than sharing the work saves
MAX_SHARES = 8
POLL = 0.5  # seconds between looks at whether a worker died without a word


class RebuildFailed(RuntimeError):
    """A worker of a shared rebuild failed or died: the rebuild stops; the live tables are untouched."""


def shares_for(projection_class: Any, events: int, asked: int | None = None) -> int:
    """How many processes the first pass over this many events takes: as many as asked, else one
    per core when there are many events; one for a projection whose events cannot be shared out
    (a dashboard's counts add up many tickets' events)."""
    if not projection_class.shared_topics:
        if asked and asked > 1:
            log.info("projection %s is rebuilt in one process: its events cannot be shared out", projection_class.name)
        return 1
    if asked:
        return asked
    return 1 if events < MIN_EVENTS else max(1, min(os.cpu_count() or 1, MAX_SHARES))


def replay_in_shares(app: Docket, name: str, head: int, shares: int, batch: int, progress: Callable[[int], None]) -> None:
    """Applies, in `shares` processes, every event of projection `name` up to `head` to its shadow
    tables, `batch` events per transaction."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no fork of this one's connections and threads
    reports = context.Queue()
    workers = [
        context.Process(
            target=_replay_share, args=(dict(app.env), name, share, shares, head, batch, reports), name=f"rebuild-{name}-{share}"
        )
        for share in range(shares)
    ]
    log.info("rebuilding projection %s up to notification %s in %d processes", name, head, shares)
    for worker in workers:
        worker.start()
    try:
        _follow(workers, reports, progress)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
        reports.close()


def _follow(workers: list[Any], reports: Any, progress: Callable[[int], None]) -> None:
    """Reports the workers' progress until each has said it is done; raises when one fails or dies."""
    done: set[int] = set()
    while len(done) < len(workers):
        try:
            kind, share, detail = reports.get(timeout=POLL)
        except queue.Empty:
            for share, worker in enumerate(workers):
                if share not in done and worker.exitcode is not None:
                    raise RebuildFailed(f"rebuild worker {share} ended with exit code {worker.exitcode} before it was done") from None
            continue
        if kind == "applied":
            progress(detail)
        elif kind == "done":
            done.add(share)
        else:
            raise RebuildFailed(f"rebuild worker {share} failed: {detail}")


def _replay_share(env: dict[str, str], name: str, share: int, shares: int, head: int, batch: int, reports: Any) -> None:
    # Imported here: projections.operations imports this module (and a spawned process imports them itself).
    from projections.operations import PROJECTIONS, SHADOW, cycle_collection_paused, decoded, tracking_recorder

    app = None
    try:
        app = Docket(env={**env, "CREATE_TABLE": "n"})  # the rebuild made them: made at once by each, they clash
        projection_class = PROJECTIONS[name]
        projection = projection_class(tracking_recorder(app.recorder.datastore, f"{name}{SHADOW}"), projection_class.tables_for(SHADOW))
        position = 0
        with cycle_collection_paused():
            while notifications := _share_after(app, projection_class, position, head, share, shares, batch):
                events = decoded(app, notifications)
                with app.recorder.datastore.transaction(commit=True) as curs:
                    projection.apply_all(curs, events)
                position = notifications[-1].id
                reports.put(("applied", share, len(events)))
        reports.put(("done", share, None))
    except BaseException as error:
        reports.put(("failed", share, f"{type(error).__name__}: {error}"))
        raise
    finally:
        if app is not None:
            app.close()


def _share_after(app: Docket, projection_class: Any, position: int, head: int, share: int, shares: int, limit: int) -> list[Notification]:
    """The next events of this share after `position`, up to `head`: the shared topics' events of
    the aggregates that hash to it, and, for the first share, the events of every other topic."""
    query = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
        "WHERE notification_id > %s AND notification_id <= %s AND topic = ANY(%s) "
        "AND CASE WHEN topic = ANY(%s) THEN mod(hashtext(originator_id::text)::bigint + 2147483648, %s) ELSE 0 END = %s "
        "ORDER BY notification_id LIMIT %s"
    ).format(Identifier(app.recorder.events_table_name))
    params = (position, head, list(projection_class.topics), list(projection_class.shared_topics), shares, share, limit)
    with app.recorder.datastore.transaction(commit=False) as curs:
        curs.execute(query, params)
        rows = curs.fetchall()
    return [
        Notification(
            id=row["notification_id"],
            originator_id=row["originator_id"],
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=bytes(row["state"]),
        )
        for row in rows
    ]
