"""Cluster-wide CPU (yappi) and memory (tracemalloc) profiling: ``ctx.cpu_profiling`` and
``ctx.memory_profiling``.

Every operation runs on all workers (``client.run``) and waits for them. Statistics are merged on
the driver and printed in BNDL's (yappi-style) format.
"""

from __future__ import annotations

import linecache
import os
import sys
import tracemalloc
from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

from bndl_dask.worker import profiling as remote

if TYPE_CHECKING:
    from bndl_dask.api.context import ComputeContext

DEFAULT_COLUMNS: tuple[tuple[str, int], ...] = (
    ("name", 84), ("ncall", 12), ("tsub", 8), ("ttot", 8), ("tavg", 8))

#: accepted ``sort_by`` values -> the name printed in the "Ordered by" line
_SORT_NAMES = {
    "name": "name",
    "ncall": "callcount", "callcount": "callcount",
    "tsub": "subtime", "subtime": "subtime",
    "ttot": "totaltime", "totaltime": "totaltime",
    "tavg": "avgtime", "avgtime": "avgtime",
}


class _PathStripper:
    """Shortens file names: the longest matching prefix among the working directory and the
    ``sys.path`` entries (of the driver and of the workers) is removed."""

    def __init__(self, prefixes: Iterable[str]):
        cleaned = {os.path.abspath(p).rstrip(os.sep) for p in prefixes if p}
        cleaned.discard("")  # never strip everything below the file system root
        self.prefixes = sorted(cleaned, key=len, reverse=True)

    def __call__(self, path: str) -> str:
        if not os.path.isabs(path):
            return path  # '<frozen ...>', '<string>', ...
        for prefix in self.prefixes:
            if path.startswith(prefix + os.sep):
                return path[len(prefix) + 1:]
        return path.lstrip(os.sep)


def _module_names(modules: str | Sequence[str]) -> list[str]:
    if isinstance(modules, str):
        modules = (modules,)
    return [m.replace(".", "/") for m in modules]


def _run(ctx, func, *args) -> dict[str, Any]:
    """Run ``func`` on every worker; ``{worker name: result}``."""
    ctx._check_running()
    names = {w.address: w.name for w in ctx.workers}
    results = ctx.client.run(func, *args)
    return {names.get(address, address): result for address, result in results.items()}


class FuncStats:
    """Merged yappi function statistics: ``rows`` of ``(file, line, function, ncall,
    primitive ncall, tsub, ttot)`` and the ``clock_type`` ('cpu' or 'wall')."""

    def __init__(self, rows: Sequence[tuple], clock_type: str, prefixes: Iterable[str] = ()):
        self.rows = list(rows)
        self.clock_type = clock_type
        self.prefixes = sorted(set(prefixes))

    @classmethod
    def merge(cls, parts: Iterable[FuncStats]) -> FuncStats:
        totals: dict[tuple, list] = {}
        clock_type = "cpu"
        prefixes: set[str] = set()
        for part in parts:
            clock_type = part.clock_type
            prefixes.update(part.prefixes)
            for file, line, func, ncall, nprim, tsub, ttot in part.rows:
                entry = totals.setdefault((file, line, func), [0, 0, 0.0, 0.0])
                entry[0] += ncall
                entry[1] += nprim
                entry[2] += tsub
                entry[3] += ttot
        rows = [(*key, *values) for key, values in totals.items()]
        return cls(rows, clock_type, prefixes)

    def __len__(self) -> int:
        return len(self.rows)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, FuncStats) and self.clock_type == other.clock_type
                and sorted(self.rows) == sorted(other.rows))

    def __repr__(self) -> str:
        return f"<FuncStats {len(self.rows)} functions, clock {self.clock_type}>"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 2, 0)] + ".."


def _format_time(value: float, width: int) -> str:
    """Up to 6 decimals, fewer when needed to fit ``width``; cut with '..' past that."""
    for decimals in range(6, -1, -1):
        text = f"{value:.{decimals}f}"
        if len(text) <= width:
            return text
    return _fit(f"{value:.0f}", width)


def _format_name(name: str, width: int) -> str:
    # keep the end of the name (the line number and function), mark the cut at the front
    return name if len(name) <= width else ".." + name[-(width - 2):]


