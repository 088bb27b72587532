"""Set operations between datasets: ``subtract``, ``subtract_by_key``, ``intersection``, and
``+`` for ``union``.

Each is one shuffle of both inputs on the element (or the key), each record moved once, never
collected to the driver. As in Spark, ``subtract`` and ``subtract_by_key`` keep the left side's
duplicates, while ``intersection`` returns every common element once. The right side matters
only as a set of keys, so it is de-duplicated map-side before it is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from bndl_dask.datasets.core import DatasetCore, T, check_datasets
from bndl_dask.util.gc_pause import gc_paused
from bndl_dask.worker.sorting import sort_records

if TYPE_CHECKING:
    from bndl_dask.datasets.dataset import Dataset

_first = itemgetter(0)


def _as_keys(data: Iterable) -> Iterable:
    """Every element as a ``(element, None)`` pair, so it shuffles by its own (portable) hash."""
    return ((e, None) for e in data)


def _distinct_as_keys(data: Iterable) -> list:
    with gc_paused():
        return [(e, None) for e in set(data)]


def _distinct_keys(data: Iterable) -> list:
    with gc_paused():
        return [(k, None) for k in {pair[0] for pair in data}]


@dataclass(frozen=True, slots=True, eq=False)
class Subtract:
    """Read side of subtract / subtract_by_key: the left input's records (in map order) whose
    key the right input lacks; only the keys with ``keys_only``."""

    bounds: list[int]
    keys_only: bool

    def __call__(self, blocks):
        left_maps = self.bounds[0]  # map partitions below it are the left input's
        left: list = []
        right: set = set()
        for map_idx, records in blocks:
            if map_idx < left_maps:
                left.append((map_idx, records))
            else:
                right.update(map(_first, records))
        left.sort(key=_first)  # in map order, whichever holder answered first
        out = []
        for _, records in left:
            for record in records:
                if record[0] not in right:
                    out.append(record[0] if self.keys_only else record)
        return out


@dataclass(frozen=True, slots=True, eq=False)
class Intersect:
    """Read side of intersection: the keys both inputs hold, once each, ordered."""

    bounds: list[int]

    def __call__(self, blocks):
        left_maps = self.bounds[0]
        left: set = set()
        right: set = set()
        for map_idx, records in blocks:
            (left if map_idx < left_maps else right).update(map(_first, records))
        common = list(left & right)
        sort_records(common, None)
        return common


def _subtract_maker(keys_only: bool) -> Callable[[list[int]], Subtract]:
    def make(bounds: list[int]) -> Subtract:
        return Subtract(bounds, keys_only)
    return make


def _elements_out(shuffled):
    # the records come out as the elements, not as the (element, None) pairs that were placed
    shuffled.partitioned_by_key = False
    return shuffled


class SetOperationsMixin(DatasetCore[T]):
    def subtract(self, other: Dataset[Any], pcount: int | None = None,
                 **shuffle_opts: Any) -> Dataset[T]:
        """The elements of ``self`` that are not in ``other``, duplicates of ``self`` kept.

        Lazy; one shuffle of both datasets on the element (elements must be hashable), each
        record moved once; ``other`` is de-duplicated per partition before it is written.
        ``pcount`` defaults to the sum of the inputs' partition counts.

        >>> a = ctx.collection([1, 2, 2, 3, 4])
        >>> sorted(a.subtract(ctx.collection([3, 4, 5])).collect())
        [1, 2, 2]
        """
        check_datasets("subtract", other)
        left = self.map_partitions(_as_keys)
        right = other.map_partitions(_distinct_as_keys)
        return _elements_out(left._cogrouped((right,), None, None, pcount, "subtract",
                                             _subtract_maker(True), shuffle_opts))

    def subtract_by_key(self, other: Dataset[Any], pcount: int | None = None,
                        **shuffle_opts: Any) -> Dataset[T]:
        """The ``(k, v)`` pairs of ``self`` whose key ``other`` (also of pairs) lacks,
        duplicates kept.

        Lazy; one shuffle of both datasets on the key, each record moved once; only
        ``other``'s distinct keys per partition are written.

        >>> a = ctx.collection([('a', 1), ('b', 2), ('b', 3)])
        >>> sorted(a.subtract_by_key(ctx.collection([('a', 0)])).collect())
        [('b', 2), ('b', 3)]
        """
        check_datasets("subtract_by_key", other)
        right = other.map_partitions(_distinct_keys)
        return self._cogrouped((right,), None, None, pcount, "subtract_by_key",
                               _subtract_maker(False), shuffle_opts)

    def intersection(self, other: Dataset[Any], pcount: int | None = None,
                     **shuffle_opts: Any) -> Dataset[T]:
        """The elements in both ``self`` and ``other``, each once (ordered within a partition).

        Lazy; one shuffle of both datasets on the element (elements must be hashable), each
        de-duplicated per partition before it is written.

        >>> a = ctx.collection([1, 2, 2, 3])
        >>> sorted(a.intersection(ctx.collection([2, 3, 3, 4])).collect())
        [2, 3]
        """
        check_datasets("intersection", other)
        left = self.map_partitions(_distinct_as_keys)
        right = other.map_partitions(_distinct_as_keys)
        return _elements_out(left._cogrouped((right,), None, None, pcount, "intersection",
                                             Intersect, shuffle_opts))

    def __add__(self, other):
        """``self + other`` is ``self.union(other)``: lazy and narrow, nothing moves.

        >>> (ctx.range(2) + ctx.range(5, 7)).collect()
        [0, 1, 5, 6]
        """
        if not isinstance(other, DatasetCore):
            return NotImplemented
        return self.union(other)
