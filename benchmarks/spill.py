"""A shuffle of twice the workers' memory limit, against the same shuffle held in memory.

Issue 15's spill target: a shuffle of twice the workers' memory limit completes by spilling
blocks to disk, with time per record at most 3x that of a shuffle that stays in memory. Both
runs group ``records`` pairs ``(i % keys, 1 KB of random bytes)`` by key (random bytes: lz4
would shrink a padded string to nothing, and nothing would spill) and count the groups and
values, each on a fresh 2-worker context:

* spilling: ``--memory-mb`` per worker, and as many records as make twice the workers' limits
  together (the block store may use ``bndl.compute.memory.limit`` = 50% of it, so most blocks
  go to disk; a dask worker process itself takes about 150 MiB, so the limit cannot be small);
* in memory: the same records with a memory limit large enough for every block.

Run ``python benchmarks/spill.py [--memory-mb 384] [--partitions 32] [--runs 2]``; it prints
the median seconds of each, the records per second, the ratio of the time per record, how many
blocks the spilling run moved to disk, and checks both results against each other.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

if __package__ in (None, ""):  # run as a script: make ``bndl_dask`` importable from the checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bndl_dask import ComputeContext  # noqa: E402
from bndl_dask.worker.services import services_for  # noqa: E402

VALUE_BYTES = 1024


def _record(keys: int):
    def make(i: int) -> tuple[int, bytes]:
        return i % keys, os.urandom(VALUE_BYTES)
    return make


def _count_groups(pairs) -> tuple[int, int]:
    groups = values = 0
    for _, vs in pairs:
        groups += 1
        values += len(vs)
    return groups, values


def _add_counts(partials) -> tuple[int, int]:
    groups = values = 0
    for g, v in partials:
        groups += g
        values += v
    return groups, values


def _spilled(dask_worker) -> int:
    return services_for(dask_worker).blocks.spilled_count


def run(memory_limit: int, records: int, partitions: int, runs: int) -> tuple[list, tuple, int]:
    """Seconds per run, the result and the blocks spilled, on a fresh 2-worker context."""
    ctx = ComputeContext(worker_count=2, memory_limit=memory_limit)
    try:
        ctx.await_workers(2)
        keys = max(records // 10, 1)
        groups = ctx.range(records, pcount=partitions).map(_record(keys)) \
            .group_by_key(pcount=partitions)
        times, result = [], None
        for _ in range(runs):
            start = time.perf_counter()
            result = groups.aggregate(_count_groups, _add_counts)
            times.append(time.perf_counter() - start)
        spilled = sum(ctx.client.run(_spilled).values())
        return times, result, spilled
    finally:
        ctx.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-mb", type=int, default=384)
    parser.add_argument("--partitions", type=int, default=32)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    tight = args.memory_mb * 2**20
    args.records = 4 * tight // VALUE_BYTES  # twice the two workers' limits together
    data = args.records * VALUE_BYTES
    roomy = max(4 * data, 4 * 2**30)
    print(f"{args.records:,} records of {VALUE_BYTES} bytes ({data / 2**20:.0f} MiB), "
          f"{args.partitions} partitions, 2 workers")
    spill_times, spill_result, spilled = run(tight, args.records, args.partitions, args.runs)
    memory_times, memory_result, in_memory_spilled = run(roomy, args.records, args.partitions,
                                                        args.runs)
    spill, memory = statistics.median(spill_times), statistics.median(memory_times)
    print(f"spilling  memory_limit {tight / 2**20:6.0f} MiB/worker: {spill:6.2f} s "
          f"({args.records / spill:,.0f} records/s), {spilled} blocks spilled")
    print(f"in memory memory_limit {roomy / 2**20:6.0f} MiB/worker: {memory:6.2f} s "
          f"({args.records / memory:,.0f} records/s), {in_memory_spilled} blocks spilled")
    ratio = spill / memory
    print(f"time per record, spilling / in memory: {ratio:.2f}x (target <= 3x: "
          f"{'met' if ratio <= 3 else 'MISSED'})")
    same = spill_result == memory_result == (min(args.records // 10, args.records),
                                             args.records)
    print(f"results: {spill_result} / {memory_result} ({'ok' if same else 'WRONG'})")
    return 0 if same and spilled > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
