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
    UnbatchedBarrier,
    compute_partition,
    compute_partitions,
    write_partition,
    write_partitions,
)
from bndl_dask.worker.int64_records import as_list
from bndl_dask.worker.manifest import writer_task_id
from bndl_dask.worker.runtime import in_task

if TYPE_CHECKING:
    from bndl_dask.datasets.core import DatasetCore as Dataset
    from bndl_dask.datasets.core import Partition


class PartitionTask(RmiTask):
    """Computes one partition, or several of one stage (``parts``); its locality is theirs.

    A task of several partitions answers to each partition's task id (``aliases``), so that a
    reader that lost partition ``i``'s shuffle output names it as usual.
    """

    def __init__(self, ctx, task_id, method, args, kwargs, parts: Sequence[Partition],
                 pickles: SharedPickles | None = None, aliases: Sequence[Any] = (),
                 **options: Any):
        super().__init__(ctx, task_id, method, args, kwargs, **options)
        self.pickles = pickles
        self.parts: list[Partition] = list(parts)
        self.part_idxs = [part.idx for part in self.parts]
        self.aliases = tuple(aliases)

    @property
    def part_idx(self) -> int:
        """The (first) partition the task computes."""
        return self.part_idxs[0]

    @property
    def batched(self) -> bool:
        """Whether the task computes several partitions (its value is then a ``Batch``)."""
        return len(self.part_idxs) > 1

    def release(self) -> None:
        super().release()
        # ctx.jobs keeps finished jobs: don't let them keep datasets (caches, broadcasts) alive
        self.parts = []

    def locality(self, workers):
        by_name = {w.name: w for w in workers}
        return [(by_name[name], value)
                for name, value in self.parts[0].locality(workers).items() if name in by_name]


#: a stage with more partitions than this many per task slot runs several partitions per task
#: (Spark's tuning guide recommends 2-3 tasks per core)
TASKS_PER_SLOT = 2
#: the same for a collect's last stage: its results are whole partitions, which the driver
#: takes in while later tasks still run, and a task of two or more fetches the next one's
#: shuffled input while it merges the current one. Alternated on 2 workers at 16 partitions,
#: W2 took 459 ms at 4 tasks per slot against 514 at 8, W4's sort 526 against 553 (at 64
#: partitions 399 against 432 and 780 against 838); 2 per slot was no better than 4.
WHOLE_PARTITION_TASKS_PER_SLOT = 4


