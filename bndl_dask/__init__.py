"""bndl_dask: BNDL's Spark-like datasets and jobs, and dask's futures, on dask.distributed.

A context starts an embedded cluster of worker processes on 127.0.0.1 (or joins a dask
scheduler: ``ComputeContext('host:8786')``)::

    from bndl_dask import ComputeContext
    ctx = ComputeContext(worker_count=2)

and makes datasets whose actions run as jobs on it:

>>> counts = ctx.range(10).map(lambda i: (i % 3, 1)).reduce_by_key(int.__add__)
>>> sorted(counts.collect())
[(0, 4), (1, 3), (2, 3)]
"""

from typing import Any

from distributed import as_completed, wait

from bndl_dask.api.accumulator import Accumulator
from bndl_dask.api.context import ComputeContext
from bndl_dask.api.executor import Executor
from bndl_dask.datasets.dataset import Dataset
from bndl_dask.execute.exceptions import (
    DependenciesFailed,
    FailedDependency,
    InvocationException,
    TaskCancelled,
    root_exc,
)
from bndl_dask.session import LazyContext, get_context, set_context

__version__ = "0.1.0"

#: the shared context, created on first use (see ``bndl_dask.session``)
ctx = LazyContext()

__all__ = [
    "Accumulator",
    "ComputeContext",
    "Dataset",
    "DependenciesFailed",
    "Executor",
    "FailedDependency",
    "InvocationException",
    "TaskCancelled",
    "as_completed",
    "ctx",
    "get_context",
    "progress",
    "root_exc",
    "set_context",
    "wait",
]


def progress(*futures: Any, **kwargs: Any) -> None:
    """Progress of futures until they are done: a widget in Jupyter, a text bar elsewhere;
    see ``bndl_dask.api.futures_progress.progress``."""
    from bndl_dask.api.futures_progress import progress as show_progress

    return show_progress(*futures, **kwargs)
