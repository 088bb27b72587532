"""Several hosts: a ``dscheduler`` on 127.0.0.1 and ``dworker`` processes bound to 127.0.0.2 (two
workers) and 127.0.0.3 (one worker), which dask and bndl see as two hosts (Linux routes all of
127.0.0.0/8 to the loopback interface). Shuffles, caches, broadcasts and host-level locality
work across them, and losing every worker of one host in the middle of a shuffle still gives the
right answer.
"""

from __future__ import annotations

import operator
import os
import signal
import threading
import time
import uuid

import pytest
from distributed import Queue
from test_chaos import pytest_generate_tests  # noqa: F401 - one trial, or many (long)
from test_cli import Proc, start_cli_cluster, stop_all

from bndl_dask import ComputeContext
from bndl_dask.worker.runtime import current_worker

WAIT = 90
HOST_A, HOST_B = "127.0.0.2", "127.0.0.3"
N, PCOUNT = 120, 12


def dworker(address: str, host: str, nworkers: int) -> Proc:
    return Proc("dworker", address, "--host", host, "--nworkers", str(nworkers),
                "--nthreads", "1", "--memory-limit", "1GiB")


@pytest.fixture(scope="module")
def hosts():
    """The cluster, a context on it, and the dworker process of each host."""
    cluster = start_cli_cluster(worker_count=0)
    workers = {HOST_A: dworker(cluster.address, HOST_A, 2),
               HOST_B: dworker(cluster.address, HOST_B, 1)}
    ctx = None
    try:
        ctx = ComputeContext(cluster.address, conf={"bndl.execute.attempts": 2})
        ctx.client.wait_for_workers(3, timeout=WAIT)
        assert ctx.await_workers(3) == 3
        yield ctx, workers, cluster
    finally:
        if ctx is not None:
            ctx.stop()
        stop_all([*workers.values(), *cluster.procs()])


def where(i: int) -> tuple[int, str]:
    return i, current_worker().host


def keyed(i: int) -> tuple[int, int]:
    return i % 7, i


def expected_sums() -> list[tuple[int, int]]:
    sums: dict[int, int] = {}
    for key, value in map(keyed, range(N)):
        sums[key] = sums.get(key, 0) + value
    return sorted(sums.items())


def test_workers_are_on_two_hosts(hosts):
    ctx, _, _ = hosts
    assert sorted(w.host for w in ctx.workers) == [HOST_A, HOST_A, HOST_B]
    assert {host for _, host in ctx.range(N, pcount=PCOUNT).map(where).collect()} == \
        {HOST_A, HOST_B}


def test_shuffle_cache_and_broadcast_across_hosts(hosts):
    ctx, _, _ = hosts
    offsets = ctx.broadcast({key: key * 1000 for key in range(7)})
    try:
        cached = ctx.range(N, pcount=PCOUNT).map(keyed).cache()
        assert cached.count() == N
        shuffled = cached.map(lambda kv: (kv[0], kv[1] + offsets.value[kv[0]])) \
            .reduce_by_key(operator.add, pcount=5)
        counts = dict(cached.map(lambda kv: kv[0]).map(lambda k: (k, 1))
                      .reduce_by_key(operator.add).collect())
        assert sorted(shuffled.collect()) == sorted(
            (key, total + counts[key] * key * 1000) for key, total in expected_sums())
        assert sorted(cached.collect()) == sorted(map(keyed, range(N)))  # from the cache
        cached.uncache()
    finally:
        offsets.unpersist()


def test_host_level_locality(hosts):
    ctx, _, _ = hosts
    on_b = ctx.range(N, pcount=PCOUNT).map(where) \
        .require_workers(lambda workers: [w for w in workers if w.host == HOST_B])
    assert {host for _, host in on_b.collect()} == {HOST_B}
    on_a = ctx.range(N, pcount=PCOUNT).map(where) \
        .require_workers(lambda workers: [w for w in workers if w.host == HOST_A])
    assert {host for _, host in on_a.collect()} == {HOST_A}


def slow(started: str, part):
    Queue(started).put(current_worker().host)
    for element in part:
        time.sleep(0.02)
        yield element


def test_losing_a_whole_host_mid_shuffle(hosts, trial):
    """Host A is SIGKILLed (nanny and workers) once the map stage runs; started again after."""
    ctx, workers, cluster = hosts
    started = f"host-{uuid.uuid4().hex}"
    queue = Queue(started, client=ctx.client)

    def kill_host_a_once_the_stage_runs():
        queue.get(timeout=WAIT)
        os.killpg(workers[HOST_A].popen.pid, signal.SIGKILL)  # its nanny and workers

    killer = threading.Thread(target=kill_host_a_once_the_stage_runs, daemon=True)
    killer.start()
    start = time.monotonic()
    result = sorted(ctx.range(N, pcount=PCOUNT).map_partitions(slow, started).map(keyed)
                    .shuffle(pcount=4).reduce_by_key(operator.add).collect())
    killer.join(WAIT)
    assert workers[HOST_A].popen.poll() is not None, "host A was not killed"
    assert result == expected_sums()
    assert {w.host for w in ctx.workers} == {HOST_B}
    assert ctx.range(10).sum() == 45
    print(f"\nwhole-host trial {trial}: {time.monotonic() - start:.1f} s")
    stop_all([workers[HOST_A]])
    workers[HOST_A] = dworker(cluster.address, HOST_A, 2)  # host A comes back
    ctx.client.wait_for_workers(3, timeout=WAIT)
    assert ctx.await_workers(3) == 3
