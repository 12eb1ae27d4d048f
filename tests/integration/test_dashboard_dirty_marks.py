"""The dashboard publisher takes a tenant's dirty mark only once the changes it stands for are
committed: a mark taken while the batch that set it was still open would be gone by the time the
batch commits, and its figures would never be published. It takes the marks no open batch holds,
and waits for none: waiting, it deadlocked with a batch marking tenants in another order."""

from __future__ import annotations

import threading

from projections.dashboard import DashboardProjection
from projections.operations import tracking_recorder
from workers.publisher import mark_dirty, take_dirty_tenants


def take_while_a_batch_is_open(app, engine, held: str, later: str | None = None) -> tuple[list[str] | None, list[str]]:
    """Takes the marks while a batch of the projection holds the mark `held` (once let go, the batch
    marks `later` too, as a batch marks tenants in order, and commits). Returns what that take got
    (None: it was still waiting for the batch after 5 s) and what a take after the commit gets."""
    projection = DashboardProjection(tracking_recorder(app.recorder.datastore, DashboardProjection.name))
    marked, release, committed = threading.Event(), threading.Event(), []

    def batch() -> None:
        with app.recorder.datastore.transaction(commit=True) as curs:
            projection._mark_dirty(curs, held)
            marked.set()
            release.wait(10)
            if later is not None:
                projection._mark_dirty(curs, later)
        committed.append(True)

    batching = threading.Thread(target=batch)
    batching.start()
    assert marked.wait(10)
    taken: list[list[str]] = []
    taker = threading.Thread(target=lambda: taken.append(take_dirty_tenants(engine)))
    taker.start()
    taker.join(5)
    waited = taker.is_alive()
    release.set()
    batching.join(10)
    taker.join(10)
    assert committed == [True], "the batch did not commit"
    return (None if waited else taken[0]), take_dirty_tenants(engine)


def test_the_publisher_cannot_take_a_mark_before_the_batch_that_touched_it_commits(app, engine, tenant):
    mark_dirty(engine, [tenant])  # left by an earlier batch, not yet taken
    taken, left = take_while_a_batch_is_open(app, engine, tenant)
    assert taken is not None, "the publisher waited for the open batch"
    assert tenant not in taken
    assert tenant in left


def test_a_batch_marking_tenants_while_the_publisher_takes_marks_neither_waits_for_the_other_nor_deadlocks(app, engine, tenant):
    first, second = f"{tenant}-a", f"{tenant}-b"
    mark_dirty(engine, [first, second])  # left by earlier batches, not yet taken
    taken, left = take_while_a_batch_is_open(app, engine, first, later=second)
    assert taken is not None, "the publisher waited for the open batch"
    assert {first, second} & set(taken) == {second}  # the held mark is left for a later round
    assert {first, second} <= set(left)  # both, once the batch has committed
