"""The projections' threads yield the CPU: lower_this_thread lowers the thread that calls it, and no other."""

from __future__ import annotations

import os
import threading

from workers.priority import lower_this_thread


def priority_of(thread_id: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, thread_id)


def in_a_thread(steps: int) -> tuple[int, int]:
    """The priority of a new thread before and after it calls lower_this_thread(steps)."""
    seen: list[int] = []

    def lower() -> None:
        me = threading.get_native_id()
        seen.append(priority_of(me))
        lower_this_thread(steps)
        seen.append(priority_of(me))

    thread = threading.Thread(target=lower)
    thread.start()
    thread.join()
    return seen[0], seen[1]


def test_a_thread_lowers_itself_and_leaves_the_others_where_they_were():
    main = priority_of(threading.get_native_id())
    before, after = in_a_thread(3)
    assert (before, after) == (main, min(main + 3, 19))
    assert priority_of(threading.get_native_id()) == main
    assert in_a_thread(3)[0] == main  # a thread started afterwards starts where its starter is


def test_lowering_stops_at_the_lowest_priority_and_zero_steps_change_nothing():
    main = priority_of(threading.get_native_id())
    assert in_a_thread(40)[1] == 19
    assert in_a_thread(0) == (main, main)
