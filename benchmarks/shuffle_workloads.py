"""Shuffle workloads W2, W3, W4, W7, W8 and W9 for bndl_dask, with serial-Python references.

Each workload is a function taking a ComputeContext and returning a checkable result; the
``serial_*`` function of the same name computes the same result in one Python process. All take
``scale`` (multiplies the record counts), ``pcount`` (the partition count of every input and
output, 16 by default: what the peers in issue 15's comparison use) and ``keys`` (the key and
value types, see ``records.py``). Run ``python benchmarks/shuffle_workloads.py [--workers 2]
[--runs 3] [--only W2,W4] [--partitions 16] [--keys int] [--per-task N]`` to print the median
seconds of both and the ratio of bndl_dask to serial/workers; "cpu ratio" is the same ratio from
CPU seconds (driver + busiest worker against serial), which stays meaningful when the machine is
shared and wall times are noisy. ``--per-task N`` fixes ``bndl.execute.partitions_per_task``.

Workloads (sizes as in issue 5; ``scale`` shrinks them for quick checks):

* W2 reduce_by_key: 2,000,000 records ``(i % 100,000, 1)`` summed per key.
* W3 group_by_key: 1,000,000 records ``(i % 100,000, i)`` grouped; result (groups, values).
* W4 sort: 2,000,000 pseudo-random ints (a multiplicative hash of i), sorted and collected.
* W7 join: 1,000,000 ``(i % 200,000, i)`` joined with 200,000 ``(k, str(k))``; pairs counted.
* W8 left_outer_join: W7's left side with the even keys of its right side; (pairs, unmatched).
* W9 subtract_by_key: W7's left side without the even keys of its right side; records counted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable as a package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.records import (  # noqa: E402
    check_key_types,
    combine_values,
    key_name,
    key_unit,
    key_value,
    summary,
)

W2_RECORDS, W2_KEYS = 2_000_000, 100_000
W3_RECORDS, W3_KEYS = 1_000_000, 100_000
W4_RECORDS = 2_000_000
W7_LEFT, W7_RIGHT = 1_000_000, 200_000
_MULT, _MOD = 2654435761, 2**32
#: partitions of every input and output unless ``pcount`` says otherwise (issue 15)
DEFAULT_PARTITIONS = 16


def w2_sizes(scale: float) -> tuple[int, int]:
    return int(W2_RECORDS * scale), max(int(W2_KEYS * scale), 1)


def w3_sizes(scale: float) -> tuple[int, int]:
    return int(W3_RECORDS * scale), max(int(W3_KEYS * scale), 1)


def w7_sizes(scale: float) -> tuple[int, int]:
    return int(W7_LEFT * scale), max(int(W7_RIGHT * scale), 1)


# -- W2 -------------------------------------------------------------------------------------------


def w2_reduce_by_key(ctx, scale: float = 1.0, pcount: int = DEFAULT_PARTITIONS,
                     keys: str = "int") -> dict:
    n, nkeys = w2_sizes(scale)
    sums = ctx.range(n, pcount=pcount).map(key_unit(nkeys, keys)) \
        .reduce_by_key(combine_values(keys), pcount=pcount)
    if keys == "kb":
        sums = sums.map_values(summary)
    return sums.collect_as_map()


def serial_w2_reduce_by_key(scale: float = 1.0, pcount: int = DEFAULT_PARTITIONS,
                            keys: str = "int") -> dict:
    n, nkeys = w2_sizes(scale)
    acc: dict = {}
    get = acc.get
    if keys == "kb":
        for k, v in map(key_unit(nkeys, keys), range(n)):
            old = get(k)
            acc[k] = v if old is None or v > old else old
        return {k: summary(v) for k, v in acc.items()}
    for k, v in map(key_unit(nkeys, keys), range(n)):
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


def w3_group_by_key(ctx, scale: float = 1.0, pcount: int = DEFAULT_PARTITIONS,
                    keys: str = "int") -> tuple:
    n, nkeys = w3_sizes(scale)
    return ctx.range(n, pcount=pcount).map(key_value(nkeys, keys)) \
        .group_by_key(pcount=pcount).aggregate(_count_groups, _groups_and_values)


def serial_w3_group_by_key(scale: float = 1.0, pcount: int = DEFAULT_PARTITIONS,
                           keys: str = "int") -> tuple:
    n, nkeys = w3_sizes(scale)
    groups = defaultdict(list)
    for k, v in map(key_value(nkeys, keys), range(n)):
        groups[k].append(v)
    return _count_groups(groups.items())


# -- W4 -------------------------------------------------------------------------------------------


def w4_sort(ctx, scale: float = 1.0, pcount: int = DEFAULT_PARTITIONS) -> list:
    n = int(W4_RECORDS * scale)
    return ctx.range(n, pcount=pcount).map(lambda i: i * _MULT % _MOD).sort(pcount=pcount) \
        .collect()


def serial_w4_sort(scale: float = 1.0, pcount: int = DEFAULT_PARTITIONS) -> list:
    n = int(W4_RECORDS * scale)
    return sorted(map(lambda i: i * _MULT % _MOD, range(n)))


# -- W7, W8, W9: the two sides of a join ---------------------------------------------------------


def _sides(ctx, scale: float, pcount: int, keys: str, step: int):
    left, right = w7_sizes(scale)
    a = ctx.range(left, pcount=pcount).map(key_value(right, keys))
    b = ctx.range(right // step, pcount=pcount).map(key_name(keys, step))
    return a, b


def _serial_sides(scale: float, keys: str, step: int) -> tuple[dict, dict]:
    left, right = w7_sizes(scale)
    a: dict = defaultdict(list)
    for k, v in map(key_value(right, keys), range(left)):
        a[k].append(v)
    b: dict = defaultdict(list)
    for k, v in map(key_name(keys, step), range(right // step)):
        b[k].append(v)
    return a, b


def _pair_count(pair):
    return len(pair[1])


def w7_join(ctx, scale: float = 1.0, pcount: int = DEFAULT_PARTITIONS, keys: str = "int") -> int:
    a, b = _sides(ctx, scale, pcount, keys, 1)
    return a.join(b, pcount=pcount).map(_pair_count).sum()


def serial_w7_join(scale: float = 1.0, pcount: int = DEFAULT_PARTITIONS,
                   keys: str = "int") -> int:
    # the plain serial way to count the pairs: group both sides, multiply the group sizes
    a, b = _serial_sides(scale, keys, 1)
    return sum(len(vs) * len(b[k]) for k, vs in a.items() if k in b)


def _pairs_and_unmatched(pair) -> tuple[int, int]:
    pairs = pair[1]
    return len(pairs), sum(1 for _, w in pairs if w is None)


def _add_pairs(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return a[0] + b[0], a[1] + b[1]


def w8_left_outer_join(ctx, scale: float = 1.0, pcount: int = DEFAULT_PARTITIONS,
                       keys: str = "int") -> tuple[int, int]:
    a, b = _sides(ctx, scale, pcount, keys, 2)
    return a.left_outer_join(b, pcount=pcount).map(_pairs_and_unmatched).reduce(_add_pairs)


def serial_w8_left_outer_join(scale: float = 1.0, pcount: int = DEFAULT_PARTITIONS,
                              keys: str = "int") -> tuple[int, int]:
    a, b = _serial_sides(scale, keys, 2)
    pairs = unmatched = 0
    for k, vs in a.items():
        matches = b.get(k)
        if matches:
            pairs += len(vs) * len(matches)
        else:
            pairs += len(vs)
            unmatched += len(vs)
    return pairs, unmatched


def w9_subtract_by_key(ctx, scale: float = 1.0, pcount: int = DEFAULT_PARTITIONS,
                       keys: str = "int") -> int:
    a, b = _sides(ctx, scale, pcount, keys, 2)
    return a.subtract_by_key(b, pcount=pcount).count()


def serial_w9_subtract_by_key(scale: float = 1.0, pcount: int = DEFAULT_PARTITIONS,
                              keys: str = "int") -> int:
    left, right = w7_sizes(scale)
    removed = {k for k, _ in map(key_name(keys, 2), range(right // 2))}
    return sum(1 for k, _ in map(key_value(right, keys), range(left)) if k not in removed)


WORKLOADS = {
    "W2": (w2_reduce_by_key, serial_w2_reduce_by_key),
    "W3": (w3_group_by_key, serial_w3_group_by_key),
    "W4": (w4_sort, serial_w4_sort),
    "W7": (w7_join, serial_w7_join),
    "W8": (w8_left_outer_join, serial_w8_left_outer_join),
    "W9": (w9_subtract_by_key, serial_w9_subtract_by_key),
}
#: issue 15's targets, bndl_dask's median over (serial median / 2) (issue 5's were 3, 4, 1.5, 4)
TARGETS = {"W2": 2.5, "W3": 2.5, "W4": 1.0, "W7": 2.5}
#: the workloads whose records have keys (``keys`` applies)
KEYED = ("W2", "W3", "W7", "W8", "W9")


def _median_time(func, args: tuple, kwargs: dict, runs: int, pids: list[int] | None = None):
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
        result = func(*args, **kwargs)
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
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS)
    parser.add_argument("--keys", default="int", help="int, str, tuple or kb (see records.py)")
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--per-task", type=int, default=None, metavar="N",
                        help="bndl.execute.partitions_per_task (default: bndl_dask decides)")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(WORKLOADS)
    (kind,) = check_key_types(args.keys)

    from bndl_dask import ComputeContext

    ctx = ComputeContext(worker_count=args.workers, dashboard=False,
                         conf={"bndl.progress": "none",
                               "bndl.execute.partitions_per_task": args.per_task})
    ctx.await_workers(args.workers)
    ok = True
    try:
        w2_reduce_by_key(ctx, 0.01)  # warm up imports on the workers
        pids = list(ctx.client.run(os.getpid).values())
        print(f"{'workload':10} {'serial s':>9} {'bndl s':>8} {'ratio':>6} {'target':>6} "
              f"{'cpu ratio':>9}  check")
        for name in names:
            dist, serial = WORKLOADS[name]
            kwargs = dict(scale=args.scale, pcount=args.partitions)
            if name in KEYED:
                kwargs["keys"] = kind
            serial_s, serial_cpu, expected = _median_time(serial, (), kwargs, args.runs)
            bndl_s, bndl_cpu, got = _median_time(dist, (ctx,), kwargs, args.runs, pids)
            ratio = bndl_s / (serial_s / args.workers)
            cpu_ratio = bndl_cpu / (serial_cpu / args.workers)
            correct = got == expected
            ok &= correct
            target = f"{TARGETS[name]:6.1f}" if name in TARGETS else f"{'-':>6}"
            print(f"{name:10} {serial_s:9.3f} {bndl_s:8.3f} {ratio:6.2f} {target} "
                  f"{cpu_ratio:9.2f}  {'ok' if correct else 'WRONG'}", flush=True)
    finally:
        ctx.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
