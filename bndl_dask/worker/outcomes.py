"""What crosses processes after a task ran: its outcome, or its error, checked where it is made.

A task's outcome leaves its worker when dask sends it to the driver or to another worker. When
the value cannot be pickled (a lock, a socket, an open file, a generator), dask logs the failure
at length in both processes and the driver only sees ``Could not serialize object of type
TaskOutcome``. The outcome type's own dask serializer (``register_outcome_serialization``)
catches that on the worker and sends a small ``UnshippableOutcome`` instead, which raises one
``ResultNotPicklable`` naming the task, the type of the object at fault and the fix, wherever
the value is used.

A task's exception is checked with cloudpickle, the serializer that shipped the user's code: a
class defined in a script's ``__main__``, a notebook or a function body only exists on the
worker because cloudpickle sent it by value, and the standard library's pickle cannot find it.

>>> import threading
>>> class Outcome:
...     def __init__(self, value, key, label):
...         self.value, self.key, self.label = value, key, label
>>> stand_in = unshippable(Outcome([threading.Lock()], "k", "partition 0 of <Dataset x>"),
...                        "worker-1", "tcp://127.0.0.1:1", TypeError("cannot pickle"))
>>> try:
...     stand_in.value
... except ResultNotPicklable as exc:
...     print(exc)  # doctest: +ELLIPSIS
partition 0 of <Dataset x> returned a result that cannot be pickled, ... '_thread.lock' object ...
"""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import cloudpickle
from distributed.protocol.serialize import dask_deserialize, dask_serialize, pickle_loads

from bndl_dask.util.checks import add_note

#: at most this many items of a container are tried when looking for the unpicklable one
_SEARCH_WIDTH = 1000
_SEARCH_DEPTH = 6

PICKLING_HINT = (
    "Everything that leaves a worker (task results, collected, cached and shuffled records) "
    "must be picklable: convert such objects to plain data, or create them inside the task "
    "that uses them (e.g. in a map_partitions function).")


class ResultNotPicklable(TypeError):
    """A task's result could not be pickled, so it cannot leave the worker that computed it.

    A ``TypeError``, as a pickling failure is in Python itself.
    """


class UnshippableOutcome:
    """Stands in for a task's outcome that could not be pickled; reading ``value`` raises."""

    def __init__(self, key: str, label: str, worker: str, address: str, message: str):
        self.key = key
        self.label = label
        self.worker = worker
        self.address = address
        self.message = message
        #: the task's accumulator updates went down with its value: none are applied
        self.accumulator_updates: list = []

    @property
    def error(self) -> ResultNotPicklable:
        return ResultNotPicklable(self.message)

    @property
    def value(self) -> Any:
        raise self.error

    def __reduce__(self):
        return (UnshippableOutcome,
                (self.key, self.label, self.worker, self.address, self.message))

    def __repr__(self) -> str:
        return f"<UnshippableOutcome of {self.label or self.key}>"


def unshippable(outcome: Any, worker: str, address: str, error: BaseException
                ) -> UnshippableOutcome:
    """The stand-in for ``outcome`` (whose pickling raised ``error``) with the message to raise."""
    culprit = _unpicklable_part(outcome.value)
    what = outcome.label or f"task {outcome.key}"
    message = (
        f"{what} returned a result that cannot be pickled, so it cannot leave worker {worker}: "
        f"it holds a {_type_name(culprit)} ({type(error).__name__}: {error}). "
        f"{PICKLING_HINT}")
    return UnshippableOutcome(outcome.key, outcome.label, worker, address, message)


def _type_name(obj: Any) -> str:
    cls = type(obj)
    module = cls.__module__
    name = cls.__qualname__
    return f"'{name}' object" if module == "builtins" else f"'{module}.{name}' object"


def _pickles(obj: Any) -> bool:
    try:
        cloudpickle.dumps(obj, protocol=5, buffer_callback=lambda buffer: None)
        return True
    except Exception:
        return False


