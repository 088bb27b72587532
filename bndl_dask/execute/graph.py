"""Graph building: a wave of tasks becomes one dask graph of keys, layered by annotations."""

from __future__ import annotations

import itertools
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from dask._expr import HLGExpr
from dask._task_spec import Task as DaskTask
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer

from bndl_dask.execute.job import Task
from bndl_dask.worker.runtime import TaskMeta, invoke

#: tells this driver process's job keys from other drivers' (who count jobs from 1 as well)
_PROCESS_TOKEN = uuid.uuid4().hex[:10]
_jobs_run = itertools.count(1)

Key = tuple[str, int, int]


def job_token(job_id: int) -> str:
    """A token for one run of job ``job_id``, unique on the cluster (also among drivers that
    count their jobs from 1)."""
    return f"j{job_id}-{_PROCESS_TOKEN}{next(_jobs_run)}"


class TaskKeys:
    """The dask key of each task's current attempt: ``(label-token, rank, generation)``.

    A tuple key: dask groups tasks (for placement) by its first part, this job's stage, and
    names them (on its dashboard) by the label. Every attempt gets a new generation.
    """

    def __init__(self, tasks: Sequence[Task], rank: dict[Task, int], token: str):
        self.token = token
        self.rank = rank
        self.labels = {task: key_label(task) for task in tasks}
        self.generation: dict[Task, int] = {}
        self.current: dict[Task, Key] = {}

    def next(self, task: Task) -> Key:
        generation = self.generation.get(task, -1) + 1
        self.generation[task] = generation
        key = (f"{self.labels[task]}-{self.token}", self.rank[task], generation)
        self.current[task] = key
        return key

    def get(self, task: Task) -> Key | None:
        return self.current.get(task)

    def single(self, task: Task) -> str:
        """A key for one task run outside a wave (``Scheduler.execute_remote``)."""
        return f"{self.labels.get(task, 'task')}-{self.token}-single-{id(task)}-{task.attempts}"


class WaveGraph:
    """One submission's graph: a layer per distinct placement (workers, resources), with each
    task's priority looked up per key.

    Priorities are per task; as part of a layer's annotations they would make a layer per task,
    and dask's graph handling costs per key *and* layer (quadratic in a wave's size).
    """

    def __init__(self, token: str):
        self.token = token
        self.keys: list[Key] = []
        self._layers: dict[tuple, dict[Key, DaskTask]] = defaultdict(dict)
        self._annotations: dict[tuple, dict] = {}
        self._priorities: dict[tuple, dict[Key, Any]] = defaultdict(dict)

    def add(self, key: Key, meta: TaskMeta, spec: bytes, refs: Sequence[Any],
            annotations: dict[str, Any], data_producer: bool) -> None:
        placement = {k: v for k, v in annotations.items() if k != "priority"}
        signature = _freeze(placement)
        self._layers[signature][key] = DaskTask(key, invoke, meta, spec, *refs,
                                                _data_producer=data_producer)
        self._annotations[signature] = placement
        if "priority" in annotations:
            self._priorities[signature][key] = annotations["priority"]
        self.keys.append(key)

    def layer_count(self) -> int:
        return len(self._layers)

    def graph(self) -> HLGExpr:
        """The graph as dask's expression, its output keys given (dask would otherwise work
        them out by walking every layer for every key)."""
        layers = {}
        for i, (signature, layer) in enumerate(self._layers.items()):
            annotations = dict(self._annotations[signature])
            priorities = self._priorities.get(signature)
            if priorities:
                # a callable annotation is asked per key, on the dask scheduler
                annotations["priority"] = priorities.__getitem__
            layers[f"bndl-{self.token}-w{i}-{id(layer)}"] = MaterializedLayer(
                layer, annotations=annotations)
        graph = HighLevelGraph(layers, {name: set() for name in layers})
        return HLGExpr(dsk=graph, output_keys=list(self.keys))


def topological(wave: list[Task], wave_set: set[Task]) -> list[Task]:
    """``wave`` with every task after those of its dependencies that are in the wave."""
    ordered, placed = [], set()

    def place(task: Task, trail: tuple = ()) -> None:
        if task in placed:
            return
        if task in trail:
            raise ValueError(f"Dependency cycle through {task}")
        for dep in sorted(task.dependencies):
            if dep in wave_set:
                place(dep, trail + (task,))
        placed.add(task)
        ordered.append(task)

    for task in wave:
        place(task)
    return ordered


def _reachable(start: Iterable[Task], edges: Callable[[Task], Iterable[Task]]) -> set[Task]:
    """Every task reached from ``start`` by following ``edges`` (start excluded unless reached)."""
    found: set[Task] = set()
    stack = [n for t in start for n in edges(t)]
    while stack:
        task = stack.pop()
        if task not in found:
            found.add(task)
            stack.extend(edges(task))
    return found


def descendants(tasks: Iterable[Task]) -> set[Task]:
    return _reachable(tasks, lambda task: task.dependents)


def ancestors(task: Task) -> set[Task]:
    return _reachable((task,), lambda task: task.dependencies)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set)):
        return tuple(_freeze(v) for v in value)
    return value


_UNSAFE = re.compile(r"[^A-Za-z0-9_.:@<>]+")


def key_label(task: Task) -> str:
    """The readable front of a task's dask key (what the dashboard groups tasks by)."""
    label = _UNSAFE.sub("_", str(task.name or "task")).strip("_")
    return label[:80] or "task"
