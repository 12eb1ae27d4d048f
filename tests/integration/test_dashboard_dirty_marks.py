"""The dashboard publisher takes a tenant's dirty mark only once the changes it stands for are
committed: a mark taken while the batch that set it was still open would be gone by the time the
batch commits, and its figures would never be published."""

from __future__ import annotations

import threading

from projections.dashboard import DashboardProjection
from projections.operations import tracking_recorder
from workers.publisher import mark_dirty, take_dirty_tenants


def test_the_publisher_cannot_take_a_mark_before_the_batch_that_touched_it_commits(app, engine, tenant):
    projection = DashboardProjection(tracking_recorder(app.recorder.datastore, DashboardProjection.name))
    mark_dirty(engine, [tenant])  # left by an earlier batch, not yet taken
    marked, release = threading.Event(), threading.Event()

    def batch() -> None:
        with app.recorder.datastore.transaction(commit=True) as curs:
            projection._mark_dirty(curs, tenant)
            marked.set()
            release.wait(10)

    batching = threading.Thread(target=batch)
    batching.start()
    assert marked.wait(10)
    taken: list[list[str]] = []
    taker = threading.Thread(target=lambda: taken.append(take_dirty_tenants(engine)))
    taker.start()
    taker.join(0.5)
    taken_while_open = not taker.is_alive()
    release.set()
    batching.join()
    taker.join(10)
    left = take_dirty_tenants(engine)
    assert tenant in taken[0] + left
    assert not taken_while_open or tenant in left


def test_a_batch_marking_tenants_while_the_publisher_takes_marks_neither_waits_for_the_other_nor_deadlocks(app, engine, tenant):
    projection = DashboardProjection(tracking_recorder(app.recorder.datastore, DashboardProjection.name))
    first, second = f"{tenant}-a", f"{tenant}-b"
    mark_dirty(engine, [first, second])  # left by earlier batches, not yet taken
    marked, release, committed = threading.Event(), threading.Event(), []

    def batch() -> None:  # marks in order, as the projection does: the first now, the second later
        with app.recorder.datastore.transaction(commit=True) as curs:
            projection._mark_dirty(curs, first)
            marked.set()
            release.wait(10)
            projection._mark_dirty(curs, second)
        committed.append(True)

    batching = threading.Thread(target=batch)
    batching.start()
    assert marked.wait(10)
    taken: list[list[str]] = []
    taker = threading.Thread(target=lambda: taken.append(take_dirty_tenants(engine)))
    taker.start()
    taker.join(5)
    assert not taker.is_alive(), "the publisher waited for the open batch"
    release.set()
    batching.join(10)
    assert committed == [True]
    assert {first, second} & set(taken[0]) == {second}  # the held mark is left for a later round
    assert {first, second} <= set(take_dirty_tenants(engine))  # both, once the batch has committed
