"""Helpers for datasets of ``(key, value)`` pairs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from bndl_dask.datasets.callables import bind
from bndl_dask.datasets.core import DatasetCore, K, T, U, V, check_callable

if TYPE_CHECKING:
    from bndl_dask.datasets.dataset import Dataset


class KeyValueMixin(DatasetCore[T]):
    def key_by(self, key: Callable[[T], K]) -> Dataset[tuple[K, T]]:
        """``(key(element), element)`` pairs.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.range(3).key_by(str).collect()
        [('0', 0), ('1', 1), ('2', 2)]
        """
        check_callable(key, "key")
        return self.map(_KeyBy(key))

    def with_value(self, val: Any) -> Dataset[tuple[T, Any]]:
        """``(element, val(element))`` pairs, or ``(element, val)`` when val is not callable.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.collection('ab').with_value(str.upper).collect()
        [('a', 'A'), ('b', 'B')]
        >>> ctx.collection('ab').with_value(1).collect()
        [('a', 1), ('b', 1)]
        """
        return self.map(_WithValue(val))

    def key_by_id(self) -> Dataset[tuple[int, T]]:
        """``(unique id, element)`` pairs without running a job (ids are not contiguous).

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.collection('abcd', pcount=2).key_by_id().collect()
        [(0, 'a'), (2, 'b'), (1, 'c'), (3, 'd')]
        """
        # the partition count is fixed on the driver: datasets lose their lineage on workers
        return self.map_partitions_with_index(_KeyById(self.pcount))

    def key_by_idx(self) -> Dataset[tuple[int, T]]:
        """``(position, element)`` pairs numbered 0..n-1 in collect order (runs a count job).

        Lazy transformation, narrow; making it runs one job that counts the partitions.

        >>> ctx.collection('abcd', pcount=2).key_by_idx().collect()
        [(0, 'a'), (1, 'b'), (2, 'c'), (3, 'd')]
        """
        if self.pcount <= 1:
            return self.map_partitions_with_index(_Enumerate({0: 0}))
        sizes = dict(self.map_partitions_with_index(_PartSize()).collect())
        offsets, total = {}, 0
        for idx in sorted(sizes):
            offsets[idx] = total
            total += sizes[idx]
        return self.map_partitions_with_index(_Enumerate(offsets))

    def keys(self: KeyValueMixin[tuple[K, V]]) -> Dataset[K]:
        """The first item of every element.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.collection([('a', 1), ('b', 2)]).keys().collect()
        ['a', 'b']
        """
        return self.pluck(0)

    def values(self: KeyValueMixin[tuple[K, V]]) -> Dataset[V]:
        """The second item of every element.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.collection([('a', 1), ('b', 2)]).values().collect()
        [1, 2]
        """
        return self.pluck(1)

    @overload
    def map_keys(self: KeyValueMixin[tuple[K, V]], func: Callable[[K], U]) -> Dataset[tuple[U, V]]:
        ...
    @overload
    def map_keys(self: KeyValueMixin[tuple[K, V]], func: Callable[..., U], arg: Any, /,
                 *args: Any, **kwargs: Any) -> Dataset[tuple[U, V]]: ...

    def map_keys(self: KeyValueMixin[tuple[K, V]], func: Callable[..., U], *args: Any,
                 **kwargs: Any) -> Dataset[tuple[U, V]]:
        """``(func(*args, key), value)``.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.collection([('a', 1), ('b', 2)]).map_keys(str.upper).collect()
        [('A', 1), ('B', 2)]
        """
        check_callable(func)
        return self.map(_MapKeys(bind(func, args, kwargs)))

    @overload
    def map_values(self: KeyValueMixin[tuple[K, V]],
                   func: Callable[[V], U]) -> Dataset[tuple[K, U]]: ...
    @overload
    def map_values(self: KeyValueMixin[tuple[K, V]], func: Callable[..., U], arg: Any, /,
                   *args: Any, **kwargs: Any) -> Dataset[tuple[K, U]]: ...

    def map_values(self: KeyValueMixin[tuple[K, V]], func: Callable[..., U], *args: Any,
                   **kwargs: Any) -> Dataset[tuple[K, U]]:
        """``(key, func(*args, value))``.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.collection([('a', 1), ('b', 2)]).map_values(lambda v: v * 10).collect()
        [('a', 10), ('b', 20)]
        """
        check_callable(func)
        return self.map(_MapValues(bind(func, args, kwargs)))

    def pluck_values(self: KeyValueMixin[tuple[K, V]], ind: Any,
                     default: Any = None) -> Dataset[tuple[K, list[Any]]]:
        """``(key, [record[ind] for record in value])``.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.collection([('a', [(1, 'x'), (2, 'y')])]).pluck_values(1).collect()
        [('a', ['x', 'y'])]
        """
        return self.map(_PluckValues(ind, default))

    @overload
    def flatmap_values(self: KeyValueMixin[tuple[K, V]], func: None = None) -> Dataset[Any]: ...
    @overload
    def flatmap_values(self: KeyValueMixin[tuple[K, V]],
                       func: Callable[[V], Iterable[U]]) -> Dataset[U]: ...
    @overload
    def flatmap_values(self: KeyValueMixin[tuple[K, V]], func: Callable[..., Iterable[U]],
                       arg: Any, /, *args: Any, **kwargs: Any) -> Dataset[U]: ...

    def flatmap_values(self: KeyValueMixin[tuple[K, V]], func: Callable[..., Iterable[U]] | None
                       = None, *args: Any, **kwargs: Any) -> Dataset[Any]:
        """The items of ``func(value)`` for every pair; the keys are dropped (as in BNDL).

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.collection([('a', 'xy'), ('b', 'z')]).flatmap_values(str.upper).collect()
        ['X', 'Y', 'Z']
        """
        return self.values().flatmap(func, *args, **kwargs)

    def filter_bykey(self: KeyValueMixin[tuple[K, V]], func: Callable[..., object] | None = None,
                     *args: Any, **kwargs: Any) -> Dataset[tuple[K, V]]:
        """The pairs whose ``func(*args, key)`` (or key) is truthy.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.collection([('a', 1), ('b', 2)]).filter_bykey(lambda k: k == 'b').collect()
        [('b', 2)]
        """
        check_callable(func, optional=True)
        bound = bind(func, args, kwargs) if func is not None else None
        return self.filter(_ItemTest(0, bound))

    def filter_byvalue(self: KeyValueMixin[tuple[K, V]], func: Callable[..., object] | None
                       = None, *args: Any, **kwargs: Any) -> Dataset[tuple[K, V]]:
        """The pairs whose ``func(*args, value)`` (or value) is truthy.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.collection([('a', 0), ('b', 2)]).filter_byvalue().collect()
        [('b', 2)]
        """
        check_callable(func, optional=True)
        bound = bind(func, args, kwargs) if func is not None else None
        return self.filter(_ItemTest(1, bound))


@dataclass(frozen=True, slots=True, eq=False)
class _KeyBy:
    key: Any

    def __call__(self, element):
        return (self.key(element), element)


@dataclass(frozen=True, slots=True, eq=False)
class _WithValue:
    val: Any

    def __call__(self, element):
        return (element, self.val(element) if callable(self.val) else self.val)


@dataclass(frozen=True, slots=True, eq=False)
class _KeyById:
    n: Any

    def __call__(self, idx, data):
        n = self.n
        return ((idx + i * n, e) for i, e in enumerate(data))


class _PartSize:
    def __call__(self, idx, data):
        if hasattr(data, "__len__"):
            return [(idx, len(data))]
        return [(idx, sum(1 for _ in data))]


@dataclass(frozen=True, slots=True, eq=False)
class _Enumerate:
    offsets: Any

    def __call__(self, idx, data):
        return enumerate(data, self.offsets[idx])


@dataclass(frozen=True, slots=True, eq=False)
class _MapKeys:
    func: Any

    def __call__(self, pair):
        return (self.func(pair[0]), pair[1])


@dataclass(frozen=True, slots=True, eq=False)
class _MapValues(_MapKeys):
    def __call__(self, pair):
        return (pair[0], self.func(pair[1]))


@dataclass(frozen=True, slots=True, eq=False)
class _PluckValues:
    ind: Any
    default: Any

    def _one(self, record):
        if isinstance(self.ind, list):
            return tuple(record[i] for i in self.ind)
        if self.default is not None:
            try:
                return record[self.ind]
            except (IndexError, KeyError):
                return self.default
        return record[self.ind]

    def __call__(self, pair):
        return (pair[0], [self._one(r) for r in pair[1]])


@dataclass(frozen=True, slots=True, eq=False)
class _ItemTest:
    index: Any
    func: Any

    def __call__(self, pair):
        item = pair[self.index]
        return self.func(item) if self.func is not None else item