def partitions_per_task(count: int, slots: int, setting: int | None = None,
                        tasks_per_slot: int = TASKS_PER_SLOT) -> int:
    """How many of a stage's ``count`` partitions one task computes (at most) on ``slots`` task
    slots.

    dask spends about a millisecond of scheduler and driver time per task, more than many
    partitions take to compute, and every map task of a shuffle writes a block for every
    reducer; a map-side combine (reduce_by_key's) moreover combines only within a task. A stage
    of many more partitions than slots therefore runs in about ``TASKS_PER_SLOT`` tasks per slot
    (still two, so that a slot that finishes early takes over the rest). ``setting``
    (``bndl.execute.partitions_per_task``) fixes the number instead.

    >>> partitions_per_task(4, 2), partitions_per_task(16, 2), partitions_per_task(2000, 2)
    (1, 4, 500)
    >>> partitions_per_task(2000, 2, setting=1)
    1
    """
    if setting is not None:
        return max(int(setting), 1)
    target = max(slots, 1) * tasks_per_slot
    return 1 if count <= target else -(-count // target)


def _span(parts: Sequence[Partition]) -> str:
    first, last = parts[0].idx, parts[-1].idx
    if len(parts) == 1:
        return f"partition {first}"
    if last - first + 1 == len(parts):
        return f"partitions {first}-{last}"
    return f"{len(parts)} partitions from {first} to {last}"


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
        workers = ctx._worker_snapshot()
        self._workers = workers
        self._live_addresses = {w.address for w in workers}
        concurrency = ctx.conf.get("bndl.execute.concurrency")
        self._slots = sum(min(w.nthreads, concurrency or w.nthreads) for w in workers)
        self._per_task_setting = ctx.conf.get("bndl.execute.partitions_per_task")

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
        for parts, inputs in self._stage(shuffle.src.parts(), skipped, group=shuffle.map_group):
            method, first = (write_partition, parts[0]) if len(parts) == 1 else \
                (write_partitions, parts)
            writers.append(self._add(PartitionTask(
                self.ctx, writer_task_id(shuffle.id, parts[0].idx), method, (first, writer),
                inputs, parts=parts, pickles=self.pickles,
                aliases=[writer_task_id(shuffle.id, part.idx) for part in parts[1:]],
                priority=len(self.tasks), name=f"{self.name} shuffle-write",
                desc=f"shuffle write of {_span(parts)} of {shuffle!r} ({shuffle.callsite})")))
        finish = shuffle.barrier_finish()
        if any(task.batched for task in writers):
            finish = UnbatchedBarrier(finish)
        barrier = BarrierTask(self.ctx, (shuffle.id + ".b", len(writers)), writers,
                              finish=finish, priority=len(self.tasks),
                              name=f"{self.name} barrier",
                              desc=f"barrier of {shuffle!r}")
        self.barriers[shuffle.id] = self._add(barrier)
        if skipped:
            self._skipped.add(shuffle.id)
            for task in (*writers, barrier):
                task.mark_done()
        return barrier

    def _stage(self, parts: Sequence[Partition], skipped: bool = False, batch: bool = True,
               tasks_per_slot: int = TASKS_PER_SLOT,
               group: Callable[[int], Any] | None = None,
               ) -> list[tuple[list[Partition], dict[str, BarrierTask]]]:
        """The partitions of one stage cut into the tasks that compute them, each with its
        shuffle inputs: consecutive partitions with the same inputs, locality and ``group``
        (of their index) share a task, up to ``partitions_per_task`` of them (one each without
        ``batch``)."""
        size = partitions_per_task(len(parts), self._slots, self._per_task_setting,
                                   tasks_per_slot) \
            if batch else 1
        # partition i goes to batch i * batches // count: batches differ in size by one at most
        batches = -(-len(parts) // size)
        groups: list[tuple[list[Partition], dict[str, BarrierTask], Any]] = []
        for i, part in enumerate(parts):
            inputs = self._inputs(self._prepare_chain(part, skipped))
            if size == 1:
                groups.append(([part], inputs, None))
                continue
            signature = (tuple(inputs), tuple(sorted(part.locality(self._workers).items())),
                         group(part.idx) if group is not None else None,
                         i * batches // len(parts))
            if groups and groups[-1][2] == signature:
                groups[-1][0].append(part)
            else:
                groups.append(([part], inputs, signature))
        return [(group, inputs) for group, inputs, _ in groups]

    def final_tasks(self, parts: Sequence[Partition], transform: Callable | None,
                    gather: bool = False) -> list[PartitionTask]:
        """The tasks of the job's last stage. Whole partitions (no ``transform``) are batched
        only when the driver ``gather``s them all anyway (collect), in about
        ``WHOLE_PARTITION_TASKS_PER_SLOT`` tasks per slot; icollect streams them one partition
        per task, holding only a few at a time."""
        if transform is not None:
            self.pickles.share(transform)
        tasks = []
        for group, inputs in self._stage(
                parts, batch=transform is not None or gather,
                tasks_per_slot=TASKS_PER_SLOT if transform is not None
                else WHOLE_PARTITION_TASKS_PER_SLOT):
            method, first = (compute_partition, group[0]) if len(group) == 1 else \
                (compute_partitions, group)
            dset = group[0].dset
            tasks.append(self._add(PartitionTask(
                self.ctx, group[0].id, method, (first, transform), inputs, parts=group,
                pickles=self.pickles, aliases=[part.id for part in group[1:]],
                priority=len(self.tasks), name=self.name,
                desc=f"{self.name}: {_span(group)} of {dset!r} ({dset.callsite})")))
        return tasks

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
             transform: Callable | None,
             gather: bool = False) -> tuple[Job, list[PartitionTask], JobPlanner]:
    ctx = dset.ctx
    if dset.name is not None:  # named by set_name: progress bars and task names show it
        name = f"{name} {dset.name!r}"
    planner = JobPlanner(ctx, name, f"{name} at {dset.callsite}")
    all_parts = dset.parts()
    targets = all_parts if parts is None else [all_parts[i] for i in parts]
    final = planner.final_tasks(targets, transform, gather)
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
    job, final, planner = plan_job(dset, parts, name, transform, gather)
    prefetch = None
    if transform is None:  # whole partitions come back: hold only a few ahead of the consumer
        prefetch = int(ctx.conf.get("bndl.compute.icollect_buffer") or 4)
    limit = max_result_size(ctx.conf.get("bndl.execute.max_result_size")) if gather else None
    bound = ResultBound(limit, f"{name} of {dset!r} ({dset.callsite})",
                        sum(len(task.part_idxs) for task in final)) \
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
                    if task.batched:
                        values = zip(task.part_idxs, computed.value)
                    else:
                        values = ((task.part_idx, computed.value),)
                    del computed
                    for idx, value in values:
                        value = as_list(value)
                        if bound is not None:
                            bound.add(value)
                        yield idx, value
                    del values
                    forget = getattr(task.future, "forget", None)
                    if forget is not None:
                        forget()  # consumed: don't keep it until the job ends
    finally:
        if planner.shuffles:
            release_shuffles(ctx, [s.id for s in planner.shuffles])