class CpuProfiling:
    """Profile the CPU use of all workers with yappi.

    >>> ctx.cpu_profiling.start()
    >>> ctx.range(100).mean()
    49.5
    >>> ctx.cpu_profiling.stop()
    >>> ctx.cpu_profiling.print_stats(3, include='bndl_dask')
    <BLANKLINE>
    Clock type: CPU
    Ordered by: totaltime, desc
    <BLANKLINE>
    name...ncall...tsub...ttot...tavg
    bndl_dask/...
    """

    def __init__(self, ctx: ComputeContext, clock_type: str = "cpu"):
        self.ctx = ctx
        self.clock_type = clock_type

    def start(self) -> None:
        """Start profiling (with fresh statistics) in every worker."""
        _run(self.ctx, remote.cpu_start, self.clock_type)

    def stop(self) -> None:
        """Stop profiling in every worker; the statistics gathered so far are kept."""
        _run(self.ctx, remote.cpu_stop)

    def get_stats(self, per_worker: bool = False) -> FuncStats | list[tuple[str, FuncStats]]:
        """The workers' statistics merged, or ``[(worker name, stats), ...]`` sorted by name."""
        collected = _run(self.ctx, remote.cpu_stats)
        by_worker = [(name, FuncStats(r["stats"], r["clock_type"], r["prefixes"]))
                     for name, r in sorted(collected.items())]
        if per_worker:
            return by_worker
        return FuncStats.merge(stats for _, stats in by_worker)

    def print_stats(self, max_rows: int | None = 100, sort_by: str | None = None,
                    sort_dir: str | None = None,
                    columns: Sequence[tuple[str, int]] = DEFAULT_COLUMNS,
                    per_worker: bool = False, strip_dirs: bool = True,
                    include: str | Sequence[str] = (), exclude: str | Sequence[str] = (),
                    file: IO[str] | None = None) -> None:
        """Print the top CPU consumers (by total time, descending, unless ``sort_by`` /
        ``sort_dir`` say otherwise).

        ``include`` / ``exclude`` are module names matched as a prefix of the stripped file
        name (``'bndl_dask'`` keeps ``bndl_dask/...``); they need ``strip_dirs``.
        ``per_worker`` prints a table per worker under a ``Worker: <name>`` line.
        """
        file = file or sys.stdout
        sort_key = _SORT_NAMES.get(sort_by or "totaltime")
        if sort_key is None:
            raise ValueError(f"Unknown sort_by {sort_by!r}; use one of {sorted(_SORT_NAMES)}")
        sort_dir = sort_dir or "desc"
        if sort_dir not in ("asc", "desc"):
            raise ValueError("sort_dir must be 'asc' or 'desc'")
        if (include or exclude) and not strip_dirs:
            raise ValueError("include and exclude require strip_dirs=True")
        stats = self.get_stats(per_worker=True)
        prefixes = set(remote.path_prefixes())
        for _, worker_stats in stats:
            prefixes.update(worker_stats.prefixes)
        strip = _PathStripper(prefixes) if strip_dirs else (lambda path: path)
        tables = stats if per_worker else [(None, FuncStats.merge(s for _, s in stats))]
        clock = tables[0][1].clock_type.upper() if tables else self.clock_type.upper()
        print(file=file)
        print(f"Clock type: {clock}", file=file)
        print(f"Ordered by: {sort_key}, {sort_dir}", file=file)
        print(file=file)
        for worker, table in tables:
            if worker is not None:
                print(f"Worker: {worker}", file=file)
            rows = _select(table, strip, _module_names(include), _module_names(exclude))
            rows.sort(key=_sort_value(sort_key), reverse=sort_dir == "desc")
            if max_rows is not None:
                rows = rows[:max_rows]
            _print_table(rows, columns, file)
            if worker is not None:
                print(file=file)


def _select(stats: FuncStats, strip, include: list[str], exclude: list[str]) -> list[dict]:
    rows = []
    for path, line, func, ncall, nprim, tsub, ttot in stats.rows:
        name = f"{strip(path)}:{line} {func}"
        if include and not any(name.startswith(m) for m in include):
            continue
        if exclude and any(name.startswith(m) for m in exclude):
            continue
        rows.append({"name": name, "ncall": ncall, "nprim": nprim, "tsub": tsub, "ttot": ttot,
                     "tavg": ttot / ncall if ncall else 0.0})
    return rows


def _sort_value(sort_key: str):
    field = {"name": "name", "callcount": "ncall", "subtime": "tsub", "totaltime": "ttot",
             "avgtime": "tavg"}[sort_key]
    return lambda row: row[field]


def _print_table(rows: list[dict], columns: Sequence[tuple[str, int]], file: IO[str]) -> None:
    print("".join(f"{name:<{width}}  " for name, width in columns), file=file)
    for row in rows:
        cells = []
        for name, width in columns:
            if name == "name":
                text = _format_name(row["name"], width)
            elif name == "ncall":
                text = (str(row["ncall"]) if row["ncall"] == row["nprim"]
                        else f"{row['ncall']}/{row['nprim']}")
                text = _fit(text, width)
            elif name in ("tsub", "ttot", "tavg"):
                text = _format_time(row[name], width)
            else:
                raise ValueError(f"Unknown column {name!r}")
            cells.append(f"{text:<{width}}  ")
        print("".join(cells), file=file)


# -- memory ---------------------------------------------------------------------------------------

