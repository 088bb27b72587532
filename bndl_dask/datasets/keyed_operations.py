"""More operations on datasets of ``(key, value)`` pairs: ``fold_by_key`` (lazy), and the
actions ``count_by_key``, ``reduce_by_key_locally`` and ``lookup``.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bndl_dask.datasets.core import DatasetCore, K, T, V, check_callable
from bndl_dask.util.hashing import hashes_portably, portable_hash

if TYPE_CHECKING:
    from bndl_dask.datasets.dataset import Dataset

_MISSING = object()


@dataclass(frozen=True, slots=True, eq=False)
class _FoldFirst:
    """fold_by_key's ``create``: a key's first value in a partition folded into a copy of zero."""

    zero: Any
    func: Callable

    def __call__(self, value: Any) -> Any:
        return self.func(copy.deepcopy(self.zero), value)


def _reduce_into(acc: dict, pairs: Iterable, func: Callable) -> dict:
    """Fold ``(key, value)`` pairs into ``acc`` with ``func``, per key."""
    for k, v in pairs:
        old = acc.get(k, _MISSING)
        acc[k] = v if old is _MISSING else func(old, v)
    return acc


@dataclass(frozen=True, slots=True, eq=False)
class _ReduceToDict:
    """reduce_by_key_locally's per-partition step: a dict of key -> reduced value."""

    func: Callable

    def __call__(self, pairs: Iterable) -> dict:
        return _reduce_into({}, pairs, self.func)


@dataclass(frozen=True, slots=True, eq=False)
class _MergeDicts:
    func: Callable

    def __call__(self, partials: Iterable[dict]) -> dict:
        merged: dict = {}
        for partial in partials:
            _reduce_into(merged, partial.items(), self.func)
        return merged


@dataclass(frozen=True, slots=True, eq=False)
class _ValuesOf:
    """lookup's per-partition step: the values of the pairs with key ``key``."""

    key: Any

    def __call__(self, _idx: int, pairs: Iterable | None) -> list:
        key = self.key
        return [] if pairs is None else [pair[1] for pair in pairs if pair[0] == key]


def _partition_of(key: Any, placement: tuple, pcount: int) -> int:
    """The partition a key-wise shuffle placed ``key`` in (the rule of
    ``bndl_dask.worker.shuffle_writer.ShuffleWriter``)."""
    if placement[0] == "func":
        return placement[1](key) % pcount
    return portable_hash(key) % pcount


class KeyedOperationsMixin(DatasetCore[T]):
    def fold_by_key(self: KeyedOperationsMixin[tuple[K, V]], zero: V, func: Callable[[V, V], V],
                    partitioner: Callable | None = None, pcount: int | None = None,
                    **shuffle_opts: Any) -> Dataset[tuple[K, V]]:
        """``(k, fold of the key's values)`` per key: each partition folds a key's values from
        a copy of ``zero`` with ``func``, and the partial folds are merged with ``func``
        (Spark's ``foldByKey``; ``zero`` should be the identity of ``func``).

        Lazy; one shuffle, combined map-side first (as ``reduce_by_key``).

        >>> pairs = ctx.collection([('a', 1), ('b', 2), ('a', 3)])
        >>> sorted(pairs.fold_by_key(0, lambda x, y: x + y).collect())
        [('a', 4), ('b', 2)]
        """
        check_callable(func)
        return self.combine_by_key(_FoldFirst(zero, func), func, func, partitioner, pcount,
                                   **shuffle_opts)

    def count_by_key(self: KeyedOperationsMixin[tuple[K, V]]) -> Counter[K]:
        """A Counter of key -> number of pairs with that key (a dict subclass).

        An action; one pass, each partition sends its own Counter to the driver, so the
        result (one entry per distinct key) must fit there.

        >>> dict(ctx.collection([('a', 1), ('b', 2), ('a', 3)]).count_by_key())
        {'a': 2, 'b': 1}
        """
        return self.keys().count_by_value()

    def reduce_by_key_locally(self: KeyedOperationsMixin[tuple[K, V]],
                              func: Callable[[V, V], V]) -> dict[K, V]:
        """A dict of key -> ``func`` reduced over the key's values.

        An action without a shuffle: every partition reduces to a dict on its worker and the
        dicts are merged on the driver, so the result (one entry per distinct key) must fit
        there; use ``reduce_by_key`` to keep it distributed.

        >>> ctx.collection([('a', 1), ('b', 2), ('a', 3)]).reduce_by_key_locally(max)
        {'a': 3, 'b': 2}
        """
        check_callable(func)
        return self.aggregate(_ReduceToDict(func), _MergeDicts(func))

    def lookup(self: KeyedOperationsMixin[tuple[K, V]], key: K) -> list[V]:
        """A list of the values of the pairs whose key is ``key`` (in partition order).

        An action. When this dataset is the output of a key-wise shuffle (``reduce_by_key``,
        ``group_by_key``, a join, ...), only the one partition that can hold the key is
        computed; otherwise every partition is scanned (narrow, only matches travel). So is
        every partition for a key of a class whose ``hash()`` may differ between the driver
        and the workers (see ``bndl_dask.util.hashing``).

        >>> counts = ctx.collection([('a', 1), ('b', 2), ('a', 3)]).reduce_by_key(max)
        >>> counts.lookup('a'), counts.lookup('z')
        ([3], [])
        """
        parts = None
        if getattr(self, "partitioned_by_key", False) and (
                self.placement[0] == "func" or hashes_portably(key)):
            parts = [_partition_of(key, self.placement, self.pcount)]
        values: list = []
        for _, data in self._run(parts=parts, name="lookup", transform=_ValuesOf(key),
                                 gather=True):
            values.extend(data)
        return values
