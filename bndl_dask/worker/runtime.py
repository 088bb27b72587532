"""The task runtime: how a bndl task runs inside a dask worker thread.

The driver hands dask a call ``invoke(meta, spec, *dependencies)``. ``spec`` is the task's
``(method, args, kwargs)`` pickled on the driver (so an unpicklable function fails there, early),
with ``DepRef(i)`` placeholders where results of other tasks go. ``invoke`` runs the method with a
task context installed (current worker, accumulator updates, cancellation) and returns one
``TaskOutcome`` object, so the result crosses processes as a single pickled block.
"""

from __future__ import annotations

import ctypes
import pickle
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distributed import get_worker

from bndl_dask.worker.exceptions import DependenciesFailed, TaskCancelled
from bndl_dask.worker.identity import WorkerHandle
from bndl_dask.worker.outcomes import (
    UnshippableOutcome,
    add_pickling_hint,
    register_outcome_serialization,
    shippable_error,
)
from bndl_dask.worker.services import services_for

_local = threading.local()

#: errors after which the driver re-runs work rather than failing the job
_RERUN_ERRORS: tuple[type[BaseException], ...] = (DependenciesFailed, TaskCancelled)


def register_rerun_error(cls: type[BaseException]) -> None:
    """Declare that a task raising ``cls`` is re-run by the driver (it does not fail the job)."""
    global _RERUN_ERRORS
    if cls not in _RERUN_ERRORS:
        _RERUN_ERRORS = (*_RERUN_ERRORS, cls)


@dataclass(frozen=True)
class DepRef:
    """Placeholder in a task's arguments for the result of its ``index``-th dependency."""

    index: int


class TaskMeta:
    """Identifies a task attempt to the runtime. A plain class: dask passes it through as is.

    ``job`` is a token unique to the job (across drivers sharing a cluster); ``final`` says that
    a failure of this attempt fails the job, so the worker stops starting the job's other tasks
    at once instead of waiting for the driver's cancel to arrive.
    """

    __slots__ = ("key", "task_id", "label", "job", "final")

    def __init__(self, key: str | tuple, task_id: Any, label: str | None, job: str = "",
                 final: bool = False):
        self.key = key
        self.task_id = task_id
        self.label = label  # what the user sees in errors: the task, its dataset and call site
        self.job = job
        self.final = final

    def __reduce__(self):
        return (TaskMeta, (self.key, self.task_id, self.label, self.job, self.final))


@dataclass
class TaskOutcome:
    """What a task returns through dask: its value and the side effects the driver applies."""

    value: Any
    worker: str
    address: str
    accumulator_updates: list = field(default_factory=list)
    key: str = ""  # the task attempt's dask key, and its label for errors (see TaskMeta)
    label: str = ""


register_outcome_serialization(TaskOutcome)


class TaskFailure(Exception):
    """What a task raises through dask: the user's exception plus where it happened.

    Wrapping (instead of re-raising the original) lets the driver tell the failing task from
    dependents that dask fails along with it, and know the worker to avoid on a retry.
    """

    def __init__(self, key: str, worker: str, error: BaseException, remote_traceback: str,
                 refused: bool = False):
        super().__init__(key, worker, error, remote_traceback, refused)
        self.key = key
        self.worker = worker
        self.error = error
        self.remote_traceback = remote_traceback
        #: the task never ran: its job was already cancelled on this worker
        self.refused = refused

    def __str__(self) -> str:
        return f"{type(self.error).__name__}: {self.error} (task {self.key} on {self.worker})"


class TaskRuntime:
    """State of the task running in the current thread."""

    def __init__(self, meta: TaskMeta, worker_handle: WorkerHandle, dask_worker):
        self.meta = meta
        self.worker = worker_handle
        self.dask_worker = dask_worker
        self.accumulator_updates: list = []
        self.context: dict = {}


def current_runtime() -> TaskRuntime | None:
    return getattr(_local, "runtime", None)


def _require_runtime() -> TaskRuntime:
    runtime = current_runtime()
    if runtime is None:
        raise RuntimeError("Working outside of task context: this only works inside a bndl task")
    return runtime


def current_worker() -> WorkerHandle:
    """The worker the calling task runs on (a handle like those in ``ctx.workers``)."""
    return _require_runtime().worker


def task_context() -> dict:
    """A dict private to the running task, for user code to keep per-task state in."""
    return _require_runtime().context


def in_task() -> bool:
    return current_runtime() is not None


def _unpickle_spec(spec: bytes, meta: TaskMeta) -> tuple[Callable, tuple, dict]:
    try:
        return pickle.loads(spec)
    except Exception as exc:
        raise RuntimeError(
            f"{meta.label}: the task's function or arguments could not be unpickled on the worker "
            f"({type(exc).__name__}: {exc}). Is every module it uses installed on the workers?"
        ) from exc


def _resolve(value: Any, deps: tuple) -> Any:
    if isinstance(value, DepRef):
        dep = deps[value.index]
        return dep.value if isinstance(dep, (TaskOutcome, UnshippableOutcome)) else dep
    return value


