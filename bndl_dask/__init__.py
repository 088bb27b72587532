"""bndl_dask: BNDL's Spark-like datasets and jobs, and dask's futures, on dask.distributed.

>>> from bndl_dask import ComputeContext
>>> with ComputeContext(worker_count=2) as ctx:                      # doctest: +SKIP
...     ctx.range(10).map(lambda i: (i % 3, 1)).reduce_by_key(int.__add__).collect()
[(0, 4), (1, 3), (2, 3)]
"""

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


def progress(*futures, **kwargs):
    """Progress of futures until they are done: a widget in Jupyter, a text bar elsewhere;
    see ``bndl_dask.api.futures_progress.progress``."""
    from bndl_dask.api.futures_progress import progress as show_progress

    return show_progress(*futures, **kwargs)
