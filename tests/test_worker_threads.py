"""Issue 12 item 10: jobs use the threads each worker has (dask's ``nthreads``) unless
``bndl.execute.concurrency`` says otherwise; the default pcount is the cluster's task slots."""

from __future__ import annotations

import threading
import time
import uuid

from distributed import Event, Queue, Worker, get_worker

WAIT = 60  # seconds a gate waits at most: a broken default fails the test, never hangs it


def arrive_and_wait(idx, data, *, gate: str):
    """Tell the driver this task runs (and where), then wait until the driver opens the gate."""
    Queue(gate).put(get_worker().name)
    deadline = time.monotonic() + WAIT
    while not Event(gate).wait(0.05):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {gate} was never opened")
    return list(data)


def test_default_pcount_and_concurrency_follow_worker_threads(make_ctx):
    ctx = make_ctx(worker_count=2, threads_per_worker=2)
    ctx.await_workers(2)
    assert ctx.default_pcount == 4
    gate = f"gate-{uuid.uuid4().hex}"
    dset = ctx.range(8)  # the default pcount: 4 partitions
    assert len(dset.parts()) == 4
    results = dset.map_partitions_with_index(
        lambda idx, data: arrive_and_wait(idx, data, gate=gate)).icollect()
    collected: list = []
    runner = threading.Thread(target=lambda: collected.extend(results), daemon=True)
    runner.start()
    try:
        # all four tasks run at once, two on each worker: none finishes before the gate opens
        arrivals = Queue(gate, client=ctx.client)
        arrived = [arrivals.get(timeout=WAIT) for _ in range(4)]
        assert sorted(arrived.count(name) for name in set(arrived)) == [2, 2]
    finally:
        Event(gate, client=ctx.client).set()
        runner.join(WAIT)
    assert collected == list(range(8))


def test_concurrency_stays_an_explicit_override(make_ctx):
    ctx = make_ctx(worker_count=2, threads_per_worker=2,
                   conf={"bndl.execute.concurrency": 1})
    ctx.await_workers(2)
    assert ctx.default_pcount == 2


def test_a_worker_joining_later_adds_its_threads(make_ctx):
    ctx = make_ctx(worker_count=1, threads_per_worker=2)
    ctx.await_workers(1)
    assert ctx.default_pcount == 2

    async def start():
        return await Worker(ctx.client.scheduler.address, nthreads=3, name="late-3-threads",
                            dashboard=False, memory_limit=0)

    late = ctx.client.sync(start)  # in this process, on the client's event loop
    try:
        ctx.client.wait_for_workers(2, timeout=WAIT)
        assert ctx.default_pcount == 5
    finally:
        ctx.client.sync(late.close)
