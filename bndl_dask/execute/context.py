"""``ExecutionContext``: what the execute layer needs of a driver (BNDL's
``bndl.execute.context.ExecutionContext``).

BNDL's execute entry point ran jobs, waited for workers and profiled them. In bndl_dask the
driver is ``bndl_dask.ComputeContext`` (the api layer, which this layer may not import), so this
module holds the interface it implements: ``isinstance(ctx, ExecutionContext)`` holds for every
context, and code written against the execute layer can name the type without importing api.

>>> from bndl_dask.execute import ExecutionContext, Job, RmiTask
>>> isinstance(ctx, ExecutionContext)
True
>>> [task.result() for task in ctx.execute(Job(ctx, [RmiTask(ctx, 0, abs, (-2,))]))]
[2]
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from bndl_dask.execute.job import Job, Task
from bndl_dask.worker.identity import WorkerHandle


class ExecutionContext(abc.ABC):
    """Entry point for executing jobs across workers (``bndl_dask.ComputeContext`` is one).

    An abstract interface: create a ``bndl_dask.ComputeContext`` to get a working context.
    """

    def __new__(cls, *args: Any, **kwargs: Any):
        if cls is ExecutionContext:
            raise TypeError("ExecutionContext is the execute layer's interface; create a "
                            "bndl_dask.ComputeContext, which is one")
        return super().__new__(cls)

    @abc.abstractmethod
    def execute(self, job: Job, workers: Sequence[WorkerHandle] | None = None,
                order_results: bool = True, concurrency: int | None = None,
                attempts: int | None = None) -> Iterator[Task]:
        """Run ``job`` on ``workers`` (default: all) and yield its tasks as they finish, in job
        order with ``order_results``; ``concurrency`` tasks at a time per worker slot and
        ``attempts`` tries per task default to the ``bndl.execute.*`` settings."""

    @abc.abstractmethod
    def await_workers(self, worker_count: int | None = None,
                      connect_timeout: float | timedelta = 5,
                      stable_timeout: float | timedelta = 60) -> int:
        """Wait for workers: RuntimeError when none connects within ``connect_timeout``;
        otherwise wait at most ``stable_timeout`` for their number to settle and return it."""

    @property
    @abc.abstractmethod
    def worker_count(self) -> int:
        """The number of workers connected (waiting for them when there are none)."""

    @property
    @abc.abstractmethod
    def workers(self) -> list[WorkerHandle]:
        """The workers connected now."""

    @property
    @abc.abstractmethod
    def cpu_profiling(self) -> Any:
        """CPU profiling across the cluster (``start``, ``stop``, ``print_stats``)."""

    @property
    @abc.abstractmethod
    def memory_profiling(self) -> Any:
        """Memory profiling across the cluster with tracemalloc (``start``, ``stop``,
        ``print_top``)."""
