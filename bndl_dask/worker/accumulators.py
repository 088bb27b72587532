"""What an accumulator is inside a task: a proxy that records updates for the driver.

Updates travel back with the task's result and the driver applies them only for the attempt
that succeeded, so a failed or cancelled attempt never counts.
"""

from __future__ import annotations

from typing import Any

from bndl_dask.worker.runtime import current_runtime

OPERATORS = {"+": "__iadd__", "-": "__isub__", "*": "__imul__", "/": "__itruediv__",
             "<": "__ilshift__", ">": "__irshift__", "&": "__iand__", "|": "__ior__"}


class InPlaceUpdates:
    """``acc += x`` and friends as ``acc.update(op, x)`` (shared by accumulators and proxies)."""

    __slots__ = ()

    def update(self, op: str, value: Any):
        raise NotImplementedError

    def __iadd__(self, value):
        return self.update("+", value)

    def __isub__(self, value):
        return self.update("-", value)

    def __imul__(self, value):
        return self.update("*", value)

    def __itruediv__(self, value):
        return self.update("/", value)

    def __ilshift__(self, value):
        return self.update("<", value)

    def __irshift__(self, value):
        return self.update(">", value)

    def __iand__(self, value):
        return self.update("&", value)

    def __ior__(self, value):
        return self.update("|", value)


class AccumulatorProxy(InPlaceUpdates):
    """Stands in for an Accumulator inside tasks. ``acc += x`` and ``acc.update(op, x)``."""

    __slots__ = ("id",)

    def __init__(self, accumulator_id: str):
        self.id = accumulator_id

    def update(self, op: str, value: Any) -> AccumulatorProxy:
        if not isinstance(op, str) or not op:
            raise ValueError(f"op must be an operator ({', '.join(OPERATORS)}) or a method name")
        runtime = current_runtime()
        if runtime is None:
            raise RuntimeError(
                "This accumulator is a worker-side proxy: it can be updated inside tasks, and "
                "read only on the driver (accumulator.value)")
        runtime.accumulator_updates.append((self.id, op, value))
        return self

    @property
    def value(self):
        raise RuntimeError("An accumulator's value can only be read on the driver")

    def __reduce__(self):
        return (AccumulatorProxy, (self.id,))

    def __repr__(self) -> str:
        return f"<AccumulatorProxy {self.id}>"
