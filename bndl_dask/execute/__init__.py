"""Execute layer: jobs of tasks run with BNDL's scheduler semantics on dask futures.

Which module holds what:

* ``context``: ``ExecutionContext``, what a driver offers (``ComputeContext`` implements it);
* ``job``, ``lifecycle``: jobs and tasks, the units that are run;
* ``runner``: running a job on a driver (``JobRunner``, behind ``ctx.execute`` and every action);
* ``scheduler``: the event loop of one job;
* ``graph``: dask keys and the graph of a wave of tasks;
* ``placement``: locality and concurrency as dask annotations, the cluster's task slots;
* ``liveness``: a job's workers coming and going;
* ``state``, ``failures``: task states, retries and recovery of lost inputs;
* ``results``, ``releases``: fetching final results, bounding what actions gather, releasing
  dask futures;
* ``settings``, ``exceptions``: the ``bndl.execute.*`` settings and the errors of this layer.
"""

from bndl_dask.execute.context import ExecutionContext
from bndl_dask.execute.exceptions import (
    DependenciesFailed,
    FailedDependency,
    InvocationException,
    JobAborted,
    JobStuckError,
    NoWorkersError,
    ResultNotPicklable,
    ResultTooLarge,
    SchedulerError,
    TaskCancelled,
    UnplaceableTaskError,
    WorkersKilled,
    root_exc,
)
from bndl_dask.execute.job import BarrierTask, Job, RmiTask, Task
from bndl_dask.execute.runner import JobRunner
from bndl_dask.execute.scheduler import Scheduler
from bndl_dask.worker.runtime import current_worker, task_context

__all__ = [
    "BarrierTask",
    "DependenciesFailed",
    "ExecutionContext",
    "FailedDependency",
    "InvocationException",
    "Job",
    "JobAborted",
    "JobRunner",
    "JobStuckError",
    "NoWorkersError",
    "ResultNotPicklable",
    "ResultTooLarge",
    "RmiTask",
    "Scheduler",
    "SchedulerError",
    "Task",
    "TaskCancelled",
    "UnplaceableTaskError",
    "WorkersKilled",
    "current_worker",
    "root_exc",
    "task_context",
]
