"""Exceptions of the execute layer, with BNDL's names and constructor signatures."""

from __future__ import annotations

from bndl_dask.worker.exceptions import DependenciesFailed, TaskCancelled
from bndl_dask.worker.outcomes import ResultNotPicklable
from bndl_dask.worker.runtime import register_rerun_error

__all__ = [
    "DependenciesFailed",
    "FailedDependency",
    "InvocationException",
    "JobAborted",
    "JobStuckError",
    "NoWorkersError",
    "ResultNotPicklable",
    "ResultTooLarge",
    "SchedulerError",
    "TaskCancelled",
    "UnplaceableTaskError",
    "WorkersKilled",
    "root_exc",
]


class WorkersKilled(RuntimeError):
    """A task took down every worker process that ran it (dask gave up on it).

    Almost always the task needed more memory than a worker may use: dask's nanny kills a worker
    that passes its memory limit, and after ``distributed.scheduler.allowed-failures`` such
    deaths the task is not tried again.
    """


class FailedDependency(Exception):
    """Installed on a task that had succeeded but whose output turned out to be lost.

    ``worker_failed`` names the worker to consider lost, or is ``None``.
    """

    def __init__(self, worker_failed: str | None = None):
        super().__init__(worker_failed)
        self.worker_failed = worker_failed


register_rerun_error(FailedDependency)


class InvocationException(Exception):
    """An exception raised by user code on a worker.

    The exception a job raises on the driver is an instance of both this class and the original
    exception's type, so ``except ValueError`` and ``except InvocationException`` both catch it.
    The original is its ``__cause__``; ``remote_traceback`` holds the worker-side traceback.
    """

    remote_traceback: str = ""
    worker: str | None = None
    task: str | None = None


def root_exc(exc: BaseException) -> BaseException:
    """The user's own exception behind an ``InvocationException``, else ``exc`` itself."""
    if isinstance(exc, InvocationException) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


_wrapper_types: dict[type, type] = {}


def invocation_error(
    original: BaseException, worker: str | None, task: str | None, remote_traceback: str = ""
) -> InvocationException:
    """Wrap ``original`` in an exception that is also an instance of ``type(original)``."""
    original = _with_fields(original)
    cls = type(original)
    wrapper_cls = _wrapper_types.get(cls)
    if wrapper_cls is None:
        try:
            wrapper_cls = type(cls.__name__, (InvocationException, cls), {
                "__module__": cls.__module__,
                "__qualname__": getattr(cls, "__qualname__", cls.__name__),
                "__init__": Exception.__init__,
                "__str__": Exception.__str__,
                "__reduce__": lambda self: (InvocationException, self.args),
            })
        except TypeError:  # a base that cannot be combined (layout conflict, final class)
            wrapper_cls = InvocationException
        _wrapper_types[cls] = wrapper_cls
    where = f" on {worker}" if worker else ""
    what = f" in {task}" if task else ""
    message = f"An exception was raised{where}{what}: {cls.__name__}: {original}"
    for note in getattr(original, "__notes__", ()):  # e.g. what to do about a pickling error
        message += f" {note}"
    try:
        wrapped = wrapper_cls.__new__(wrapper_cls)
        Exception.__init__(wrapped, message)
    except Exception:
        wrapped = InvocationException(message)
    _copy_fields(original, wrapped)
    wrapped.__dict__.pop("__notes__", None)  # in the message already: not printed twice
    wrapped.remote_traceback = remote_traceback
    wrapped.worker = worker
    wrapped.task = task
    wrapped.__cause__ = original
    return wrapped


#: fields of built-in exceptions that live outside ``__dict__`` (OSError, UnicodeError)
_SLOT_FIELDS = ("errno", "strerror", "filename", "filename2", "encoding", "object", "start",
                "end", "reason")


def _copy_fields(original: BaseException, wrapped: BaseException) -> None:
    """Give ``wrapped`` the attributes of ``original`` (``e.status`` of the user's own class,
    ``e.filename`` of an OSError), as the driver would see on the exception itself."""
    if not isinstance(wrapped, type(original)):
        return
    for name in _SLOT_FIELDS:
        if hasattr(original, name):
            try:
                setattr(wrapped, name, getattr(original, name))
            except (AttributeError, TypeError):
                pass
    wrapped.__dict__.update(original.__dict__)


def _with_fields(exc: BaseException) -> BaseException:
    """``exc``, or a copy made by its constructor when it came from the worker without the
    fields its message is made of: dask's unpickling (tblib) skips ``__init__``, so a
    ``UnicodeDecodeError`` would print an empty message and have no ``reason`` or ``start``."""
    if not exc.args or str(exc):
        return exc
    try:
        rebuilt = type(exc)(*exc.args)
    except Exception:
        return exc
    if not str(rebuilt):
        return exc
    rebuilt.__dict__.update(exc.__dict__)
    rebuilt.__traceback__, rebuilt.__cause__ = exc.__traceback__, exc.__cause__
    rebuilt.__context__ = exc.__context__
    return rebuilt


class SchedulerError(RuntimeError):
    """A job cannot go on for a reason of the cluster or of the job's own structure (not an
    exception of user code, which comes back as ``InvocationException``)."""


class NoWorkersError(SchedulerError):
    """No worker is there to run the job, or every worker it relied on is gone for good."""


class UnplaceableTaskError(SchedulerError):
    """A task may run on none of the workers that are left (its locality forbids the others)."""


class JobAborted(SchedulerError):
    """The job was stopped from outside (``Scheduler.abort``, e.g. its consumer went away)."""


class JobStuckError(SchedulerError):
    """The job cannot make progress: tasks wait on something that will never come."""


class ResultTooLarge(RuntimeError):
    """An action gathered more to the driver than ``bndl.execute.max_result_size`` allows."""
