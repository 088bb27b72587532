"""Failure policy: how many tries a task gets, where it should not run again, and the error
the job fails with."""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from distributed.scheduler import KilledWorker

from bndl_dask.execute.exceptions import (
    DependenciesFailed,
    FailedDependency,
    JobStuckError,
    WorkersKilled,
    invocation_error,
    root_exc,
)
from bndl_dask.execute.graph import TaskKeys, ancestors, descendants
from bndl_dask.execute.job import Task
from bndl_dask.execute.liveness import WorkerLiveness
from bndl_dask.execute.state import JobState
from bndl_dask.worker.identity import WorkerHandle
from bndl_dask.worker.runtime import TaskFailure

logger = logging.getLogger(__name__)


class FailurePolicy:
    """Counts the failures of each task of a job against ``attempts``.

    Failures that are not the task's own (a lost input, a cancellation behind the job's back)
    are not counted: the scheduler re-runs those without asking the policy.
    """

    def __init__(self, attempts: int):
        self.attempts = attempts
        self.failures: dict[Task, int] = defaultdict(int)
        self.failed_on: dict[Task, set[str]] = defaultdict(set)
        #: every counted failure of a task: (worker, error), for the dashboard
        self.errors: dict[Task, list[tuple[str | None, BaseException | None]]] = defaultdict(list)

    def is_final(self, task: Task) -> bool:
        """Whether the next attempt of ``task`` is its last."""
        return self.failures[task] + 1 >= self.attempts

    def record(self, task: Task, worker: str | None, error: BaseException | None = None) -> bool:
        """Count a failure of ``task`` (on ``worker``); returns whether it is out of tries."""
        self.errors[task].append((worker, error))
        if worker is not None:
            self.failed_on[task].add(worker)
        self.failures[task] += 1
        return self.failures[task] >= self.attempts

    def avoiding(self, task: Task, workers: Sequence[WorkerHandle]) -> list[WorkerHandle]:
        """``workers`` without those ``task`` failed on, unless that leaves none: a retry
        goes elsewhere while another worker is left."""
        failed_on = self.failed_on.get(task, ())
        return [w for w in workers if w.name not in failed_on] or list(workers)


def user_error(task: Task, exc: BaseException) -> BaseException:
    """The exception a job fails with when ``task`` failed for good with ``exc``."""
    if isinstance(exc, TaskFailure):
        return invocation_error(exc.error, exc.worker, task.desc or task.name,
                                exc.remote_traceback)
    if isinstance(exc, KilledWorker):
        killed = WorkersKilled(
            f"{task.desc or task.name} killed every worker process that ran it "
            f"({exc}). Most likely it needs more memory than a worker may use: split the "
            f"data into more partitions (e.g. a larger pcount, or coalesce less), or give "
            f"the workers a larger memory_limit.")
        killed.__cause__ = exc
        return killed
    return exc


class Recovery:
    """What the scheduler does about a task that failed: run it again (its own failure, up to
    ``attempts``), re-run the inputs it lost, or fail the job."""

    def __init__(self, state: JobState, keys: TaskKeys, liveness: WorkerLiveness,
                 policy: FailurePolicy, by_id: dict[Any, Task], fetch_timeout: float):
        self.state = state
        self.keys = keys
        self.liveness = liveness
        self.policy = policy
        self.by_id = by_id
        self.fetch_timeout = fetch_timeout

    def task_failed(self, task: Task, exc: BaseException | None, future,
                    aborted: bool) -> BaseException | None:
        """Handle a failure of ``task`` (``exc``, or read from its dask ``future``); returns
        the error the job fails with when ``task`` is out of tries, else None."""
        state = self.state
        state.in_flight.discard(task)
        if exc is None:
            try:
                exc = future.exception(timeout=self.fetch_timeout)
            except concurrent.futures.CancelledError:
                exc = concurrent.futures.CancelledError(f"{task} was cancelled in dask")
            except Exception as fetch_error:
                exc = fetch_error
            if exc is None:  # nothing to blame (e.g. released meanwhile): just run it again
                state.forget_attempt(task)
                return None
        if isinstance(exc, TaskFailure):
            if exc.key != self.keys.get(task):
                # dask failed this task because a dependency failed: that one is handled on its
                # own, and this one is re-submitted once its dependency is re-run
                state.forget_attempt(task)
                return None
            if exc.refused:
                # the job was cancelled on that worker because a task failed for good; the
                # driver hears of that failure any moment and aborts
                state.forget_attempt(task)
                state.parked.add(task)
                state.parked_since = state.parked_since or time.monotonic()
                return None
            error, worker = exc.error, exc.worker
        else:
            error = root_exc(exc) if exc is not None else exc
            worker = None if task.remote else task.executed_on_last()
        if isinstance(error, DependenciesFailed):
            self.dependencies_failed(task, error)
            return None
        if isinstance(error, FailedDependency):
            # the task's own output (or input) is gone: run it again, no attempt used
            if error.worker_failed is not None:
                self.liveness.mark_failed(error.worker_failed)
            state.invalidate_downstream(task)
            state.forget_attempt(task)
            return None
        if isinstance(exc, concurrent.futures.CancelledError) and not aborted:
            # cancelled behind our back (e.g. a restart of the cluster): run it again
            state.forget_attempt(task)
            return None
        if worker is not None and task.remote:
            task.executed_on.append(worker)
            task.attempts += 1
        if self.policy.record(task, worker, exc):
            error = user_error(task, exc)
            state.mark_failed(task, error)
            task.state = "failed"
            return error
        logger.info("%s failed on %s (attempt %d of %d), retrying", task, worker,
                    self.policy.failures[task], self.policy.attempts)
        state.invalidate_downstream(task)
        state.forget_attempt(task)
        return None

    def marked_failed(self, task: Task) -> None:
        """``task`` was marked failed (FailedDependency) from outside: re-run it and make what
        depends on it and has not run yet wait for that."""
        if task not in self.state.succeeded or not task.failed:
            return
        exc = root_exc(task.exception())
        if getattr(exc, "worker_failed", None) is not None:
            self.liveness.mark_failed(exc.worker_failed)
        self.state.invalidate_downstream(task)
        self.state.forget_attempt(task)
        self.liveness.require_alive()

    def dependencies_failed(self, task: Task, error: DependenciesFailed) -> None:
        """``task`` found inputs gone: re-run those (then ``task``), no attempt used."""
        state = self.state
        lost: set[Task] = set()
        for worker_name, task_ids in error.failures.items():
            for task_id in task_ids:
                dep = self.by_id.get(tuple(task_id) if isinstance(task_id, list) else task_id)
                if dep is None:
                    raise JobStuckError(
                        f"{task} reported an unknown dependency {task_id!r} as failed")
                if dep not in state.succeeded:
                    continue  # already being re-run: the reporter waits for that run
                last = state.outcomes[dep].worker if dep in state.outcomes else \
                    dep.executed_on_last()
                if worker_name is not None and last is not None and last != worker_name:
                    continue  # stale report: the dependency has run elsewhere since
                if worker_name is not None:
                    self.liveness.mark_failed(worker_name)
                state.mark_failed(dep, FailedDependency(worker_name))
                lost.add(dep)
        # re-run the lost tasks, whatever lies between them and the reporter (e.g. a barrier
        # holding their locations), and whatever in dask still waits on their old results
        between = descendants(lost) & ancestors(task)
        for stale in lost | between | {task}:
            state.forget_attempt(stale)
        for dep in lost | between:
            state.invalidate_downstream(dep)
        self.liveness.require_alive()
