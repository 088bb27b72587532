"""A partition larger than a worker's memory limit.

dask's nanny terminates a worker process that goes over its memory limit (at
``distributed.worker.memory.terminate``, 95%) and starts a new one. A job whose partition does
not fit must end, within a bounded time, with an error that names the dataset and tells the
user to use more partitions, instead of killing workers for ever.
"""

from __future__ import annotations

import pytest

from bndl_dask import ComputeContext
from bndl_dask.execute.exceptions import WorkersKilled

LIMIT = 300 * 2**20


def _huge(n: int) -> int:
    # ~1 GiB: 30 million int objects (28-32 bytes each) plus the list's 8-byte slots
    return len([i for i in range(n)])


@pytest.fixture(scope="module")
def small_ctx():
    context = ComputeContext(worker_count=2, memory_limit="300MiB", dashboard=False)
    context.await_workers(2)
    yield context
    context.stop()


def test_embedded_workers_enforce_the_memory_limit(small_ctx):
    def limits(dask_worker):
        return dask_worker.memory_manager.memory_limit, dask_worker.nanny is not None

    # every worker has the limit, and runs under a nanny, which terminates it when over
    assert list(small_ctx.client.run(limits).values()) == [(LIMIT, True)] * 2


def _run_huge(ctx):
    dset = ctx.collection([30_000_000, 1, 2, 3], pcount=4).map(_huge)
    with pytest.raises(Exception) as info:
        dset.collect()
    return dset, info.value


@pytest.mark.timeout(180)
def test_partition_over_the_limit_ends_and_the_context_recovers(small_ctx):
    _run_huge(small_ctx)  # raises (whatever the message), rather than hanging
    # the nanny restarts the killed workers: the context runs jobs again
    small_ctx.client.wait_for_workers(2, timeout=60)
    assert small_ctx.range(10, pcount=2).count() == 10


@pytest.mark.timeout(180)
def test_partition_over_the_limit_names_the_dataset_and_suggests_more_partitions(small_ctx):
    small_ctx.client.wait_for_workers(2, timeout=60)
    dset, err = _run_huge(small_ctx)
    assert isinstance(err, WorkersKilled)
    message = str(err)
    assert dset.id in message or dset.callsite in message, message
    assert "more partitions" in message or "pcount" in message, message
    assert "memory" in message, message