def _parts(obj: Any) -> list:
    """The objects ``obj`` is made of, as far as they can be found without pickling it."""
    if isinstance(obj, dict):
        return [*obj.values(), *obj.keys()]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return list(obj) if len(obj) <= _SEARCH_WIDTH else list(obj)[:_SEARCH_WIDTH]
    slots = [name for cls in type(obj).__mro__ for name in getattr(cls, "__slots__", ())]
    parts = [getattr(obj, name) for name in slots if hasattr(obj, name)]
    parts.extend(getattr(obj, "__dict__", {}).values())
    return parts


def _unpicklable_part(obj: Any) -> Any:
    """The innermost object in ``obj`` that cannot be pickled (``obj`` itself if none inside
    fails on its own), to name its type in the error: the user's lock, not the list it is in."""
    for _ in range(_SEARCH_DEPTH):
        failing = next((part for part in _parts(obj) if part is not obj and not _pickles(part)),
                       None)
        if failing is None:
            return obj
        obj = failing
    return obj


def _dumps_pickled(obj: Any) -> tuple[dict, list]:
    """``obj`` in the frames of distributed's "pickle" serializer, pickled as dask does: with
    pickle, or cloudpickle for what pickle cannot find by name (classes of ``__main__``)."""
    buffers: list = []
    try:
        blob = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        if b"__main__" in blob:
            raise pickle.PicklingError("refers to __main__")
    except Exception:
        buffers.clear()
        blob = cloudpickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    views = [memoryview(buffer) for buffer in buffers]
    header = {"writeable": tuple(not view.readonly for view in views)}
    return header, [blob, *views]


def register_outcome_serialization(outcome_cls: type) -> None:
    """Make dask send ``outcome_cls`` (a dataclass whose fields include ``value``, ``worker``,
    ``address``, ``key`` and ``label``) through ``_dumps_pickled``, with the stand-in on failure.
    """
    names = [field.name for field in dataclasses.fields(outcome_cls)]

    @dask_serialize.register(outcome_cls)
    def _serialize(outcome: Any, context: dict | None = None) -> tuple[dict, list]:
        fields = tuple(getattr(outcome, name) for name in names)
        try:
            header, frames = _dumps_pickled(fields)
        except Exception as exc:
            if context is None:
                # not bound for another process (dask spills it to disk): dask's own handling
                # (keeping it in memory) is right, the value may never have to leave
                raise
            stand_in = unshippable(outcome, outcome.worker, outcome.address, exc)
            header, frames = _dumps_pickled(stand_in)
            header["unshippable"] = True
        return header, frames

    @dask_deserialize.register(outcome_cls)
    def _deserialize(header: dict, frames: list) -> Any:
        loaded = pickle_loads(header, frames)
        if header.get("unshippable"):
            return loaded
        return outcome_cls(*loaded)


def shippable_error(exc: BaseException) -> BaseException:
    """``exc`` if it survives a trip through cloudpickle (what dask sends errors with), else a
    RuntimeError that describes it."""
    try:
        pickle.loads(cloudpickle.dumps(exc))
        return exc
    except Exception as problem:
        cls = type(exc)
        return RuntimeError(
            f"{cls.__module__}.{cls.__qualname__}: {exc} (the exception itself could not be "
            f"sent from the worker: {type(problem).__name__}: {problem}; an exception class "
            f"pickles when it passes all its constructor's arguments to super().__init__ and "
            f"holds no locks, sockets or open files)")


def add_pickling_hint(exc: BaseException) -> None:
    """Note on a pickling error raised in a task (e.g. by a shuffle writing an unpicklable
    record) what must be picklable and what to do."""
    text = str(exc)
    if isinstance(exc, pickle.PicklingError) or (
            isinstance(exc, (TypeError, AttributeError)) and "pickle" in text):
        if PICKLING_HINT not in getattr(exc, "__notes__", ()):
            add_note(exc, PICKLING_HINT)
