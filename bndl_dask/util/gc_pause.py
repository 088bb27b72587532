"""Pausing the cyclic garbage collector while a task builds many containers at once."""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager

_gc_lock = threading.Lock()
_gc_state = {"holders": 0, "was_enabled": True}


@contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while many containers are built at once.

    Unpickling or grouping hundreds of thousands of tuples and lists otherwise triggers a
    collection every few hundred allocations, each scanning the growing heap: that costs more
    than the work itself. Nested and concurrent users (tasks in threads) are counted; the
    collector is enabled again (if it was) when the last one leaves.

    >>> with gc_paused():
    ...     rows = [(i, [i]) for i in range(100_000)]
    >>> gc.isenabled()
    True
    """
    with _gc_lock:
        if _gc_state["holders"] == 0:
            _gc_state["was_enabled"] = gc.isenabled()
            gc.disable()
        _gc_state["holders"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_state["holders"] -= 1
            if _gc_state["holders"] == 0 and _gc_state["was_enabled"]:
                gc.enable()

