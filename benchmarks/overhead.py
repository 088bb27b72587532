"""The fixed cost per task and per job (issue 15), with and without several partitions per task.

Issue 15's targets: a narrow job over 2,000 small partitions costs at most 1 ms per partition on
top of its work, a shuffle job of 64 x 64 tiny partitions at most 150 ms, a tiny job (W6) at most
10 ms. Each probe runs on one 2-worker context, alternating ``bndl.execute.partitions_per_task``
between 1 (a task per partition, as BNDL) and null (bndl_dask's default: batches once a stage has
more than 8 partitions per task slot), so both are measured under the same load. For scale it
also times dask's own floor on the same cluster: one ``client.submit(...).result()``.

Run ``python benchmarks/overhead.py [--runs 5]``; it prints the median of each probe.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from operator import add

if __package__ in (None, ""):  # run as a script: make ``bndl_dask`` importable from the checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import dask  # noqa: E402

from bndl_dask import ComputeContext  # noqa: E402


def _key_one(i: int) -> tuple[int, int]:
    return i % 640, 1


def probes(ctx) -> dict:
    return {
        "W6 count of range(10) in 2 partitions": lambda: ctx.range(10, pcount=2).count(),
        "narrow: count over 200 partitions": lambda: ctx.range(200, pcount=200).count(),
        "narrow: count over 2,000 partitions": lambda: ctx.range(2000, pcount=2000).count(),
        "shuffle: 64 x 64 tiny partitions": lambda: ctx.range(6400, pcount=64).map(_key_one)
        .reduce_by_key(add, pcount=64).count(),
    }


def median_seconds(func, runs: int) -> float:
    func()  # warm up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    with ComputeContext(worker_count=2) as ctx:
        ctx.await_workers(2)
        floor = median_seconds(lambda: ctx.client.submit(len, [1], pure=False).result(),
                               4 * args.runs)
        print(f"dask's floor: client.submit(len, [1]).result() {floor * 1000:.1f} ms")
        print(f"{'probe':40s} {'a task per partition':>22s} {'batched (default)':>20s}")
        for name, probe in probes(ctx).items():
            timings: dict = {1: [], None: []}
            for _ in range(args.runs):  # alternate, so both see the same load
                for setting in timings:
                    with dask.config.set({"bndl.execute.partitions_per_task": setting}):
                        timings[setting].append(median_seconds(probe, 1))
            one, batched = (statistics.median(timings[s]) for s in (1, None))
            parts = 2000 if "2,000" in name else 200 if "200" in name else None
            per = f" ({one / parts * 1000:.2f} / {batched / parts * 1000:.2f} ms per partition)" \
                if parts else ""
            print(f"{name:40s} {one * 1000:19.1f} ms {batched * 1000:17.1f} ms{per}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
