"""Outer joins of two ``(key, value)`` datasets: ``left_outer_join``, ``right_outer_join`` and
``full_outer_join``.

They are ``join`` with the keys of one side (or of either) kept: one shuffle of both inputs on
the key, each record moved once, and a read side that pairs every key's values, with ``None``
standing in for the values of the side that lacks the key. Records have ``join``'s shape:
``(k, [(v_self, v_other), ...])``, one per key, ordered by key within a partition.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bndl_dask.datasets.core import DatasetCore, K, T, V, W
from bndl_dask.datasets.keywise_functions import _group_pairs
from bndl_dask.util.gc_pause import gc_paused
from bndl_dask.worker.sorting import sort_records

if TYPE_CHECKING:
    from bndl_dask.datasets.dataset import Dataset

_ABSENT = [None]


@dataclass(frozen=True, slots=True, eq=False)
class OuterJoin:
    """Read side of the outer joins: the keys of the left (``keep_left``), of the right
    (``keep_right``) or of either input, each with the product of its values on both sides,
    ``[None]`` standing in for a side without the key."""

    bounds: list[int]
    keep_left: bool
    keep_right: bool

    def __call__(self, blocks):
        left: dict = {}
        right: dict = {}
        left_maps = self.bounds[0]  # map partitions below it are the left input's
        for map_idx, records in blocks:
            _group_pairs(records, left if map_idx < left_maps else right)
        if self.keep_left and self.keep_right:
            keys = list(left)
            keys.extend(k for k in right if k not in left)
        elif self.keep_left:
            keys = list(left)
        else:
            keys = list(right)
        sort_records(keys, None)
        return _outer_pairs(keys, left, right)


def _outer_pairs(keys, left, right):
    product = itertools.product
    with gc_paused():
        for k in keys:
            yield (k, list(product(left.get(k, _ABSENT), right.get(k, _ABSENT))))


def _merge_maker(keep_left: bool, keep_right: bool) -> Callable[[list[int]], OuterJoin]:
    def make(bounds: list[int]) -> OuterJoin:
        return OuterJoin(bounds, keep_left, keep_right)
    return make


class OuterJoinsMixin(DatasetCore[T]):
    def left_outer_join(self: OuterJoinsMixin[tuple[K, V]], other: Dataset[tuple[K, W]],
                        key: Any = None, partitioner: Callable | None = None,
                        pcount: int | None = None,
                        **shuffle_opts: Any) -> Dataset[tuple[K, list[tuple[V, W | None]]]]:
        """Left outer join: ``(k, [(v_self, v_other or None), ...])`` for every key of
        ``self``; a key missing from ``other`` gives ``[(v_self, None), ...]``.

        Lazy; one shuffle of both datasets (each record moved once), like ``join``, whose
        arguments it takes (``pcount`` defaults to the sum of the inputs' partition counts).

        >>> a = ctx.collection([(1, 'a'), (2, 'b')])
        >>> b = ctx.collection([(2, 'x'), (3, 'y')])
        >>> sorted(a.left_outer_join(b).collect())
        [(1, [('a', None)]), (2, [('b', 'x')])]
        """
        return self._cogrouped((other,), key, partitioner, pcount, "left_outer_join",
                               _merge_maker(True, False), shuffle_opts)

    def right_outer_join(self: OuterJoinsMixin[tuple[K, V]], other: Dataset[tuple[K, W]],
                         key: Any = None, partitioner: Callable | None = None,
                         pcount: int | None = None,
                         **shuffle_opts: Any) -> Dataset[tuple[K, list[tuple[V | None, W]]]]:
        """Right outer join: ``(k, [(v_self or None, v_other), ...])`` for every key of
        ``other``; a key missing from ``self`` gives ``[(None, v_other), ...]``.

        Lazy; one shuffle of both datasets, as ``left_outer_join``.

        >>> a = ctx.collection([(1, 'a'), (2, 'b')])
        >>> b = ctx.collection([(2, 'x'), (3, 'y')])
        >>> sorted(a.right_outer_join(b).collect())
        [(2, [('b', 'x')]), (3, [(None, 'y')])]
        """
        return self._cogrouped((other,), key, partitioner, pcount, "right_outer_join",
                               _merge_maker(False, True), shuffle_opts)

    def full_outer_join(self: OuterJoinsMixin[tuple[K, V]], other: Dataset[tuple[K, W]],
                        key: Any = None, partitioner: Callable | None = None,
                        pcount: int | None = None,
                        **shuffle_opts: Any) -> Dataset[tuple[K, list[tuple[V | None, W | None]]]]:
        """Full outer join: ``(k, [(v_self or None, v_other or None), ...])`` for every key of
        either dataset, ``None`` for the side that lacks the key.

        Lazy; one shuffle of both datasets, as ``left_outer_join``.

        >>> a = ctx.collection([(1, 'a'), (2, 'b')])
        >>> b = ctx.collection([(2, 'x'), (3, 'y')])
        >>> sorted(a.full_outer_join(b).collect())
        [(1, [('a', None)]), (2, [('b', 'x')]), (3, [(None, 'y')])]
        """
        return self._cogrouped((other,), key, partitioner, pcount, "full_outer_join",
                               _merge_maker(True, True), shuffle_opts)
