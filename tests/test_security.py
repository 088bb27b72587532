"""TLS through dask's Security, with a temporary certificate authority made by the test."""

from __future__ import annotations

import pytest

pytest.importorskip("cryptography")

from distributed.security import Security  # noqa: E402

from bndl_dask import ComputeContext, Executor  # noqa: E402


@pytest.fixture(scope="module")
def security():
    return Security.temporary()


def test_context_over_tls_encrypts_tasks_and_shuffles(security):
    with ComputeContext(worker_count=2, security=security, dashboard=False) as ctx:
        assert ctx.client.scheduler.address.startswith("tls://")
        assert all(w.address.startswith("tls://") for w in ctx.workers)
        assert ctx.range(100, pcount=4).map(lambda x: x + 1).sum() == 5050
        # worker-to-worker traffic (cached partition reads) goes over the same TLS comms
        cached = ctx.range(20, pcount=4).cache()
        assert cached.count() == 20
        pinned = cached.map(lambda x: x).require_workers(lambda workers: workers[:1])
        assert sorted(pinned.collect()) == list(range(20))
        # so do shuffles: reducers pull their buckets from the other worker
        counts = ctx.range(1000, pcount=4).map(lambda x: (str(x % 7), 1)).reduce_by_key(
            lambda a, b: a + b).collect_as_map()
        assert counts == {str(k): len(range(k, 1000, 7)) for k in range(7)}


def test_plain_client_cannot_join_a_tls_cluster(security):
    with ComputeContext(worker_count=1, security=security, dashboard=False) as ctx:
        address = ctx.client.scheduler.address.replace("tls://", "tcp://")
        with pytest.raises((OSError, TimeoutError)):
            Executor(address, connect_timeout=3)


def test_executor_over_tls(security):
    with ComputeContext(worker_count=1, security=security, dashboard=False) as ctx:
        address = ctx.client.scheduler.address
        with Executor(address, security=security) as executor:
            assert executor.submit(sum, [1, 2, 3]).result() == 6
