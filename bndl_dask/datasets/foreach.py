"""``foreach`` and ``foreach_partition``: run a function on the workers for its side effects.

Nothing comes back to the driver but the fact that every partition finished; an exception the
function raises surfaces on the driver like any task error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from bndl_dask.datasets.core import DatasetCore, T, check_callable


@dataclass(frozen=True, slots=True, eq=False)
class _ForEach:
    func: Callable[[Any], Any]

    def __call__(self, _idx: int, data: Iterable | None) -> None:
        func = self.func
        for element in () if data is None else data:
            func(element)


@dataclass(frozen=True, slots=True, eq=False)
class _ForEachPartition:
    func: Callable[[Iterator], Any]

    def __call__(self, _idx: int, data: Iterable | None) -> None:
        self.func(iter(() if data is None else data))


class ForEachMixin(DatasetCore[T]):
    def foreach(self, func: Callable[[T], object]) -> None:
        """Call ``func(element)`` for every element on the workers; returns None.

        An action for side effects (writing to a store, adding to an accumulator); one pass,
        narrow, nothing but completion travels to the driver. Return values are discarded.

        >>> seen = ctx.accumulator(0)
        >>> ctx.range(5).foreach(lambda i: seen.update('+', i))
        >>> seen.value
        10
        """
        check_callable(func)
        for _ in self._run(ordered=False, name="foreach", transform=_ForEach(func)):
            pass

    def foreach_partition(self, func: Callable[[Iterator[T]], object]) -> None:
        """Call ``func(iterator over a partition's elements)`` once per partition on the
        workers; returns None.

        An action for side effects that want a partition at a time (one connection per
        partition, say); one pass, narrow.

        >>> sizes = ctx.accumulator(0)
        >>> ctx.range(10, pcount=3).foreach_partition(lambda it: sizes.update('+', len(list(it))))
        >>> sizes.value
        10
        """
        check_callable(func)
        for _ in self._run(ordered=False, name="foreach_partition",
                           transform=_ForEachPartition(func)):
            pass
