"""Long-running use: 1,000 consecutive small jobs leak no memory, threads or file descriptors,
on the driver or on the workers. It takes one to two minutes, so it runs on demand:
``python -m pytest -m long tests/test_leaks.py``.

Resources are measured after a warm-up (imports, connection pools, dask's caches fill during
the first jobs) and again after the run; the bounds leave room for allocator noise but not for
anything that grows per job (1,000 jobs x even 64 KiB would be 62 MiB).
"""

from __future__ import annotations

import gc
import operator
import threading
import weakref

import psutil
import pytest

from bndl_dask.api.context import JOBS_KEPT

#: connection pools keep growing for a few hundred jobs (final results are fetched in the
#: background, sometimes several at once, and each concurrent request may open a connection)
WARM_UP = 600
JOBS = 1000
MiB = 2**20


def _inc(x):
    return x + 1


def _pair(x):
    return (x % 3, x)


def _usage() -> dict:
    """This process's resident memory, threads and open file descriptors (after a gc)."""
    gc.collect()
    proc = psutil.Process()
    return {"rss": proc.memory_info().rss, "threads": proc.num_threads(),
            "fds": proc.num_fds()}


def _one_job(ctx, i: int) -> None:
    """Mostly a tiny narrow job; every 20th a shuffle, every 50th a cache and an uncache."""
    if i % 50 == 0:
        cached = ctx.range(10, pcount=2).map(_inc).cache()
        assert cached.count() == 10
        assert cached.sum() == 55  # served from the cache
        cached.uncache(block=True)
    elif i % 20 == 0:
        assert ctx.range(20, pcount=2).map(_pair).reduce_by_key(operator.add).count() == 3
    else:
        assert ctx.range(10, pcount=2).map(_inc).count() == 10


def _measure(ctx) -> tuple[dict, dict]:
    workers = ctx.client.run(_usage)
    return _usage(), workers


@pytest.mark.long
@pytest.mark.timeout(300)
def test_thousand_jobs_leak_nothing(make_ctx, request):
    if "long" not in (request.config.option.markexpr or ""):
        pytest.skip("long run: python -m pytest -m long tests/test_leaks.py")
    ctx = make_ctx(worker_count=2)
    ctx.await_workers(2)
    for i in range(WARM_UP):
        _one_job(ctx, i)
    driver_before, workers_before = _measure(ctx)
    python_threads_before = threading.active_count()

    first = ctx.range(10, pcount=2).map(_inc)
    first_ref = weakref.ref(first)
    assert first.count() == 10
    del first
    for i in range(1, JOBS):
        _one_job(ctx, i)

    driver_after, workers_after = _measure(ctx)
    assert driver_after["rss"] - driver_before["rss"] < 50 * MiB, (driver_before, driver_after)
    assert driver_after["threads"] - driver_before["threads"] <= 2, (driver_before, driver_after)
    assert threading.active_count() - python_threads_before <= 2
    assert driver_after["fds"] - driver_before["fds"] <= 5, (driver_before, driver_after)
    assert workers_after.keys() == workers_before.keys()  # no worker died (and restarted)
    for address, before in workers_before.items():
        after = workers_after[address]
        assert after["rss"] - before["rss"] < 50 * MiB, (address, before, after)
        assert after["threads"] - before["threads"] <= 2, (address, before, after)
        assert after["fds"] - before["fds"] <= 5, (address, before, after)
    # ctx.jobs keeps finished jobs (as BNDL does, but only the last JOBS_KEPT), and they must
    # not keep datasets alive
    assert len(ctx.jobs) == JOBS_KEPT
    gc.collect()
    assert first_ref() is None
