"""Jobs and tasks: the units the scheduler runs (BNDL's ``bndl.execute.job``)."""

from __future__ import annotations

import concurrent.futures
import itertools
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import cloudpickle

from bndl_dask.execute.lifecycle import Lifecycle
from bndl_dask.worker.runtime import DepRef

if TYPE_CHECKING:
    from bndl_dask.execute.context import ExecutionContext
    from bndl_dask.execute.scheduler import Scheduler
    from bndl_dask.execute.spec import SharedPickles
    from bndl_dask.worker.identity import WorkerHandle

_job_ids = itertools.count(1)


class Job(Lifecycle):
    """A set of tasks run together; ``tasks`` order is the order of ordered results.

    >>> from bndl_dask.execute import Job, RmiTask
    >>> job = Job(None, [RmiTask(None, i, abs, (-i,)) for i in range(3)], name='abs')
    >>> job.id > 0, len(job.tasks)
    (True, 3)
    """

    def __init__(self, ctx: ExecutionContext | None, tasks: Sequence[Task], name: str | None = None,
                 desc: str | None = None):
        super().__init__(name, desc)
        self.id = next(_job_ids)
        self.ctx = ctx
        self.tasks = list(tasks)
        self._groups: dict[Any, list[Task]] = {}

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()
        super().cancel()

    def group(self, name: Any) -> list[Task]:
        """The tasks whose ``group`` is ``name``."""
        if name not in self._groups:
            self._groups[name] = [task for task in self.tasks if task.group == name]
        return self._groups[name]

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.name or ''} ({len(self.tasks)} tasks)>"


def _format_id(task_id: Any) -> str:
    if isinstance(task_id, tuple):
        return ".".join(map(str, task_id))
    return str(task_id)


class Task(Lifecycle):
    """The unit of scheduling. Subclasses implement ``execute(scheduler, worker)``.

    ``priority`` defaults to the id; lower runs first. ``dependencies`` and ``dependents`` must
    both be filled in by whoever builds the job (``add_dependency`` does both).
    """

    #: RmiTask and its kind run inside dask as one batch; plain Tasks are driven by the scheduler.
    remote = False
    #: other ids the task answers to, e.g. in ``DependenciesFailed`` (a task that computes
    #: several partitions is named by each partition's id)
    aliases: tuple = ()

    def __init__(self, ctx: ExecutionContext | None, task_id: Any, *, priority: Any = None,
                 name: str | None = None, desc: str | None = None, group: Any = None):
        super().__init__(name or f"task {_format_id(task_id)}",
                         desc or f"unknown task {_format_id(task_id)}")
        self.ctx = ctx
        self.id = task_id
        self.priority = task_id if priority is None else priority
        self.group = group
        self.dependencies: set[Task] = set()
        self.dependents: set[Task] = set()
        self.future: concurrent.futures.Future | None = None
        self.executed_on: list[str] = []
        self.attempts = 0
        self.state = "blocked"

    def add_dependency(self, other: Task) -> None:
        self.dependencies.add(other)
        other.dependents.add(self)

    # -- to implement ---------------------------------------------------------------------------

    def execute(self, scheduler: Scheduler, worker: WorkerHandle) -> concurrent.futures.Future:
        raise NotImplementedError(f"{type(self).__name__} does not implement execute()")

    def locality(self, workers: Sequence[WorkerHandle]) -> Iterable[tuple[WorkerHandle, int]]:
        """``(worker, locality)`` pairs: -1 forbidden, 0 indifferent, 1+ preferred."""
        return ()

    # -- state ----------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self.future is not None

    @property
    def done(self) -> bool:
        return self.future is not None and self.future.done()

    @property
    def pending(self) -> bool:
        return self.future is not None and not self.future.done()

    @property
    def succeeded(self) -> bool:
        return self.done and not self.future.cancelled() and self.future.exception() is None

    @property
    def failed(self) -> bool:
        return self.done and (self.future.cancelled() or self.future.exception() is not None)

    def set_executing(self, worker: WorkerHandle) -> None:
        if self.cancelled:
            raise concurrent.futures.CancelledError()
        assert not self.pending, f"{self} is already executing"
        self.executed_on.append(worker.name)
        self.attempts += 1
        self.future = concurrent.futures.Future()
        self.state = "pending"
        self.signal_start()

    def mark_done(self, result: Any = None) -> None:
        """Declare the task's effect available without executing it."""
        if not self.done:
            future = concurrent.futures.Future()
            future.set_result(result)
            self.future = future
            self.state = "done"
            if self.started_on is None:
                self.started_on = datetime.now()
            self.signal_stop()

    def mark_failed(self, exc: BaseException) -> None:
        """Fail the task after the fact, e.g. because its output was lost with its worker."""
        future = concurrent.futures.Future()
        future.set_exception(exc)
        self.future = future
        self.state = "failed"
        self.signal_stop()

    def result(self) -> Any:
        if self.future is None:
            raise RuntimeError(f"{self} has not been executed")
        return self.future.result()

    def exception(self) -> BaseException | None:
        if self.future is None:
            raise RuntimeError(f"{self} has not been executed")
        return self.future.exception()

    def executed_on_last(self) -> str | None:
        return self.executed_on[-1] if self.executed_on else None

    def cancel(self) -> None:
        if not self.done:
            if self.future is not None:
                self.future.cancel()
            self.cancelled = True
            self.signal_stop()

    def release(self) -> None:
        """Drop references after the job (BNDL drops results of succeeded tasks too)."""
        if self.succeeded:
            self.future = None
        self.dependencies = set()
        self.dependents = set()
        self._start_listeners.clear()
        self._stop_listeners.clear()
        del self.executed_on[:-1]

    def __repr__(self) -> str:
        if self.failed:
            state = "failed"
        elif self.done:
            state = "done"
        elif self.pending:
            state = "pending"
        else:
            state = "none"
        return f"<{type(self).__name__} {_format_id(self.id)} {state}>"

    def __lt__(self, other: Task) -> bool:
        return (self.priority, _format_id(self.id)) < (other.priority, _format_id(other.id))


