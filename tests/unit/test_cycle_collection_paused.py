"""A rebuild pauses the cycle collector and gives it back as it found it, however the rebuild ends:
a process left without it (the projector's, serving for months) would keep every cycle it makes."""

from __future__ import annotations

import gc

import pytest

from projections.operations import cycle_collection_paused


@pytest.fixture(autouse=True)
def collector_restored():
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_paused_during_and_running_again_after_a_rebuild_that_fails():
    gc.enable()
    with pytest.raises(RuntimeError), cycle_collection_paused():
        assert not gc.isenabled()
        raise RuntimeError("a worker died")
    assert gc.isenabled()


def test_a_collector_paused_before_stays_paused_after():
    gc.disable()
    with cycle_collection_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
