"""Accumulators: values on the driver that tasks add to."""

from __future__ import annotations

import logging
import operator
import threading
import uuid
import weakref
from typing import Any

from bndl_dask.worker.accumulators import AccumulatorProxy, InPlaceUpdates
from bndl_dask.worker.runtime import in_task

logger = logging.getLogger(__name__)

_BINARY = {"+": operator.iadd, "-": operator.isub, "*": operator.imul, "/": operator.itruediv,
           "<": operator.ilshift, ">": operator.irshift, "&": operator.iand, "|": operator.ior}

_registry: weakref.WeakValueDictionary[str, Accumulator] = weakref.WeakValueDictionary()


class Accumulator(InPlaceUpdates):
    """A value on the driver that tasks update with ``+=``, ``-=``, ... or ``update(op, x)``.

    Inside a task the accumulator is a proxy: updates are recorded and applied on the driver,
    once per successful task, by the time the action returns.

    >>> seen = ctx.accumulator(0)
    >>> def note(x):
    ...     global seen
    ...     seen += 1
    ...     return x
    >>> ctx.range(10).map(note).count(), seen.value
    (10, 10)
    """

    def __init__(self, initial: Any, host: str | None = None):
        self.id = uuid.uuid4().hex[:8]
        self.value = initial
        self.host = host
        self._lock = threading.Lock()
        _registry[self.id] = self

    def update(self, op: str, value: Any) -> Accumulator:
        """Apply ``value`` with an operator ('+', '-', '*', '/', '<', '>', '&', '|') or a method
        of the value by name (``acc.update('add', x)`` on a set)."""
        if in_task():
            AccumulatorProxy(self.id).update(op, value)
            return self
        with self._lock:
            binary = _BINARY.get(op)
            if binary is not None:
                self.value = binary(self.value, value)
            else:
                method = getattr(self.value, op, None)
                if method is None:
                    raise AttributeError(
                        f"{type(self.value).__name__} has no method {op!r} to update "
                        f"accumulator {self.id} with; use an operator "
                        f"({', '.join(map(repr, _BINARY))}) or a method name of the value")
                method(value)
        return self

    def unpersist(self) -> None:
        """Stop accepting updates: later updates from tasks are dropped."""
        _registry.pop(self.id, None)

    def __reduce__(self):
        # captured in a task's closure, an accumulator travels as a proxy
        return (AccumulatorProxy, (self.id,))

    def __repr__(self) -> str:
        return f"<Accumulator {self.id} value={self.value!r}>"


def apply_updates(updates: list[tuple[str, str, Any]]) -> list[Exception]:
    """Apply the updates one successful task made (called by the context); returns the
    errors of updates that failed (a bad op), for the action to raise once it is done."""
    errors: list[Exception] = []
    for accumulator_id, op, value in updates:
        accumulator = _registry.get(accumulator_id)
        if accumulator is None:
            logger.debug("dropping an update of accumulator %s, which is gone", accumulator_id)
            continue
        try:
            accumulator.update(op, value)
        except Exception as exc:
            logger.debug("update %s %r of accumulator %s failed", op, value, accumulator_id,
                         exc_info=True)
            errors.append(exc)
    return errors
