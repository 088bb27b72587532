"""Caching partitions on the workers (BNDL §2.8; §6 test_caching)."""

from __future__ import annotations

import gc
import os
import random
import time
from collections import Counter

import pytest

from bndl_dask.datasets.caching import cache_entries
from bndl_dask.execute.releases import deferred_releases as _deferred_releases
from bndl_dask.worker.runtime import current_worker


def entries(ctx, dset_id):
    """Worker name -> number of cached partitions of ``dset_id``."""
    by_address = ctx.client.run(cache_entries, dset_id=dset_id)
    names = {w.address: w.name for w in ctx.workers}
    return {names[address]: n for address, n in by_address.items() if n}


def random_strings(ctx, binary):
    encode = (lambda s: s.encode()) if binary else (lambda s: s)
    return ctx.range(10, pcount=ctx.worker_count + 1).map(
        lambda i: random.randint(0, 10**12)).map(str).map(encode)


@pytest.mark.parametrize("location, serialization, compression", [
    ("memory", None, None),
    ("memory", "marshal", "lz4"),
    ("memory", "text", "gzip"),
    ("disk", None, None),
    ("disk", "json", "lz4"),
    ("disk", "binary", None),
    ("disk", "pickle", "gzip"),
])
def test_cache_uncache(ctx, location, serialization, compression):
    dset = random_strings(ctx, binary=serialization == "binary")
    pcount = dset.pcount
    assert entries(ctx, dset.id) == {}
    assert dset.collect() != dset.collect()
    assert not dset.cached

    assert dset.cache(location, serialization, compression) is dset
    assert dset.cached
    first = dset.collect()
    assert dset.collect() == first
    assert sum(entries(ctx, dset.id).values()) == pcount

    assert dset.uncache(True, 5) is dset
    assert not dset.cached
    assert entries(ctx, dset.id) == {}
    assert dset.collect() != dset.collect()

    dset.cache(location, serialization, compression)
    derived = dset.map(lambda s: s)
    assert derived.collect() == derived.collect()
    assert sum(entries(ctx, dset.id).values()) == pcount

    dset_id = dset.id
    del dset, derived
    gc.collect()
    assert entries(ctx, dset_id) == {}


def test_bad_cache_options(ctx):
    with pytest.raises(ValueError):
        ctx.range(3).cache("cloud")
    with pytest.raises(ValueError):
        ctx.range(3).cache("memory", "yaml")
    with pytest.raises(ValueError):
        ctx.range(3).cache("memory", None, "gzip")
    assert ctx.range(3).uncache() is None  # not cached
    assert ctx.range(3).count() == 3


def test_remote_read_does_not_recache(ctx):
    first, second = ctx.workers[:2]
    registered = ctx.accumulator(Counter())

    def register(x):
        registered.update("update", [current_worker().name])
        return x

    dset = ctx.range(10, pcount=3).map(lambda x: x * 3).cache()
    on_first = dset.map(register).require_workers(lambda ws: [first])
    assert on_first.execute() is None
    assert registered.value == Counter({first.name: 10})
    assert entries(ctx, dset.id) == {first.name: 3}

    on_second = dset.map(register).require_workers(lambda ws: [second])
    assert on_second.execute() is None
    assert registered.value == Counter({first.name: 10, second.name: 10})
    assert entries(ctx, dset.id) == {first.name: 3}  # read remotely, not cached again
    assert sorted(on_second.map(lambda x: x // 3).collect()) == list(range(10))

    dset_id = dset.id
    del dset, on_first, on_second
    gc.collect()
    assert entries(ctx, dset_id) == {}


def test_upstream_is_not_recomputed(ctx):
    computed = ctx.accumulator(0)

    def count(x):
        nonlocal computed
        computed += 1
        return x

    dset = ctx.range(10, pcount=3).map(count).cache()
    assert dset.map(str).count() == 10 and computed.value == 10
    assert dset.map(str).count() == 10 and computed.value == 10
    assert dset.sum() == 45 and computed.value == 10
    dset.uncache()
    assert dset.count() == 10 and computed.value == 20


def _task_count(dask_scheduler) -> int:
    return len(dask_scheduler.tasks)


def test_recomputed_after_losing_a_worker(make_ctx):
    ctx = make_ctx(worker_count=2)
    ctx.await_workers(2)
    computed = ctx.accumulator(0)

    def count(x):
        nonlocal computed
        computed += 1
        return x * 2

    dset = ctx.range(20, pcount=4).map(count).cache()
    assert dset.collect() == [x * 2 for x in range(20)]
    assert computed.value == 20
    holders = entries(ctx, dset.id)
    victim = next(w for w in ctx.workers if w.name in holders)
    lost = holders[victim.name]

    async def die():
        os._exit(1)

    # the finished job's dask futures are released only a moment later (scheduler.py defers
    # that); dask would meanwhile recompute the lost ones by itself, caching the lost partitions
    # again outside any job, so that the next job would only read them. The release travels on
    # another comm than the kill below: wait until the scheduler has forgotten the tasks.
    _deferred_releases(ctx.client).flush()
    deadline = time.monotonic() + 60
    while ctx.client.run_on_scheduler(_task_count):
        assert time.monotonic() < deadline, "the finished job's tasks still held after 60 s"
        time.sleep(0.05)
    ctx.client.run(die, workers=[victim.address], wait=False)
    # the kill is asynchronous: wait until the scheduler has dropped the victim, so the next
    # job cannot still read the victim's cached partitions before it dies
    deadline = time.monotonic() + 60
    while victim.address in ctx.client.scheduler_info(n_workers=-1)["workers"]:
        assert time.monotonic() < deadline, f"{victim.address} still listed after 60 s"
        time.sleep(0.05)
    assert dset.collect() == [x * 2 for x in range(20)]
    # exactly the lost partitions were computed again (each range partition has 5 elements)
    assert computed.value == 20 + 5 * lost
    assert dset.collect() == [x * 2 for x in range(20)]
    assert computed.value == 20 + 5 * lost
