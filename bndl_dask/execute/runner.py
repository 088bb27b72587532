"""Running jobs on a driver: the scheduler in a thread, results in job order, each task's side
effects applied once, and the driver told how the job goes.

What the driver adds around a job (its worker list, the progress display, accumulators) comes
in as callbacks, so that this layer imports nothing from the ones above it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from bndl_dask.execute.dashboard_feed import DashboardFeed
from bndl_dask.execute.exceptions import FailedDependency
from bndl_dask.execute.job import Job, Task
from bndl_dask.execute.scheduler import Scheduler
from bndl_dask.execute.settings import ExecuteSettings
from bndl_dask.execute.spans import JobSpans
from bndl_dask.util import config
from bndl_dask.worker.identity import WorkerHandle
from bndl_dask.worker.runtime import in_task

if TYPE_CHECKING:
    from distributed import Client


class JobObserver(Protocol):
    """Hears how one job goes (e.g. a progress display)."""

    def task_finished(self, task: Task) -> None: ...

    def job_failed(self, error: BaseException) -> None: ...

    def job_finished(self) -> None: ...


class SilentObserver:
    """Hears nothing."""

    def task_finished(self, task: Task) -> None:
        pass

    def job_failed(self, error: BaseException) -> None:
        pass

    def job_finished(self) -> None:
        pass


class JobRunner:
    """Runs jobs on one dask ``client`` with the settings in ``conf``.

    The driver passes in what it adds around a job: ``job_workers()`` gives the workers of the
    whole cluster (waiting for them when needed), ``check_running()`` raises when the driver is
    stopped, ``record(job)`` keeps a job for the user to look at, ``observe(job)`` gives the
    job's observer and ``apply_updates(updates)`` applies a task's accumulator updates and
    returns the errors of those that failed. ``feed`` (when given) shows the jobs on the
    dashboard's "BNDL jobs" page. Every job runs in a dask span named after it (spans.py).

    >>> from bndl_dask.execute import Job, RmiTask
    >>> runner = JobRunner(ctx.client, ctx.conf, job_workers=lambda: ctx.workers)
    >>> [t.result() for t in runner.run(Job(ctx, [RmiTask(ctx, 0, abs, (-1,))]))]
    [1]
    """

    def __init__(self, client: Client, conf: Mapping[str, Any], *,
                 job_workers: Callable[[], list[WorkerHandle]],
                 check_running: Callable[[], None] = lambda: None,
                 record: Callable[[Job], None] = lambda job: None,
                 observe: Callable[[Job], JobObserver] = lambda job: SilentObserver(),
                 apply_updates: Callable[[Any], list[Exception]] = lambda updates: [],
                 feed: DashboardFeed | None = None):
        self.client = client
        self.conf = conf
        self.job_workers = job_workers
        self.check_running = check_running
        self.record = record
        self.observe = observe
        self.apply_updates = apply_updates
        self.feed = feed

    def concurrency(self) -> int | None:
        """``bndl.execute.concurrency``; ``None``: as many tasks as a worker has threads."""
        value = self.conf.get("bndl.execute.concurrency")
        return None if value is None else int(value)

    def run(self, job: Job, workers: Sequence[WorkerHandle] | None = None,
            order_results: bool = True, concurrency: int | None = None,
            attempts: int | None = None, prefetch: int | None = None) -> Iterator[Task]:
        """Run ``job`` and yield its tasks as they finish (read ``task.result()``).

        A generator: nothing runs until it is iterated, and closing it cancels the job. With
        ``order_results`` tasks come in job order, each as soon as it and all before it are done.
        ``prefetch`` bounds the final results fetched ahead of being read.
        """
        self.check_running()
        config.check_dask_config()  # a typo in a dask.config.set around this action
        if in_task():
            raise RuntimeError(
                "Actions cannot run inside a task: a task cannot wait for other tasks of the "
                "cluster. Compute what the task needs first, or pass it in as a broadcast.")
        if concurrency is not None and concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if attempts is not None and attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not job.tasks:
            return
        concurrency = concurrency or self.concurrency()
        attempts = attempts or int(self.conf["bndl.execute.attempts"])
        whole_cluster = workers is None
        if workers is None:
            workers = self.job_workers()
        self.record(job)
        applied: set = set()
        update_errors: list[Exception] = []  # raised when the job is done: its results stand

        def on_outcome(task: Task, outcome) -> None:
            if task.id not in applied:  # each task's side effects count once
                applied.add(task.id)
                update_errors.extend(self.apply_updates(outcome.accumulator_updates))

        events: queue.Queue = queue.Queue()
        spans = JobSpans(job)
        scheduler = Scheduler(job.tasks, events.put, workers, concurrency, attempts,
                              client=self.client, on_outcome=on_outcome, job_id=job.id,
                              whole_cluster=whole_cluster, prefetch=prefetch,
                              settings=ExecuteSettings.from_conf(self.conf), span_of=spans.of)
        thread = threading.Thread(target=scheduler.run, name=f"bndl-scheduler-{job.id}",
                                  daemon=True)
        job.signal_start()
        recorder = self.feed.started(job, scheduler, spans.id) if self.feed else None
        observer = self.observe(job)
        thread.start()
        error: BaseException | None = None
        try:
            yield from _in_order(events, job, order_results, observer)
            if update_errors:
                raise update_errors[0]
        except BaseException as exc:
            error = exc
            observer.job_failed(exc)
            scheduler.abort()
            raise
        finally:
            if thread.is_alive():
                scheduler.abort()
            thread.join()
            job.signal_stop()
            if recorder is not None and self.feed is not None:  # before results are released
                self.feed.ended(recorder, error)
            for task in job.tasks:
                task.release()
            observer.job_finished()


def _in_order(events: queue.Queue, job: Job, order_results: bool,
              observer: JobObserver) -> Iterator[Task]:
    """The scheduler's events as the tasks to yield: each once, in job order if asked; raises
    the job's failure."""
    yielded: set[Task] = set()
    position = {task: i for i, task in enumerate(job.tasks)}
    held: dict[int, Task] = {}
    next_index = 0
    for item in iter(events.get, None):
        if isinstance(item, BaseException):
            raise item
        task = item
        observer.task_finished(task)
        if task.failed:
            if isinstance(task.exception(), FailedDependency):
                continue  # failed after the fact: it runs again and is reported again
            raise task.exception()
        if task in yielded:
            continue
        if not order_results:
            yielded.add(task)
            yield task
            continue
        held[position[task]] = task
        while next_index in held and not held[next_index].failed:
            ready = held.pop(next_index)
            next_index += 1
            yielded.add(ready)
            yield ready
