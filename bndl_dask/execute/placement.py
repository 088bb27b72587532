"""Placement: a task's locality and the job's concurrency as dask annotations.

Locality (``Task.locality``) says where a task may run (-1 forbids a worker) and where it
prefers to run; dask takes that as worker restrictions, loose (``allow_other_workers``) for a
preference. A cap on the tasks of a job running at once on a worker becomes a dask resource
(``bndl-slots``), needed only where a worker runs more threads than the cap.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from typing import Any

from bndl_dask.execute.job import BarrierTask, Task
from bndl_dask.worker.identity import WorkerHandle
from bndl_dask.worker.slots import SLOT_RESOURCE, SLOTS

logger = logging.getLogger(__name__)

#: per dask client: addresses of workers known to offer bndl's concurrency slots
_slot_workers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def task_slots(workers: Sequence[WorkerHandle], concurrency: int | None = None) -> int:
    """How many tasks of one job ``workers`` run at once: each worker's threads, or
    ``concurrency`` per worker when it is set (``bndl.execute.concurrency``).

    >>> from bndl_dask.worker.identity import WorkerHandle
    >>> workers = [WorkerHandle.from_info(f'tcp://w{i}:1', {'name': i, 'nthreads': 2})
    ...            for i in range(3)]
    >>> task_slots(workers), task_slots(workers, concurrency=1)
    (6, 3)
    """
    if concurrency is not None:
        return len(workers) * concurrency
    return sum(max(1, w.nthreads) for w in workers)


class Placement:
    """Where each task of a job may run and prefers to run, and the annotations that say so.

    ``rank`` orders the tasks (lower runs first); ``concurrency`` caps the job's tasks per
    worker (``None``: as many as the worker has threads); ``whole_cluster`` says the job's
    workers are all workers of the cluster (tasks then get only the restrictions they need).
    """

    def __init__(self, tasks: Sequence[Task], rank: dict[Task, int], concurrency: int | None,
                 whole_cluster: bool):
        self.tasks = tasks
        self.rank = rank
        self.concurrency = concurrency
        self.whole_cluster = whole_cluster
        self.forbidden: dict[Task, set[str]] = {}
        self.preferred: dict[Task, list[str]] = {}
        self.use_slots = False
        self._spread_turn = 0  # round-robin position of barrier readers under slots

    def learn(self, workers: Sequence[WorkerHandle]) -> None:
        """Ask every task where it may and prefers to run among ``workers``."""
        names = [w.name for w in workers]
        for task in self.tasks:
            forbidden, preferred = self.forbidden.setdefault(task, set()), {}
            for worker, locality in task.locality(workers) or ():
                name = worker.name if isinstance(worker, WorkerHandle) else str(worker)
                if locality < 0:
                    forbidden.add(name)
                elif locality > 0:
                    preferred[name] = locality
            if preferred:
                best = max(preferred.values())
                self.preferred[task] = [n for n in names if preferred.get(n) == best]

    def decide_slots(self, client, workers: Sequence[WorkerHandle]) -> None:
        """Whether dask must enforce ``concurrency`` (some worker has more threads than that)."""
        self.use_slots = self._needs_slots(client, workers)

    def _needs_slots(self, client, workers: Sequence[WorkerHandle]) -> bool:
        if self.concurrency is None or all(w.nthreads <= self.concurrency for w in workers):
            return False
        known = _slot_workers.setdefault(client, set())
        if all(w.address in known for w in workers):
            return True
        info = client.scheduler_info(n_workers=-1)["workers"]
        known.update(address for address, w in info.items()
                     if SLOT_RESOURCE in (w.get("resources") or {}))
        if all(w.address in known for w in workers if w.address in info):
            return True
        logger.warning(
            "Workers run more threads than bndl.execute.concurrency=%d and some were started "
            "without bndl's worker plugin; concurrency is not capped on them", self.concurrency)
        return False

    def allowed(self, task: Task, workers: Sequence[WorkerHandle]) -> list[WorkerHandle]:
        """The ``workers`` ``task`` may run on."""
        forbidden = self.forbidden[task]
        return [w for w in workers if w.name not in forbidden]

    def preferred_among(self, task: Task, workers: Sequence[WorkerHandle]) -> list[WorkerHandle]:
        preferred = self.preferred.get(task, ())
        return [w for w in workers if w.name in preferred]

    def annotations(self, task: Task, fresh: list[WorkerHandle], alive_count: int
                    ) -> dict[str, Any]:
        """dask annotations placing ``task`` on ``fresh`` (the allowed workers it has not failed
        on) among ``alive_count`` live workers."""
        annotations: dict[str, Any] = {"priority": -self.rank[task]}
        preferred = [w.address for w in self.preferred_among(task, fresh)]
        if len(fresh) < alive_count or not self.whole_cluster:
            # dask cannot prefer within a strict subset: being allowed comes first
            annotations["workers"] = tuple(sorted(w.address for w in fresh))
        elif preferred:
            annotations["workers"] = tuple(sorted(preferred))
            annotations["allow_other_workers"] = True
        if self.use_slots:
            annotations["resources"] = {SLOT_RESOURCE: SLOTS // self.concurrency}
            if "workers" not in annotations and task.dependencies and \
                    reads_only_barriers(task):
                # a task with a resource restriction cannot be a root task to dask (see
                # free_to_spread): readers of a barrier get a worker each in turn instead
                annotations["workers"] = (self._next_spread_worker(fresh),)
                annotations["allow_other_workers"] = True
        return annotations

    def _next_spread_worker(self, workers: list[WorkerHandle]) -> str:
        """The next of ``workers`` in a round-robin (a loose preference: if it is gone when
        dask places the task, the liveness check places the task again)."""
        ordered = sorted(workers, key=lambda w: w.name)
        self._spread_turn += 1
        return ordered[(self._spread_turn - 1) % len(ordered)].address


def reads_only_barriers(task: Task) -> bool:
    return all(isinstance(dep, BarrierTask) or not dep.remote for dep in task.dependencies)


def free_to_spread(task: Task, annotations: dict[str, Any]) -> bool:
    """Whether nothing ties ``task`` to a worker: no restriction or preference, and no input but
    small barrier results.

    dask is told such a task is a root task (a "data producer"), which it spreads over the
    workers by their load. Otherwise it would put all tasks reading one barrier on the worker
    holding the barrier's result.
    """
    return "workers" not in annotations and "resources" not in annotations and \
        reads_only_barriers(task)
