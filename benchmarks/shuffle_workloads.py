"""Shuffle workloads W2, W3, W4 and W7 for bndl_dask, with serial-Python references.

Each workload is a function taking a ComputeContext and returning a checkable result; the
``serial_*`` function of the same name computes the same result in one Python process. Run
``python benchmarks/shuffle_workloads.py [--workers 2] [--runs 3] [--only W2,W4]`` to print the
median seconds of both and the ratio of bndl_dask to serial/workers; "cpu ratio" is the same
ratio from CPU seconds (driver + busiest worker against serial), which stays meaningful when the
machine is shared and wall times are noisy.

Workloads (sizes as in issue 5; ``scale`` shrinks them for quick checks):

* W2 reduce_by_key: 2,000,000 records ``(i % 100,000, 1)`` summed per key.
* W3 group_by_key: 1,000,000 records ``(i % 100,000, i)`` grouped; result (groups, values).
* W4 sort: 2,000,000 pseudo-random ints (a multiplicative hash of i), sorted and collected.
* W7 join: 1,000,000 ``(i % 200,000, i)`` joined with 200,000 ``(k, str(k))``; pairs counted.
"""

from __future__ import annotations

import argparse
import operator
import statistics
import sys
import time
from collections import defaultdict

W2_RECORDS, W2_KEYS = 2_000_000, 100_000
W3_RECORDS, W3_KEYS = 1_000_000, 100_000
W4_RECORDS = 2_000_000
W7_LEFT, W7_RIGHT = 1_000_000, 200_000
_MULT, _MOD = 2654435761, 2**32


def _pcount(ctx) -> int:
    return max(ctx.worker_count, 1) * 2


# -- W2 -------------------------------------------------------------------------------------------


def w2_reduce_by_key(ctx, scale: float = 1.0) -> dict:
    n, keys = int(W2_RECORDS * scale), max(int(W2_KEYS * scale), 1)
    return ctx.range(n, pcount=_pcount(ctx)).map(lambda i: (i % keys, 1)) \
        .reduce_by_key(operator.add).collect_as_map()


def serial_w2_reduce_by_key(scale: float = 1.0) -> dict:
    n, keys = int(W2_RECORDS * scale), max(int(W2_KEYS * scale), 1)
    acc: dict = {}
    get = acc.get
    for k, v in map(lambda i: (i % keys, 1), range(n)):
        acc[k] = get(k, 0) + v
    return acc


# -- W3 -------------------------------------------------------------------------------------------


def _groups_and_values(partials):
    groups = values = 0
    for g, v in partials:
        groups += g
        values += v
    return groups, values


def _count_groups(pairs):
    groups = values = 0
    for _, vs in pairs:
        groups += 1
        values += len(vs)
    return groups, values


def w3_group_by_key(ctx, scale: float = 1.0) -> tuple:
    n, keys = int(W3_RECORDS * scale), max(int(W3_KEYS * scale), 1)
    return ctx.range(n, pcount=_pcount(ctx)).map(lambda i: (i % keys, i)) \
        .group_by_key().aggregate(_count_groups, _groups_and_values)


def serial_w3_group_by_key(scale: float = 1.0) -> tuple:
    n, keys = int(W3_RECORDS * scale), max(int(W3_KEYS * scale), 1)
    groups = defaultdict(list)
    for k, v in map(lambda i: (i % keys, i), range(n)):
        groups[k].append(v)
    return _count_groups(groups.items())


# -- W4 -------------------------------------------------------------------------------------------


def w4_sort(ctx, scale: float = 1.0) -> list:
    n = int(W4_RECORDS * scale)
    return ctx.range(n, pcount=_pcount(ctx)).map(lambda i: i * _MULT % _MOD).sort().collect()


def serial_w4_sort(scale: float = 1.0) -> list:
    n = int(W4_RECORDS * scale)
    return sorted(map(lambda i: i * _MULT % _MOD, range(n)))


# -- W7 -------------------------------------------------------------------------------------------


def _pair_count(pair):
    return len(pair[1])


def w7_join(ctx, scale: float = 1.0) -> int:
    left, right = int(W7_LEFT * scale), max(int(W7_RIGHT * scale), 1)
    pcount = _pcount(ctx)
    a = ctx.range(left, pcount=pcount).map(lambda i: (i % right, i))
    b = ctx.range(right, pcount=pcount).map(lambda k: (k, str(k)))
    return a.join(b).map(_pair_count).sum()


def serial_w7_join(scale: float = 1.0) -> int:
    # the plain serial way to count the pairs: group both sides, multiply the group sizes
    left, right = int(W7_LEFT * scale), max(int(W7_RIGHT * scale), 1)
    a: dict = defaultdict(list)
    for k, v in map(lambda i: (i % right, i), range(left)):
        a[k].append(v)
    b: dict = defaultdict(list)
    for k, v in map(lambda k: (k, str(k)), range(right)):
        b[k].append(v)
    return sum(len(vs) * len(b[k]) for k, vs in a.items() if k in b)


WORKLOADS = {
    "W2": (w2_reduce_by_key, serial_w2_reduce_by_key),
    "W3": (w3_group_by_key, serial_w3_group_by_key),
    "W4": (w4_sort, serial_w4_sort),
    "W7": (w7_join, serial_w7_join),
}
TARGETS = {"W2": 3.0, "W3": 4.0, "W4": 1.5, "W7": 4.0}


def _median_time(func, args: tuple, runs: int, pids: list[int] | None = None):
    """Median wall seconds, median CPU-bound seconds, result.

    The CPU-bound figure is what the run would take on an otherwise idle machine: the driver's
    CPU time plus the busiest worker's (this machine is shared, so wall time is noisy).
    """
    import psutil

    procs = [psutil.Process(pid) for pid in pids or ()]
    times, cpu_bounds, result = [], [], None
    for _ in range(runs):
        before = [sum(p.cpu_times()[:2]) for p in procs]
        cpu = time.process_time()
        start = time.perf_counter()
        result = func(*args)
        times.append(time.perf_counter() - start)
        driver = time.process_time() - cpu
        busiest = max((sum(p.cpu_times()[:2]) - b for p, b in zip(procs, before)), default=0.0)
        cpu_bounds.append(driver + busiest)
    return statistics.median(times), statistics.median(cpu_bounds), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--only", default="", help="comma-separated workload names")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(WORKLOADS)

    from bndl_dask import ComputeContext

    ctx = ComputeContext(worker_count=args.workers, dashboard=False, conf={"bndl.progress": "none"})
    ctx.await_workers(args.workers)
    ok = True
    try:
        w2_reduce_by_key(ctx, 0.01)  # warm up imports on the workers
        import os

        pids = list(ctx.client.run(os.getpid).values())
        print(f"{'workload':10} {'serial s':>9} {'bndl s':>8} {'ratio':>6} {'target':>6} "
              f"{'cpu ratio':>9}  check")
        for name in names:
            dist, serial = WORKLOADS[name]
            serial_s, serial_cpu, expected = _median_time(serial, (args.scale,), args.runs)
            bndl_s, bndl_cpu, got = _median_time(dist, (ctx, args.scale), args.runs, pids)
            ratio = bndl_s / (serial_s / args.workers)
            cpu_ratio = bndl_cpu / (serial_cpu / args.workers)
            correct = got == expected
            ok &= correct
            print(f"{name:10} {serial_s:9.3f} {bndl_s:8.3f} {ratio:6.2f} {TARGETS[name]:6.1f} "
                  f"{cpu_ratio:9.2f}  {'ok' if correct else 'WRONG'}", flush=True)
    finally:
        ctx.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
