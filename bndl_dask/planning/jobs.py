"""Turning a dataset's lineage into one Job and running it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from bndl_dask.execute.job import BarrierTask, Job, RmiTask, Task
from bndl_dask.planning.tasks import (
    SHUFFLE_INPUT_PREFIX,
    Computed,
    compute_partition,
    write_partition,
)

if TYPE_CHECKING:
    from bndl_dask.datasets.core import DatasetCore as Dataset
    from bndl_dask.datasets.core import Partition


class PartitionTask(RmiTask):
    """Computes one partition; its locality is the partition's."""

    def __init__(self, ctx, task_id, method, args, kwargs, part: Partition, **options: Any):
        super().__init__(ctx, task_id, method, args, kwargs, **options)
        self.part = part
        self.part_idx = part.idx

    def release(self) -> None:
        super().release()
        # ctx.jobs keeps finished jobs: don't let them keep datasets (caches, broadcasts) alive
        self.part = None

    def locality(self, workers):
        by_name = {w.name: w for w in workers}
        return [(by_name[name], value) for name, value in self.part.locality(workers).items()
                if name in by_name]


class JobPlanner:
    """Collects the tasks of one job: a stage per shuffle boundary, joined by barriers."""

    def __init__(self, ctx, name: str, desc: str):
        self.ctx = ctx
        self.name = name
        self.desc = desc
        self.tasks: list[Task] = []
        self.barriers: dict[str, BarrierTask] = {}
        self.cached_datasets: dict[str, Dataset] = {}
        self.shuffles: list[Dataset] = []
        self._live_addresses = {w.address for w in ctx.workers}

    def _add(self, task: Task) -> Task:
        self.tasks.append(task)
        return task

    def _prepare_chain(self, part: Partition) -> list[Dataset]:
        """Walk ``part``'s lineage; note cached copies; return the shuffles it reads from."""
        boundaries: list[Dataset] = []
        stack = [part]
        seen = set()
        while stack:
            current = stack.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            dset = current.dset
            if dset._cache_options is not None:
                self.cached_datasets[dset.id] = dset
                location = dset._cache_locations.get(current.idx)
                if location is not None and location not in self._live_addresses:
                    del dset._cache_locations[current.idx]
                    location = None
                current.cache_location = location
                if location is not None:
                    continue  # read from the cache: nothing upstream needs computing
            if dset.sync_required:
                if dset not in boundaries:
                    boundaries.append(dset)
                continue
            stack.extend(current.source_partitions())
        return boundaries

    def _inputs(self, boundaries: list[Dataset]) -> dict[str, BarrierTask]:
        return {SHUFFLE_INPUT_PREFIX + dset.id: self.barrier(dset) for dset in boundaries}

    def barrier(self, shuffle: Dataset) -> BarrierTask:
        """The barrier after the map side of ``shuffle`` (planned once per job)."""
        if shuffle.id in self.barriers:
            return self.barriers[shuffle.id]
        self.shuffles.append(shuffle)
        writers = []
        writer = shuffle.shuffle_writer()
        for part in shuffle.src.parts():
            inputs = self._inputs(self._prepare_chain(part))
            writers.append(self._add(PartitionTask(
                self.ctx, (shuffle.id + ".w", part.idx), write_partition, (part, writer), inputs,
                part=part, priority=len(self.tasks), name=f"{self.name} shuffle-write",
                desc=f"shuffle write {part.idx} of {shuffle!r} ({shuffle.callsite})")))
        barrier = BarrierTask(self.ctx, (shuffle.id + ".b", len(writers)), writers,
                              priority=len(self.tasks), name=f"{self.name} barrier",
                              desc=f"barrier of {shuffle!r}")
        self.barriers[shuffle.id] = self._add(barrier)
        return barrier

    def partition_task(self, part: Partition, transform: Callable | None) -> PartitionTask:
        inputs = self._inputs(self._prepare_chain(part))
        return self._add(PartitionTask(
            self.ctx, part.id, compute_partition, (part, transform), inputs, part=part,
            priority=len(self.tasks), name=self.name,
            desc=f"{self.name}: partition {part.idx} of {part.dset!r} ({part.dset.callsite})"))

    def assign_stages(self, final: Sequence[Task]) -> None:
        """Group tasks by stage: 1 is the first stage executed, barriers are 'hidden'."""
        depth: dict[Task, int] = {}

        def stage_of(task: Task) -> int:
            if task not in depth:
                deps = [stage_of(d) for d in task.dependencies]
                step = 0 if isinstance(task, BarrierTask) else 1
                depth[task] = (max(deps) if deps else 0) + step
            return depth[task]

        for task in final:
            stage_of(task)
        for task in self.tasks:
            task.group = "hidden" if isinstance(task, BarrierTask) else stage_of(task)


def plan_job(dset: Dataset, parts: Sequence[int] | None, name: str,
             transform: Callable | None) -> tuple[Job, list[PartitionTask], JobPlanner]:
    ctx = dset.ctx
    planner = JobPlanner(ctx, name, f"{name} at {dset.callsite}")
    all_parts = dset.parts()
    targets = all_parts if parts is None else [all_parts[i] for i in parts]
    final = [planner.partition_task(part, transform) for part in targets]
    planner.assign_stages(final)
    job = Job(ctx, planner.tasks, name=name, desc=planner.desc)
    return job, final, planner


def run_dataset(dset: Dataset, parts: Sequence[int] | None = None, ordered: bool = True,
                name: str = "collect", transform: Callable | None = None,
                ) -> Iterator[tuple[int, Any]]:
    """Run the job computing ``dset`` and yield ``(partition index, value)`` per partition."""
    ctx = dset.ctx
    if ctx is None:
        raise RuntimeError(
            f"{dset!r} has no context here: actions can only be started on the driver, "
            "not inside a task")
    ctx._check_running()
    from bndl_dask.worker.runtime import in_task

    if in_task():
        raise RuntimeError("Actions cannot run inside a task; compute what the task needs first")
    if (parts is None and not dset.parts()) or (parts is not None and not parts):
        return
    job, final, planner = plan_job(dset, parts, name, transform)
    final_set = set(final)
    try:
        for task in ctx.execute(job, order_results=ordered):
            computed = task.result()
            if isinstance(computed, Computed):
                for dset_id, idx in computed.cached:
                    cached = planner.cached_datasets.get(dset_id)
                    if cached is not None:
                        cached._cache_locations[idx] = computed.address
                if task in final_set:
                    yield task.part_idx, computed.value
    finally:
        if planner.shuffles:
            from bndl_dask.datasets.shuffle_service import release_shuffles

            release_shuffles(ctx, [s.id for s in planner.shuffles])
