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
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distributed import get_worker

from bndl_dask.worker.exceptions import TaskCancelled
from bndl_dask.worker.identity import WorkerHandle
from bndl_dask.worker.services import services_for

_local = threading.local()


@dataclass(frozen=True)
class DepRef:
    """Placeholder in a task's arguments for the result of its ``index``-th dependency."""

    index: int


class TaskMeta:
    """Identifies a task attempt to the runtime. A plain class: dask passes it through as is."""

    __slots__ = ("key", "task_id", "label")

    def __init__(self, key: str, task_id: Any, label: str):
        self.key = key
        self.task_id = task_id
        self.label = label  # what the user sees in errors: the task, its dataset and call site

    def __reduce__(self):
        return (TaskMeta, (self.key, self.task_id, self.label))


@dataclass
class TaskOutcome:
    """What a task returns through dask: its value and the side effects the driver applies."""

    value: Any
    worker: str
    address: str
    accumulator_updates: list = field(default_factory=list)


class TaskFailure(Exception):
    """What a task raises through dask: the user's exception plus where it happened.

    Wrapping (instead of re-raising the original) lets the driver tell the failing task from
    dependents that dask fails along with it, and know the worker to avoid on a retry.
    """

    def __init__(self, key: str, worker: str, error: BaseException, remote_traceback: str):
        super().__init__(key, worker, error, remote_traceback)
        self.key = key
        self.worker = worker
        self.error = error
        self.remote_traceback = remote_traceback

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
        return dep.value if isinstance(dep, TaskOutcome) else dep
    return value


def invoke(meta: TaskMeta, spec: bytes, *deps: Any) -> TaskOutcome:
    """Run one bndl task on this dask worker (the function dask calls)."""
    dask_worker = get_worker()
    services = services_for(dask_worker)
    handle = services.handle
    runtime = TaskRuntime(meta, handle, dask_worker)
    previous = current_runtime()
    _local.runtime = runtime
    ident = threading.get_ident()
    try:
        try:
            services.task_started(meta.key, ident)
            method, args, kwargs = _unpickle_spec(spec, meta)
            args = [_resolve(a, deps) for a in args]
            kwargs = {k: _resolve(v, deps) for k, v in kwargs.items()}
            value = method(*args, **kwargs)
        finally:
            services.task_stopped(meta.key)
    except BaseException as exc:  # noqa: B036 - TaskCancelled may arrive as any bytecode boundary
        _local.runtime = previous
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        raise TaskFailure(meta.key, handle.name, _picklable(exc), tb) from None
    _local.runtime = previous
    return TaskOutcome(value, handle.name, handle.address, runtime.accumulator_updates)


def _picklable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError describing it."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}")


def inject_cancel(dask_worker, keys: list[str]) -> list[str]:
    """Raise TaskCancelled in the threads running ``keys`` on this worker (via ``client.run``)."""
    services = services_for(dask_worker)
    return services.cancel_running(keys, _raise_in_thread)


def _raise_in_thread(ident: int) -> bool:
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), ctypes.py_object(TaskCancelled)
    )
    return done == 1
