"""Where each task of one job stands: handed to dask, succeeded (with its outcome) or parked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bndl_dask.execute.job import Task
from bndl_dask.worker.runtime import TaskOutcome


class JobState:
    """The scheduler's bookkeeping of one job's tasks.

    A task is *in flight* from its submission to dask (or its start on the driver) until its
    outcome arrives, *succeeded* once that outcome is in, and *parked* when a worker refused it
    because the job was cancelled there (the failure that caused that is on its way).
    """

    def __init__(self) -> None:
        self.dask: dict[Task, Any] = {}  # current dask future per remote task
        # the workers each submitted task was restricted to or told to prefer (addresses)
        self.placed_on: dict[Task, frozenset[str]] = {}
        self.in_flight: set[Task] = set()
        self.parked: set[Task] = set()
        self.parked_since: float | None = None
        self.succeeded: set[Task] = set()
        self.outcomes: dict[Task, TaskOutcome] = {}
        #: the scheduler itself marks a task failed or stopped: not news to its listener
        self.marking = False

    def waiting(self, task: Task) -> bool:
        return task in self.succeeded or task in self.in_flight or task in self.parked

    def unsubmitted(self, tasks: Iterable[Task]) -> set[Task]:
        """Those of ``tasks`` that are neither succeeded, in flight nor parked."""
        return set(tasks).difference(self.succeeded, self.in_flight, self.parked)

    def value_of(self, task: Task) -> Any:
        if task in self.outcomes:
            return self.outcomes[task].value
        return task.future.result() if task.future is not None else None

    def mark_failed(self, task: Task, exc: BaseException) -> None:
        """Fail ``task`` from the scheduler (its stop listener knows it is not news)."""
        self.marking = True
        try:
            task.mark_failed(exc)
        finally:
            self.marking = False

    def signal_stop(self, task: Task) -> None:
        self.marking = True
        try:
            task.signal_stop()
        finally:
            self.marking = False

    def forget_attempt(self, task: Task) -> None:
        """Make ``task`` submittable again (a new dask key on the next wave)."""
        self.in_flight.discard(task)
        self.succeeded.discard(task)
        self.outcomes.pop(task, None)
        self.placed_on.pop(task, None)
        future = self.dask.pop(task, None)
        if future is not None:
            future.release()
        if task.future is not None and not task.future.done():
            task.future = None  # back to waiting: not pending any more
        task.state = "blocked"

    def invalidate_downstream(self, task: Task) -> None:
        """Dependents still waiting in dask on ``task``'s old key must wait for its re-run."""
        stack = list(task.dependents)
        seen = set()
        while stack:
            dependent = stack.pop()
            if dependent in seen:
                continue
            seen.add(dependent)
            if dependent in self.in_flight and dependent.remote:
                self.forget_attempt(dependent)
                stack.extend(dependent.dependents)
