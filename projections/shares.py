"""A rebuild's first pass spread over processes, each applying its share of the aggregates.

A projection whose `shared_topics` events change only their own aggregate's rows (a ticket's
events: its row, its history, its replies) may apply them in any order from one aggregate to
the next, as long as each aggregate's events keep theirs. So each process reads the events of
the aggregates that hash to its share, in order, decodes them and writes their rows in its own
transactions; the events of every other topic (configuration, teams) go to the first share, which
the rebuild's own process applies. The shadow tables have no tracking position of their own
meanwhile: a rebuild that fails is started again from nothing. The rebuild then catches up on
what was stored since, in one process.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import msgspec
from eventsourcing.persistence import Notification
from psycopg.sql import SQL, Identifier

from commands.app import Docket
from commands.recent_events import RecentEvents

log = logging.getLogger(__name__)

MIN_EVENTS = 20_000  # below this, starting the processes costs more than sharing the work saves
MAX_SHARES = 8
POLL = 0.5  # seconds between looks at whether a worker died without a word
# A worker process's program. Its cycle collector is off from the start: its imports (a fifth of
# what a worker costs on a store of 50,000 events) would otherwise run it hundreds of times, and
# its replay makes no cycles worth collecting (projections.operations.cycle_collection_paused).
WORKER = f"import gc; gc.disable(); import sys; from {__name__} import _worker; sys.exit(_worker())"


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


class Job(msgspec.Struct, frozen=True):
    """What one worker is to do, given on its standard input (the environment holds secrets)."""

    env: dict[str, str]
    name: str
    share: int
    shares: int
    head: int
    batch: int


Report = tuple[str, int | str | None]  # ("applied", events) | ("done", None) | ("failed", why): a line of a worker's output


def replay_in_shares(app: Docket, name: str, head: int, shares: int, batch: int, progress: Callable[[int], None]) -> None:
    """Applies, in `shares` processes, every event of projection `name` up to `head` to its shadow
    tables, `batch` events per transaction. The first share is applied in this process (in a
    thread, on connections of its own), the others each in a fresh interpreter running this module
    (no fork of this one's connections and threads, and no import of the program that started it:
    `docket`'s command line imports the whole service, which doubled how long a worker took to
    start). A worker's imports are a fifth of what it costs on a store of 50,000 events; this
    process has paid for its own already."""
    log.info("rebuilding projection %s up to notification %s in %d processes", name, head, shares)
    reports: queue.Queue[tuple[int, Report]] = queue.Queue()
    jobs = [Job(dict(app.env), name, share, shares, head, batch) for share in range(shares)]
    workers = {job.share: _start(job, reports) for job in jobs[1:]}
    stop = threading.Event()
    here = threading.Thread(target=_replay_here, args=(jobs[0], reports, stop), name=f"rebuild-{name}-0", daemon=True)
    here.start()
    try:
        _follow(shares, workers, reports, progress)
    finally:
        stop.set()
        for worker in workers.values():
            if worker.poll() is None:
                worker.terminate()
            worker.wait()
        here.join()


def _replay_here(job: Job, reports: queue.Queue[tuple[int, Report]], stop: threading.Event) -> None:
    """A share applied in this process: until it is done, or `stop` (another share failed)."""
    try:
        _replay_share(job, lambda kind, detail: reports.put((job.share, (kind, detail))), stop)
    except BaseException:  # noqa: BLE001 - reported already, as a worker process reports it
        log.debug("rebuild share %s of projection %s failed", job.share, job.name, exc_info=True)


def _start(job: Job, reports: queue.Queue[tuple[int, Report]]) -> subprocess.Popen[bytes]:
    worker = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(msgspec.json.encode(job))
    worker.stdin.close()
    threading.Thread(
        target=_read_reports, args=(job.share, worker.stdout, reports), name=f"rebuild-{job.name}-{job.share}", daemon=True
    ).start()
    return worker


def _read_reports(share: int, output: Any, reports: queue.Queue[tuple[int, Report]]) -> None:
    for line in output:
        try:
            reports.put((share, msgspec.json.decode(line, type=Report)))
        except msgspec.DecodeError:
            log.warning("rebuild worker %s wrote %r", share, line[:200])


def _follow(
    shares: int, workers: dict[int, subprocess.Popen[bytes]], reports: queue.Queue[tuple[int, Report]], progress: Callable[[int], None]
) -> None:
    """Reports every share's progress until each has said it is done; raises when one fails or a
    worker process dies."""
    done: set[int] = set()
    while len(done) < shares:
        try:
            share, (kind, detail) = reports.get(timeout=POLL)
        except queue.Empty:
            for share, worker in workers.items():
                if share not in done and worker.poll() is not None:
                    raise RebuildFailed(f"rebuild worker {share} ended with exit code {worker.returncode} before it was done") from None
            continue
        if kind == "applied":
            progress(int(detail or 0))
        elif kind == "done":
            done.add(share)
        else:
            raise RebuildFailed(f"rebuild worker {share} failed: {detail}")


def _replay_share(job: Job, report: Callable[[str, int | str | None], None], stop: threading.Event | None = None) -> None:
    # Imported here: projections.operations imports this module.
    from projections.operations import PROJECTIONS, SHADOW, cycle_collection_paused, decoded, tracking_recorder

    app = None
    try:
        app = Docket(env={**job.env, "CREATE_TABLE": "n"})  # the rebuild made them: made at once by each, they clash
        app.mapper.recent = RecentEvents(size=0)  # it reads each event once
        projection_class = PROJECTIONS[job.name]
        shadow = projection_class.tables_for(SHADOW)
        projection = projection_class(tracking_recorder(app.recorder.datastore, f"{job.name}{SHADOW}"), shadow)
        position = 0
        with cycle_collection_paused():
            while not (stop and stop.is_set()) and (notifications := _share_after(app, projection_class, position, job)):
                events = decoded(app, notifications)
                with app.recorder.datastore.transaction(commit=True) as curs:
                    projection.apply_all(curs, events)
                position = notifications[-1].id
                report("applied", len(events))
        report("done", None)
    except BaseException as error:
        report("failed", f"{type(error).__name__}: {error}")
        raise
    finally:
        if app is not None:
            app.close()


def _share_after(app: Docket, projection_class: Any, position: int, job: Job) -> list[Notification]:
    """The next events of this share after `position`, up to `head`: the shared topics' events of
    the aggregates that hash to it, and, for the first share, the events of every other topic."""
    query = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
        "WHERE notification_id > %s AND notification_id <= %s AND topic = ANY(%s) "
        "AND CASE WHEN topic = ANY(%s) THEN mod(hashtext(originator_id::text)::bigint + 2147483648, %s) ELSE 0 END = %s "
        "ORDER BY notification_id LIMIT %s"
    ).format(Identifier(app.recorder.events_table_name))
    topics, shared = list(projection_class.topics), list(projection_class.shared_topics)
    params = (position, job.head, topics, shared, job.shares, job.share, job.batch)
    with app.recorder.datastore.transaction(commit=False) as curs:
        curs.execute(query, params, binary=True)  # the states as they are, not as hex text to decode
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


def _worker() -> int:
    """A worker process: the job from standard input, a report per line on standard output."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # to standard error
    job = msgspec.json.decode(sys.stdin.buffer.read(), type=Job)

    def report(kind: str, detail: int | str | None) -> None:
        sys.stdout.buffer.write(msgspec.json.encode((kind, detail)) + b"\n")
        sys.stdout.buffer.flush()

    try:
        _replay_share(job, report)
    except Exception:  # reported already; its traceback goes to standard error, which the rebuild's shares
        logging.getLogger("projections.shares").exception("rebuild worker %s of projection %s failed", job.share, job.name)
        return 1
    return 0
