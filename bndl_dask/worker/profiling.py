"""Profilers inside a worker process; the driver calls these with ``client.run``.

Everything returned is plain data (tuples, lists, a tracemalloc ``Snapshot``) so it pickles
cheaply back to the driver, which merges and prints it (``bndl_dask.api.profiling``).
"""

from __future__ import annotations

import os
import sys
import tracemalloc

import yappi

#: files whose work is the profiling itself
_PROFILER_FILES = frozenset(os.path.abspath(f) for f in (__file__, yappi.__file__,
                                                         tracemalloc.__file__))

#: (file, line, function, ncall, primitive ncall, tsub, ttot) for one profiled function
FuncStat = tuple[str, int, str, int, int, float, float]


def path_prefixes() -> list[str]:
    """Directories this process would strip from file names: the working directory, every
    ``sys.path`` entry and the directory holding each imported top-level package (which also
    covers editable installs that are not on ``sys.path``)."""
    prefixes = {os.getcwd()}
    prefixes.update(p for p in sys.path if p)
    for name, module in list(sys.modules.items()):
        paths = getattr(module, "__path__", None)
        if "." in name or not paths:
            continue
        try:
            first = next(iter(paths))
        except (StopIteration, TypeError):
            continue
        if isinstance(first, str) and os.path.isabs(first):
            prefixes.add(os.path.dirname(first))
    return sorted(os.path.abspath(p) for p in prefixes if p)


def cpu_start(clock_type: str = "cpu") -> None:
    """Start yappi (with fresh statistics) in all threads of this process."""
    if yappi.is_running():
        yappi.stop()
    yappi.clear_stats()
    yappi.set_clock_type(clock_type)
    yappi.start(builtins=False, profile_threads=True)


def cpu_stop() -> None:
    if yappi.is_running():
        yappi.stop()


def cpu_stats() -> dict:
    """This process's function statistics, its clock type and its path prefixes."""
    stats: list[FuncStat] = []
    for stat in yappi.get_func_stats():
        if stat.module in _PROFILER_FILES:
            continue  # the profiler's own bookkeeping is noise to the user
        stats.append((stat.module, stat.lineno, stat.name, stat.ncall, stat.nactualcall,
                      stat.tsub, stat.ttot))
    return {"clock_type": yappi.get_clock_type(), "stats": stats, "prefixes": path_prefixes()}


def memory_start(nframes: int = 1) -> None:
    if not tracemalloc.is_tracing():
        tracemalloc.start(nframes)


def memory_stop() -> None:
    if tracemalloc.is_tracing():
        tracemalloc.stop()


def memory_snapshot() -> dict:
    """A tracemalloc snapshot of this process (an empty one when tracing is off)."""
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, f) for f in _PROFILER_FILES])
    else:
        snapshot = tracemalloc.Snapshot([], 1)
    return {"snapshot": snapshot, "prefixes": path_prefixes()}
