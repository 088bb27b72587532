"""Exceptions raised inside tasks on workers (re-exported by ``bndl_dask.execute``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class TaskCancelled(Exception):
    """Raised inside the thread running a task when the driver cancels the task."""


class DependenciesFailed(Exception):
    """Raised by a task whose inputs are gone.

    ``failures`` maps a worker name (or ``None``) to the ids of the tasks whose output could not
    be obtained from it. The scheduler re-runs those tasks (elsewhere when the worker is lost),
    then this task; neither counts as an attempt.
    """

    def __init__(self, failures: Mapping[str | None, Sequence[Any]]):
        super().__init__(failures)
        self.failures = {worker: list(ids) for worker, ids in failures.items()}