class RmiTask(Task):
    """Runs ``method(*args, **kwargs)`` on a worker.

    Arguments that are tasks are replaced by those tasks' results (and become dependencies).
    All RmiTasks of a job go to dask as one batch of futures.

    >>> from bndl_dask.execute import Job, RmiTask
    >>> a = RmiTask(None, 1, pow, (2, 10))
    >>> b = RmiTask(None, 2, str, (a,))
    >>> a in b.dependencies
    True
    """

    #: pickles what the job's tasks share once (set by whoever plans the job)
    pickles: SharedPickles | None = None

    @property
    def remote(self) -> bool:
        """Whether the scheduler may hand this task to dask in the job's batch: true unless a
        subclass brings its own ``execute()``, which the scheduler then calls when it is ready."""
        return type(self).execute is RmiTask.execute

    def __init__(self, ctx: ExecutionContext | None, task_id: Any, method: Callable,
                 args: Sequence = (), kwargs: dict | None = None, *, priority: Any = None,
                 name: str | None = None, desc: str | None = None, group: Any = None):
        super().__init__(ctx, task_id, priority=priority, name=name, desc=desc, group=group)
        self.method = method
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        for value in itertools.chain(self.args, self.kwargs.values()):
            if isinstance(value, Task):
                self.add_dependency(value)

    def spec(self, dependency_order: Sequence[Task], literals: dict[Task, Any]) -> bytes:
        """Pickle ``(method, args, kwargs)``; task arguments become ``DepRef``s into
        ``dependency_order``, or literal values for dependencies that ran outside dask."""
        index = {task: i for i, task in enumerate(dependency_order)}

        def ref(value: Any) -> Any:
            if isinstance(value, Task):
                if value in literals:
                    return literals[value]
                return DepRef(index[value])
            return value

        args = tuple(ref(a) for a in self.args)
        kwargs = {k: ref(v) for k, v in self.kwargs.items()}
        try:
            if self.pickles is not None:
                return self.pickles.dumps((self.method, args, kwargs))
            return cloudpickle.dumps((self.method, args, kwargs), protocol=5)
        except Exception as exc:
            what = getattr(self.method, "__qualname__", repr(self.method))
            raise TypeError(
                f"{self.desc or self.name}: {what} or its arguments cannot be pickled to send "
                f"to the workers ({type(exc).__name__}: {exc}). Define the function at module "
                f"level or avoid capturing objects such as locks, sockets or open files."
            ) from exc

    def execute(self, scheduler: Scheduler, worker: WorkerHandle) -> concurrent.futures.Future:
        # RmiTasks are submitted to dask by the scheduler as a batch; calling execute directly
        # runs one synchronously through the same path.
        return scheduler.execute_remote(self, worker)

    def release(self) -> None:
        super().release()
        self.pickles = None
        self.method = None
        self.args = ()
        self.kwargs = {}


def _gather_results(*results: Any) -> list:
    return list(results)


class BarrierTask(RmiTask):
    """Joins many tasks to many: n writers -> barrier -> m readers costs n + m edges.

    Its result is the list of its dependencies' results, in the order given, or what
    ``finish(*results)`` makes of them.
    """

    def __init__(self, ctx: ExecutionContext | None, task_id: Any, dependencies: Sequence[Task],
                 finish: Callable[..., Any] | None = None, **kwargs: Any):
        kwargs.setdefault("group", "hidden")
        super().__init__(ctx, task_id, finish or _gather_results, tuple(dependencies), **kwargs)
