"""Broadcast values (BNDL §5.2; §6 test_broadcast)."""

from __future__ import annotations

import gc
import pickle
import string
import threading

import numpy as np
import pytest

from bndl_dask.api import broadcast as broadcast_module
from bndl_dask.worker.broadcasts import WorkerBroadcast, loads_of, state_of


def read_all(ctx, values):
    """Read every broadcast's value in one task."""
    return ctx.range(1, pcount=1).map(lambda _: [b.value for b in values]).collect()[0]


def test_serializations_round_trip(ctx):
    cases = []
    for serialization in ("auto", "pickle", "marshal", "json"):
        cases += [(1, serialization), ([1, 2, 3, 4, 5], serialization)]
    for serialization in ("auto", "pickle", "marshal", "json", "text"):
        cases.append((string.ascii_lowercase, serialization))
    cases.append((b"\x00raw bytes\xff", "binary"))
    values = [ctx.broadcast(value, serialization) for value, serialization in cases]
    assert read_all(ctx, values) == [value for value, _ in cases]
    assert [b.value for b in values] == [value for value, _ in cases]  # on the driver too
    arrays = [ctx.broadcast(np.arange(10), s) for s in ("auto", "pickle")]
    assert [a.tolist() for a in read_all(ctx, arrays)] == [list(range(10))] * 2
    assert ctx.broadcast((1, 2), "json").value == [1, 2]  # JSON turns tuples into lists
    tbl = ctx.broadcast({0: "a", 1: "b"})
    assert ctx.range(2).map(lambda i: tbl.value[i]).collect() == ["a", "b"]


def test_bad_arguments(ctx):
    with pytest.raises(ValueError, match="Unsupported serialization"):
        ctx.broadcast(1, "yaml")
    with pytest.raises(ValueError, match="Can't specify both"):
        ctx.broadcast(b"x", "pickle", pickle.loads)
    with pytest.raises(ValueError):
        ctx.broadcast("not bytes", None, pickle.loads)
    with pytest.raises(ValueError, match="Must specify either"):
        ctx.broadcast(1, None, None)
    assert ctx.range(3).count() == 3


def test_custom_deserialization(ctx):
    bc = ctx.broadcast(pickle.dumps(list(range(10**6))), None, pickle.loads)
    assert ctx.range(1000).map(lambda i: bc.value[i]).collect() == list(range(1000))
    assert bc.value[-1] == 10**6 - 1


def test_one_load_per_worker_for_many_tasks_and_threads(ctx):
    big = ctx.broadcast(list(range(256 * 1024)))
    # every worker holds the block before any task asked for it
    assert set(ctx.client.run(state_of, broadcast_id=big.id).values()) == {"block"}
    tasks = ctx.worker_count * 16
    sizes = ctx.range(tasks, pcount=tasks).map(lambda i: len(big.value)).collect()
    assert sizes == [256 * 1024] * tasks
    assert set(ctx.client.run(loads_of, broadcast_id=big.id).values()) == {1}

    # concurrent first reads by threads of one worker deserialize once
    fresh = ctx.broadcast(list(range(100_000)))

    def read_in_threads(_):
        barrier = threading.Barrier(8)
        seen = []

        def read():
            barrier.wait(timeout=30)
            seen.append(len(fresh.value))

        threads = [threading.Thread(target=read) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        return seen

    first = ctx.workers[0]
    seen = ctx.range(1, pcount=1).require_workers(lambda ws: [first]).map_partitions(
        read_in_threads).collect()
    assert seen == [100_000] * 8
    assert ctx.client.run(loads_of, broadcast_id=fresh.id, workers=[first.address]) == {
        first.address: 1}


def test_worker_keeps_its_copy(ctx):
    """Once a worker read the value, it no longer needs the scattered block."""
    first = ctx.workers[0]
    bc = ctx.broadcast(list(range(10)))
    pinned = ctx.range(1, pcount=1).require_workers(lambda ws: [first]).map(
        lambda _: sum(bc.value))
    assert pinned.collect() == [45]
    assert ctx.client.run(state_of, broadcast_id=bc.id, workers=[first.address]) == {
        first.address: "value"}
    ctx.client.cancel([bc._future], force=True)  # wipe the cluster's copy of the block
    assert pinned.collect() == [45]
    assert ctx.client.run(loads_of, broadcast_id=bc.id, workers=[first.address]) == {
        first.address: 1}


def test_missing_data_fails_the_job(ctx):
    ghost = WorkerBroadcast("ghost123", "no-such-key", "pickle", None)
    with pytest.raises(RuntimeError, match="no longer available"):
        ctx.range(1).map(lambda _: ghost.value).collect()
    assert ctx.range(3).count() == 3


def test_unpersist(ctx):
    bc = ctx.broadcast([1, 2, 3])
    assert ctx.range(2).map(lambda i: bc.value[i]).collect() == [1, 2]
    bc.unpersist()
    with pytest.raises(RuntimeError, match="unpersisted"):
        ctx.range(2).map(lambda i: bc.value[i]).collect()
    with pytest.raises(RuntimeError, match="unpersisted"):
        _ = bc.value
    blocked = ctx.broadcast("x")
    ctx.range(2, pcount=2).map(lambda _: blocked.value).execute()
    blocked.unpersist(block=True, timeout=10)
    assert set(ctx.client.run(state_of, broadcast_id=blocked.id).values()) == {"unpersisted"}
    assert ctx.range(3).count() == 3


def test_garbage_collection_unpersists(ctx):
    def read_twice(bc):
        return ctx.range(2, pcount=2).map(lambda i: bc.value[i]).collect()

    bc = ctx.broadcast(list(range(5)))
    assert read_twice(bc) == [0, 1]
    broadcast_id = bc.id
    del bc
    gc.collect()
    broadcast_module.wait_for_drops(timeout=30)
    assert set(ctx.client.run(state_of, broadcast_id=broadcast_id).values()) == {"unpersisted"}


def test_worker_joining_later_fetches_the_block(ctx):
    """A worker that was not there when the value was scattered fetches it from a peer."""
    from distributed import Worker

    bc = ctx.broadcast({"answer": 42})
    name = f"late-{bc.id}"
    before = len(ctx.workers)

    async def start():
        return await Worker(ctx.client.scheduler.address, nthreads=1, name=name,
                            dashboard=False, memory_limit=0)

    late = ctx.client.sync(start)  # in this process, on the client's event loop
    try:
        ctx.client.wait_for_workers(before + 1, timeout=60)
        on_late = ctx.range(1, pcount=1).require_workers(
            lambda ws: [w for w in ws if w.name == name])
        assert on_late.map(lambda _: bc.value["answer"]).collect() == [42]
        assert ctx.client.run(loads_of, broadcast_id=bc.id, workers=[late.address]) == {
            late.address: 1}
    finally:
        ctx.client.sync(late.close)
