"""Execute layer: jobs of tasks run with BNDL's scheduler semantics on dask futures."""

from bndl_dask.execute.exceptions import (
    DependenciesFailed,
    FailedDependency,
    InvocationException,
    ResultNotPicklable,
    TaskCancelled,
    WorkersKilled,
    root_exc,
)
from bndl_dask.execute.job import BarrierTask, Job, RmiTask, Task
from bndl_dask.execute.scheduler import Scheduler
from bndl_dask.worker.runtime import current_worker, task_context

__all__ = [
    "BarrierTask",
    "DependenciesFailed",
    "FailedDependency",
    "InvocationException",
    "Job",
    "ResultNotPicklable",
    "RmiTask",
    "Scheduler",
    "Task",
    "TaskCancelled",
    "WorkersKilled",
    "current_worker",
    "root_exc",
    "task_context",
]