def invoke(meta: TaskMeta, spec: bytes, *deps: Any) -> TaskOutcome:
    """Run one bndl task on this dask worker (the function dask calls)."""
    dask_worker = get_worker()
    services = services_for(dask_worker)
    handle = services.handle
    ident = threading.get_ident()
    if not services.task_started(meta.key, ident, meta.job):
        # the job was cancelled here before this task got a thread: it never starts
        raise TaskFailure(meta.key, handle.name, TaskCancelled(meta.label), "", refused=True)
    runtime = TaskRuntime(meta, handle, dask_worker)
    previous = current_runtime()
    _local.runtime = runtime
    try:
        try:
            method, args, kwargs = _unpickle_spec(spec, meta)
            args = [_resolve(a, deps) for a in args]
            kwargs = {k: _resolve(v, deps) for k, v in kwargs.items()}
            value = method(*args, **kwargs)
        finally:
            _local.runtime = previous
            # after this no TaskCancelled is aimed at this thread any more; one that was aimed
            # at it but not yet delivered is dropped, so it cannot hit dask's own code
            services.task_stopped(meta.key)
            _clear_async_exc(ident)
    except BaseException as exc:  # noqa: B036 - TaskCancelled may arrive at any bytecode
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        # an attempt that lost to its speculative copy was cancelled on purpose: no failure
        superseded = _discard_superseded(meta.key)
        if meta.final and not superseded and not isinstance(exc, _RERUN_ERRORS):
            services.cancel_job(meta.job)  # the job fails: start none of its other tasks here
        add_pickling_hint(exc)
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        raise TaskFailure(meta.key, handle.name, _picklable(exc), tb) from None
    _discard_superseded(meta.key)
    return TaskOutcome(value, handle.name, handle.address, runtime.accumulator_updates,
                       meta.key, meta.label)


def unshipped_failure(outcome: Any) -> TaskFailure | None:
    """The failure of the task whose result could not leave its worker (None for a result that
    arrived): what the driver fails that task with when it fetched the result for its own use."""
    if not isinstance(outcome, UnshippableOutcome):
        return None
    return TaskFailure(outcome.key, outcome.worker, outcome.error, "")


def _picklable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError describing it."""
    return shippable_error(exc)


def inject_cancel(dask_worker, job: str) -> list[str]:
    """Cancel job ``job`` on this worker (run via ``client.run``): its tasks that have not
    started never will, and TaskCancelled is raised in the threads running the others."""
    return services_for(dask_worker).cancel_job(job, _raise_in_thread)


def interrupt_attempt(dask_worker, key) -> None:
    """Raise TaskCancelled in the thread running task attempt ``key`` on this worker, if any
    (run via ``client.run``): the attempt that lost to a speculative copy, or the copy."""
    if isinstance(key, list):  # a tuple key arrives as a list through client.run
        key = tuple(key)
    with _superseded_lock:
        _superseded.add(key)
    services_for(dask_worker).interrupt([key], _raise_in_thread)


_superseded: set = set()  # attempts interrupted because another attempt of the task won
_superseded_lock = threading.Lock()


def _discard_superseded(key) -> bool:
    if not _superseded:
        return False
    with _superseded_lock:
        if key in _superseded:
            _superseded.discard(key)
            return True
    return False


_injected: set[int] = set()  # threads a TaskCancelled was aimed at


class _Drained(Exception):
    pass


#: code an asynchronous exception must not land in: it could leave a lock held that the
#: worker's event loop needs (e.g. a task waiting in a distributed Event, Queue or Lock)
_UNSAFE_MODULES = ("threading", "queue", "concurrent.", "asyncio", "tornado", "distributed",
                   "bndl_dask.worker", "selectors", "logging")


def _raise_in_thread(ident: int) -> bool:
    """Raise TaskCancelled in thread ``ident`` if it runs user code now (True), else False:
    the caller tries again a moment later."""
    frame = sys._current_frames().get(ident)
    if frame is None:
        return True  # the thread is gone: nothing to interrupt
    module = frame.f_globals.get("__name__") or ""
    # blocked in a Condition's wait (under Event.wait, Queue.get, distributed's sync()) is a
    # safe place: the exception arrives inside its try/finally, as KeyboardInterrupt would
    blocked = module == "threading" and frame.f_code.co_name == "wait"
    if module.startswith(_UNSAFE_MODULES) and not blocked:
        return False
    _injected.add(ident)
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), ctypes.py_object(TaskCancelled)
    )
    return True


def _clear_async_exc(ident: int) -> None:
    # Only touch threads something was aimed at, and never clear with NULL: that leaves the
    # interpreter's eval breaker set, which makes any profiler or tracer (yappi, coverage, pdb)
    # loop forever on the next call. Replacing the pending exception and taking it here resets it.
    if ident not in _injected:
        return
    _injected.discard(ident)
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(_Drained))
    try:
        for _ in range(1000):  # a backward jump checks for (and delivers) async exceptions
            pass
    except _Drained:
        pass
