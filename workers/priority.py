"""The projections' threads may run at a lower CPU priority than the rest of Docket
(DOCKET_PROJECTION_NICE, off by default).

A command is answered once it is committed; the read models catch up on it afterwards. When the
machine's cores are all busy (a surge of commands on a small host), the API processes and the
projections share them by the kernel's weights. Some nice levels lower, the projections take
what the API leaves: under a surge the API answers more commands, sooner, and the projections lag
more and apply larger batches, which cost less per event; on a machine with cores to spare
nothing changes. Linux gives each thread its own priority, so the process's other threads (the
event loop with the relay and notifiers, and the API processes it starts) keep theirs. What it
costs is the read models' freshness under load, which is why it is the operator's choice
(bench/README.md has the figures).
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)


def lower_this_thread(steps: int) -> None:
    """Makes the calling thread `steps` nice levels lower (at most 19); where the system gives
    threads no priority of their own, leaves it and says so."""
    if steps <= 0:
        return
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, min(os.getpriority(os.PRIO_PROCESS, thread) + steps, 19))
    except (OSError, AttributeError) as error:  # not Linux: the id names no process, or there is no setpriority
        log.info("the projections run at the process's own priority (%s)", error)