def _merge_snapshots(snapshots: Iterable[tracemalloc.Snapshot]) -> tracemalloc.Snapshot:
    traces: list = []
    limit = 1
    for snapshot in snapshots:
        traces.extend(snapshot.traces._traces)
        limit = max(limit, snapshot.traceback_limit)
    return tracemalloc.Snapshot(traces, limit)


def _memory_filters(prefixes: Iterable[str], include: Sequence[str],
                    exclude: Sequence[str]) -> list[tracemalloc.Filter]:
    filters = [tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
               tracemalloc.Filter(False, "<unknown>")]
    for inclusive, modules in ((True, include), (False, exclude)):
        for module in modules:
            for prefix in prefixes:
                base = os.path.join(prefix, module)
                filters.append(tracemalloc.Filter(inclusive, base + "/*"))
                filters.append(tracemalloc.Filter(inclusive, base + ".py"))
    return filters


class MemoryProfiling:
    """Profile the memory allocations of all workers with tracemalloc.

    >>> ctx.memory_profiling.start()
    >>> ctx.range(100).map(str).count()
    100
    >>> snapshot = ctx.memory_profiling.print_top(limit=3)
    #1 ...
    Total allocated size: ...
    >>> ctx.memory_profiling.stop()
    """

    def __init__(self, ctx: ComputeContext, nframes: int = 1):
        self.ctx = ctx
        self.nframes = nframes

    def start(self) -> None:
        """Start tracing allocations in every worker."""
        _run(self.ctx, remote.memory_start, self.nframes)

    def stop(self) -> None:
        """Stop tracing in every worker (the traces are dropped)."""
        _run(self.ctx, remote.memory_stop)

    def _collect(self) -> tuple[list[tuple[str, tracemalloc.Snapshot]], set[str]]:
        collected = _run(self.ctx, remote.memory_snapshot)
        prefixes = set(remote.path_prefixes())
        for result in collected.values():
            prefixes.update(result["prefixes"])
        return [(name, r["snapshot"]) for name, r in sorted(collected.items())], prefixes

    def take_snapshot(self, per_worker: bool = False
                      ) -> tracemalloc.Snapshot | list[tuple[str, tracemalloc.Snapshot]]:
        """One snapshot with all workers' traces, or ``[(worker name, snapshot), ...]``."""
        snapshots, _ = self._collect()
        if per_worker:
            return snapshots
        return _merge_snapshots(s for _, s in snapshots)

    def print_top(self, group_by: str = "lineno", limit: int = 30,
                  compare_to: tracemalloc.Snapshot | None = None, per_worker: bool = False,
                  strip_dirs: bool = True, include: str | Sequence[str] = (),
                  exclude: str | Sequence[str] = (), file: IO[str] | None = None,
                  ) -> tracemalloc.Snapshot | list[tuple[str, tracemalloc.Snapshot]]:
        """Take a snapshot on all workers and print the top ``limit`` allocation sites.

        Returns the (filtered) snapshot, to pass as ``compare_to`` later; with ``per_worker`` a
        list of ``(worker name, snapshot)``.
        """
        assert not (compare_to is not None and per_worker), \
            "compare_to and per_worker cannot be combined"
        file = file or sys.stdout
        snapshots, prefixes = self._collect()
        filters = _memory_filters(sorted(prefixes), _module_names(include),
                                  _module_names(exclude))
        strip = _PathStripper(prefixes) if strip_dirs else (lambda path: path)
        if per_worker:
            filtered = []
            for name, snapshot in snapshots:
                snapshot = snapshot.filter_traces(filters)
                print(f"Worker: {name}", file=file)
                _print_top(snapshot.statistics(group_by), limit, strip, file)
                filtered.append((name, snapshot))
            return filtered
        snapshot = _merge_snapshots(s for _, s in snapshots).filter_traces(filters)
        if compare_to is not None:
            stats = snapshot.compare_to(compare_to.filter_traces(filters), group_by)
        else:
            stats = snapshot.statistics(group_by)
        _print_top(stats, limit, strip, file)
        return snapshot


def _print_top(stats: Sequence, limit: int, strip, file: IO[str]) -> None:
    def size(stat) -> int:
        return stat.size_diff if isinstance(stat, tracemalloc.StatisticDiff) else stat.size

    for rank, stat in enumerate(stats[:limit], 1):
        frame = stat.traceback[0]
        print(f"#{rank} {strip(frame.filename)}:{frame.lineno} {size(stat) / 1024:.1f} KiB",
              file=file)
        source = linecache.getline(frame.filename, frame.lineno).strip()
        if source:
            print(f"    {source}", file=file)
    other = stats[limit:]
    if other:
        print(f"{len(other)} other: {sum(size(s) for s in other) / 1024:.1f} KiB", file=file)
    print(f"Total allocated size: {sum(size(s) for s in stats) / 1024:.1f} KiB", file=file)
