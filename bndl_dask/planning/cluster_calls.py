"""The calls datasets make to the cluster outside of jobs.

``Dataset.to_futures`` submits partitions as dask tasks of their own, ``ctx.from_futures`` waits
for and locates dask futures, and caching drops partitions on every worker. These go through
here, so that ``bndl_dask.datasets`` never calls the dask client itself and a partition submitted
as a dask task runs in bndl's task runtime just as a job's task does.

>>> from bndl_dask.planning.cluster_calls import submit_options
>>> submit_options({}, [])
{}
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import cloudpickle
import distributed
from distributed import Future

from bndl_dask.worker.runtime import TaskFailure, TaskMeta, invoke

if TYPE_CHECKING:
    from bndl_dask.datasets.core import Partition
    from bndl_dask.worker.identity import WorkerHandle


# -- partitions as dask tasks ---------------------------------------------------------------------

def _partition_list(part: Partition) -> list:
    data = part.compute()
    return list(data) if data is not None else []


def _run_partition(meta: TaskMeta, spec: bytes) -> list:
    """What a submitted partition's task runs: the partition inside bndl's task runtime (so
    ``current_worker()``, broadcasts and caches work), raising the user's own exception."""
    try:
        return invoke(meta, spec).value
    except TaskFailure as failure:
        error = failure.error
    # raised outside the handler: an exception chained to the TaskFailure (which holds it)
    # would be a cycle that dask cannot ship and replaces by a plain Exception
    raise error


def submit_options(locality: dict[str, int], workers: Sequence[WorkerHandle]) -> dict:
    """dask ``submit`` options from a partition's locality (worker name -> -1 forbidden, 1+
    preferred)."""
    by_name = {w.name: w.address for w in workers}
    if any(value < 0 for value in locality.values()):
        allowed = [by_name[w.name] for w in workers if locality.get(w.name, 0) >= 0]
        if not allowed:
            return {"workers": [], "allow_other_workers": False}
        return {"workers": allowed, "allow_other_workers": False}
    preferred = [by_name[name] for name, value in locality.items()
                 if value > 0 and name in by_name]
    if preferred:
        return {"workers": preferred, "allow_other_workers": True}
    return {}


def submit_partitions(ctx: Any, parts: Sequence[Partition], action: str) -> list[Future]:
    """One dask future per partition, each holding the partition's elements as a list and
    computed by a dask task of its own (so dask owns the result and recomputes it from the task
    when a worker is lost). ``parts`` must not read a shuffle: nothing here runs a map side."""
    ctx.await_workers()
    workers = ctx.workers
    token = uuid.uuid4().hex[:8]
    futures = []
    for part in parts:
        dset = part.dset
        options = submit_options(part.locality(workers), workers)
        if options.get("workers") == []:
            raise RuntimeError(f"no worker may compute partition {part.idx} of {dset!r}")
        key = f"bndl-{action}-{dset.id}-{part.idx}-{token}"
        meta = TaskMeta(key, part.id, f"{action}: partition {part.idx} of {dset!r} "
                                      f"({dset.callsite})")
        spec = cloudpickle.dumps((_partition_list, (part,), {}), protocol=5)
        futures.append(ctx.client.submit(_run_partition, meta, spec, key=key, pure=False,
                                         **options))
    return futures


def scatter(ctx: Any, values: list) -> list[Future]:
    """One dask future per value, the values sent from the driver."""
    return ctx.client.scatter(values, hash=False)


# -- dask futures as partitions -------------------------------------------------------------------

def await_futures(futures: Sequence[Future]) -> None:
    """Wait until ``futures`` are done; a failed one raises its own exception."""
    distributed.wait(futures)
    for future in futures:
        if future.status != "finished":
            future.result()


def holders(ctx: Any, futures: Sequence[Future]) -> dict[Any, set[str]]:
    """dask key -> addresses of the workers holding its data (empty when the scheduler can't
    say)."""
    try:
        who_has = ctx.client.who_has(futures)
    except Exception:  # a hint for placement only: no answer is no preference
        return {}
    return {key: set(addresses) for key, addresses in who_has.items()}


def compute(ctx: Any, collections: Iterable) -> list[Future]:
    """Futures of dask collections (delayed objects, ...) computed on the cluster."""
    return ctx.client.compute(list(collections))


# -- every worker ---------------------------------------------------------------------------------

def run_on_workers(ctx: Any, func: Callable, wait: bool = True, timeout: float | None = None,
                   **kwargs: Any) -> Any:
    """``func(dask_worker, **kwargs)`` on every worker (``wait=False``: ``func`` must be a
    coroutine function, and nothing is returned)."""
    return ctx.client.run(func, wait=wait, callback_timeout=timeout, **kwargs)
