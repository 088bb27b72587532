"""Peak RSS growth of the driver while it collects a dataset, measured in a fresh process.

``python benchmarks/memprobe.py MODE N PCOUNT`` starts a 2-worker ComputeContext, runs one small
job (so imports and connections are in the baseline), then samples its own RSS every few ms while

* ``icollect-range``: consumes ``ctx.range(N).icollect()`` one element at a time,
* ``icollect-list``:  the same over ``.map(identity)`` (partitions are lists, not ranges),
* ``collect-list``:   ``consume(ctx.range(N).map(identity).collect())``,

and prints one JSON line: the growth of the peak RSS over the baseline (sampled), the seconds
taken and the (count, sum) consumed. ``maxrss_growth_mb`` (from ``getrusage``) is only a
cross-check when run directly: Linux carries a parent's peak RSS over into a forked child, so
under run.py (a large parent) it usually reads 0. A fresh process
per mode keeps one mode's freed-but-retained memory out of the next one's numbers.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import threading
import time

MODES = ("icollect-range", "icollect-list", "collect-list")


class PeakSampler(threading.Thread):
    """Samples this process's RSS until stopped; ``peak`` is the largest sample (bytes)."""

    def __init__(self, interval: float = 0.002):
        super().__init__(daemon=True)
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._done = threading.Event()
        self.peak = self._process.memory_info().rss

    def run(self) -> None:
        while not self._done.wait(self._interval):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def stop(self) -> int:
        self._done.set()
        self.join()
        self.peak = max(self.peak, self._process.memory_info().rss)
        return self.peak


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def probe(mode: str, n: int, pcount: int) -> dict:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import psutil

    from benchmarks.workloads import consume, identity
    from bndl_dask import ComputeContext

    with ComputeContext(worker_count=2, dashboard=False) as ctx:
        ctx.await_workers(2)
        consume(ctx.range(1000, pcount=2).map(identity).icollect())  # warm up the path
        gc.collect()
        baseline = psutil.Process().memory_info().rss
        maxrss_before = _maxrss_bytes()
        sampler = PeakSampler()
        sampler.start()
        began = time.perf_counter()
        dset = ctx.range(n, pcount=pcount)
        if mode == "icollect-range":
            result = consume(dset.icollect())
        elif mode == "icollect-list":
            result = consume(dset.map(identity).icollect())
        elif mode == "collect-list":
            result = consume(dset.map(identity).collect())
        else:
            raise SystemExit(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        seconds = time.perf_counter() - began
        peak = sampler.stop()
        maxrss_after = _maxrss_bytes()
    mb = 1024 * 1024
    return dict(mode=mode, n=n, pcount=pcount, seconds=seconds, result=list(result),
                baseline_mb=baseline / mb, growth_mb=(peak - baseline) / mb,
                maxrss_growth_mb=max(0, maxrss_after - max(maxrss_before, baseline)) / mb)


def main(argv: list[str]) -> None:
    mode, n, pcount = argv[0], int(argv[1]), int(argv[2])
    print(json.dumps(probe(mode, n, pcount)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
