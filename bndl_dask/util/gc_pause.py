"""Holding the cyclic garbage collector back while a task builds many containers at once."""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager

#: young containers (allocated and not yet freed) that trigger a collection inside
#: ``gc_paused``, instead of Python's 700
PAUSED_THRESHOLD = 100_000

_gc_lock = threading.Lock()
_gc_state: dict = {"holders": 0, "thresholds": None}


@contextmanager
def gc_paused():
    """Let the cyclic garbage collector run only every ``PAUSED_THRESHOLD`` young containers
    while many are built at once.

    Unpickling or grouping hundreds of thousands of tuples and lists otherwise triggers a
    collection every 700 allocations, each walking the young objects and, every tenth, the
    older ones. Containers that are freed again before the block ends (the records flowing
    through a partition) are never walked at all; the collector still runs on the way, so
    reference cycles that become garbage take at most that many objects' room. Nested and
    concurrent users (tasks in threads) are counted; Python's thresholds come back when the
    last one leaves.

    >>> with gc_paused():
    ...     rows = [(i, [i]) for i in range(100_000)]
    >>> gc.isenabled(), gc.get_threshold()[0] < PAUSED_THRESHOLD
    (True, True)
    """
    with _gc_lock:
        if _gc_state["holders"] == 0:
            thresholds = gc.get_threshold()
            _gc_state["thresholds"] = thresholds
            gc.set_threshold(max(thresholds[0], PAUSED_THRESHOLD), *thresholds[1:])
        _gc_state["holders"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_state["holders"] -= 1
            if _gc_state["holders"] == 0:
                gc.set_threshold(*_gc_state["thresholds"])
