"""Turning a dataset's lineage into one Job and running it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from bndl_dask.execute.job import BarrierTask, Job, RmiTask, Task
from bndl_dask.execute.results import ResultBound
from bndl_dask.execute.settings import max_result_size
from bndl_dask.execute.spec import SharedPickles
from bndl_dask.planning.shuffle_release import release_shuffles
from bndl_dask.planning.tasks import (
    SHUFFLE_INPUT_PREFIX,
    Computed,
    compute_partition,
    write_partition,
)
from bndl_dask.worker.manifest import writer_task_id
from bndl_dask.worker.runtime import in_task

if TYPE_CHECKING:
    from bndl_dask.datasets.core import DatasetCore as Dataset
    from bndl_dask.datasets.core import Partition


class PartitionTask(RmiTask):
    """Computes one partition; its locality is the partition's."""

    def __init__(self, ctx, task_id, method, args, kwargs, part: Partition,
                 pickles: SharedPickles | None = None, **options: Any):
        super().__init__(ctx, task_id, method, args, kwargs, **options)
        self.pickles = pickles
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
        self._skipped: set[str] = set()
        #: the datasets (and shuffle writers) of the job, pickled once for all its tasks
        self.pickles = SharedPickles()
        self._live_addresses = {w.address for w in ctx._worker_snapshot()}

    def _add(self, task: Task) -> Task:
        self.tasks.append(task)
        return task

    def _prepare_chain(self, part: Partition, skipped: bool = False) -> dict[Dataset, bool]:
        """Walk ``part``'s lineage; note cached copies; return the shuffles it reads from, each
        with whether its map side may be skipped (only reached through live caches)."""
        boundaries: dict[Dataset, bool] = {}
        stack = [(part, skipped)]
        seen = set()
        while stack:
            current, skipped = stack.pop()
            if (id(current), skipped) in seen:
                continue
            seen.add((id(current), skipped))
            dset = current.dset
            self.pickles.share(dset)
            if dset._cache_options is not None:
                self.cached_datasets[dset.id] = dset
                location = dset._cache_locations.get(current.idx)
                if location is not None and location not in self._live_addresses:
                    del dset._cache_locations[current.idx]
                    location = None
                current.cache_location = location
                if location is not None:
                    # read from the cache: upstream shuffles are planned but not run, so that
                    # a cache lost meanwhile can be recomputed (DependenciesFailed re-runs them)
                    skipped = True
            if dset.sync_required:
                boundaries[dset] = boundaries.get(dset, True) and skipped
                continue
            stack.extend((source, skipped) for source in current.source_partitions())
        return boundaries

    def _inputs(self, boundaries: dict[Dataset, bool]) -> dict[str, BarrierTask]:
        return {SHUFFLE_INPUT_PREFIX + dset.id: self.barrier(dset, skipped)
                for dset, skipped in boundaries.items()}

    def barrier(self, shuffle: Dataset, skipped: bool = False) -> BarrierTask:
        """The barrier after the map side of ``shuffle`` (planned once per job).

        ``skipped``: only cached partitions read the shuffle, so its writers and barrier are
        marked done without running (BNDL does the same); a reader that finds no manifests
        then raises DependenciesFailed and the scheduler runs them after all.
        """
        if shuffle.id in self.barriers:
            barrier = self.barriers[shuffle.id]
            if not skipped and shuffle.id in self._skipped:
                self._skipped.discard(shuffle.id)
                for task in (barrier, *barrier.dependencies):
                    task.future = None  # un-mark: an uncached partition needs it run
            return barrier
        self.shuffles.append(shuffle)
        writers = []
        writer = shuffle.shuffle_writer()
        self.pickles.share(writer)
        for part in shuffle.src.parts():
            inputs = self._inputs(self._prepare_chain(part, skipped))
            writers.append(self._add(PartitionTask(
                self.ctx, writer_task_id(shuffle.id, part.idx), write_partition, (part, writer),
                inputs,
                part=part, pickles=self.pickles, priority=len(self.tasks),
                name=f"{self.name} shuffle-write",
                desc=f"shuffle write {part.idx} of {shuffle!r} ({shuffle.callsite})")))
        barrier = BarrierTask(self.ctx, (shuffle.id + ".b", len(writers)), writers,
                              finish=shuffle.barrier_finish(), priority=len(self.tasks),
                              name=f"{self.name} barrier",
                              desc=f"barrier of {shuffle!r}")
        self.barriers[shuffle.id] = self._add(barrier)
        if skipped:
            self._skipped.add(shuffle.id)
            for task in (*writers, barrier):
                task.mark_done()
        return barrier

    def partition_task(self, part: Partition, transform: Callable | None) -> PartitionTask:
        inputs = self._inputs(self._prepare_chain(part))
        if transform is not None:
            self.pickles.share(transform)
        return self._add(PartitionTask(
            self.ctx, part.id, compute_partition, (part, transform), inputs, part=part,
            pickles=self.pickles, priority=len(self.tasks), name=self.name,
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
    if dset.name is not None:  # named by set_name: progress bars and task names show it
        name = f"{name} {dset.name!r}"
    planner = JobPlanner(ctx, name, f"{name} at {dset.callsite}")
    all_parts = dset.parts()
    targets = all_parts if parts is None else [all_parts[i] for i in parts]
    final = [planner.partition_task(part, transform) for part in targets]
    planner.assign_stages(final)
    job = Job(ctx, planner.tasks, name=name, desc=planner.desc)
    return job, final, planner


def run_dataset(dset: Dataset, parts: Sequence[int] | None = None, ordered: bool = True,
                name: str = "collect", transform: Callable | None = None,
                gather: bool = False) -> Iterator[tuple[int, Any]]:
    """Run the job computing ``dset`` and yield ``(partition index, value)`` per partition.

    ``gather``: the caller keeps every value (collect and friends, unlike icollect's stream),
    so together they may not exceed ``bndl.execute.max_result_size``.
    """
    ctx = dset.ctx
    if ctx is None:
        raise RuntimeError(
            f"{dset!r} has no context here: actions can only be started on the driver, "
            "not inside a task")
    ctx._check_running()
    if in_task():
        raise RuntimeError("Actions cannot run inside a task; compute what the task needs first")
    if (parts is None and not dset.parts()) or (parts is not None and not parts):
        return
    job, final, planner = plan_job(dset, parts, name, transform)
    prefetch = None
    if transform is None:  # whole partitions come back: hold only a few ahead of the consumer
        prefetch = int(ctx.conf.get("bndl.compute.icollect_buffer") or 4)
    limit = max_result_size(ctx.conf.get("bndl.execute.max_result_size")) if gather else None
    bound = ResultBound(limit, f"{name} of {dset!r} ({dset.callsite})", len(final)) \
        if limit else None
    final_set = set(final)
    try:
        for task in ctx.runner.run(job, order_results=ordered, prefetch=prefetch):
            computed = task.result()
            if isinstance(computed, Computed):
                for dset_id, idx in computed.cached:
                    cached = planner.cached_datasets.get(dset_id)
                    if cached is not None:
                        cached._cache_locations[idx] = computed.address
                if task in final_set:
                    if bound is not None:
                        bound.add(computed.value)
                    yield task.part_idx, computed.value
                    del computed
                    forget = getattr(task.future, "forget", None)
                    if forget is not None:
                        forget()  # consumed: don't keep it until the job ends
    finally:
        if planner.shuffles:
            release_shuffles(ctx, [s.id for s in planner.shuffles])
