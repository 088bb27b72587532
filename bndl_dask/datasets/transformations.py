"""Narrow transformations: each returns a new dataset computed partition by partition."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from bndl_dask.datasets.callables import bind
from bndl_dask.datasets.core import (
    ArgumentError,
    DatasetCore,
    T,
    U,
    check_callable,
    check_datasets,
)
from bndl_dask.datasets.narrow_nodes import (
    CartesianProductNode,
    CoalescedNode,
    MapPartitionsNode,
    MaskedNode,
    UnionNode,
    ZipPartitionsNode,
)
from bndl_dask.datasets.pipe import pipe_partition
from bndl_dask.worker.int64_records import as_list

if TYPE_CHECKING:
    from bndl_dask.datasets.core import Partition
    from bndl_dask.datasets.dataset import Dataset


class TransformationsMixin(DatasetCore[T]):
    def map_partitions_with_part(self, func: Callable[..., Iterable[U] | None], *args: Any,
                                 **kwargs: Any) -> Dataset[U]:
        """Replace each partition's data by ``func(*args, partition, data, **kwargs)``.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> sums = ctx.range(6, pcount=3).map_partitions_with_part(
        ...     lambda part, data: [(part.idx, sum(data))])
        >>> sums.collect()
        [(0, 1), (1, 5), (2, 9)]
        """
        check_callable(func)
        return self._derive(MapPartitionsNode, self, bind(func, args, kwargs))

    def map_partitions_with_index(self, func: Callable[..., Iterable[U] | None], *args: Any,
                                  **kwargs: Any) -> Dataset[U]:
        """Replace each partition's data by ``func(*args, index, data, **kwargs)``.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.range(10, pcount=3).map_partitions_with_index(lambda i, p: [i]).collect()
        [0, 1, 2]
        """
        check_callable(func)
        bound = bind(func, args, kwargs)
        return self.map_partitions_with_part(_WithIndex(bound))

    @overload
    def map_partitions(self, func: Callable[[Iterable[T]], Iterable[U] | None]) -> Dataset[U]: ...
    @overload
    def map_partitions(self, func: Callable[..., Iterable[U] | None], arg: Any, /, *args: Any,
                       **kwargs: Any) -> Dataset[U]: ...

    def map_partitions(self, func: Callable[..., Iterable[U] | None], *args: Any,
                       **kwargs: Any) -> Dataset[U]:
        """Replace each partition's data by ``func(*args, data, **kwargs)`` (None = empty).

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.range(10, pcount=3).map_partitions(lambda p: [len(p)]).collect()
        [3, 3, 4]
        """
        check_callable(func)
        return self.map_partitions_with_part(_DataOnly(bind(func, args, kwargs)))

    @overload
    def map(self, func: Callable[[T], U]) -> Dataset[U]: ...
    @overload
    def map(self, func: Callable[..., U], arg: Any, /, *args: Any,
            **kwargs: Any) -> Dataset[U]: ...

    def map(self, func: Callable[..., U], *args: Any, **kwargs: Any) -> Dataset[U]:
        """``func(*args, element, **kwargs)`` for every element.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.range(4).map(str).collect()
        ['0', '1', '2', '3']
        """
        check_callable(func)
        return self.map_partitions(_Map(bind(func, args, kwargs)))

    def starmap(self, func: Callable[..., U], *args: Any, **kwargs: Any) -> Dataset[U]:
        """``func(*args, *element, **kwargs)`` for every element.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.collection([(1, 2), (3, 4)]).starmap(lambda a, b: a * b).collect()
        [2, 12]
        """
        check_callable(func)
        return self.map_partitions(_StarMap(bind(func, args, kwargs)))

    @overload
    def flatmap(self, func: None = None) -> Dataset[Any]: ...
    @overload
    def flatmap(self, func: Callable[[T], Iterable[U]]) -> Dataset[U]: ...
    @overload
    def flatmap(self, func: Callable[..., Iterable[U]], arg: Any, /, *args: Any,
                **kwargs: Any) -> Dataset[U]: ...

    def flatmap(self, func: Callable[..., Iterable[Any]] | None = None, *args: Any,
                **kwargs: Any) -> Dataset[Any]:
        """The items of ``func(*args, element)`` (or of the element itself) for every element.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.collection(['ab', 'cd']).flatmap().collect()
        ['a', 'b', 'c', 'd']
        """
        check_callable(func, optional=True)
        bound = bind(func, args, kwargs) if func is not None else None
        return self.map_partitions(_FlatMap(bound))

    def pluck(self, ind: Any, default: Any = None) -> Dataset[Any]:
        """``element[ind]`` (a list ``ind`` gives a tuple of items).

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.collection([(1, 2), (3, 4)]).pluck(1).collect()
        [2, 4]
        >>> ctx.collection([{'a': 1, 'b': 2}]).pluck(['b', 'a']).collect()
        [(2, 1)]
        """
        return self.map_partitions(_Pluck(ind, default))

    @overload
    def filter(self, func: Callable[[T], object] | None = None) -> Dataset[T]: ...
    @overload
    def filter(self, func: Callable[..., object], arg: Any, /, *args: Any,
               **kwargs: Any) -> Dataset[T]: ...

    def filter(self, func: Callable[..., object] | None = None, *args: Any,
               **kwargs: Any) -> Dataset[T]:
        """The elements for which ``func(*args, element)`` (or the element) is truthy.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.range(1, 100).filter(lambda i: i % 2).count()
        50
        """
        check_callable(func, optional=True)
        bound = bind(func, args, kwargs) if func is not None else None
        return self.map_partitions(_Filter(bound, star=False))

    def starfilter(self, func: Callable[..., object], *args: Any, **kwargs: Any) -> Dataset[T]:
        """The elements for which ``func(*args, *element)`` is truthy.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.collection([(1, 2), (3, 3)]).starfilter(lambda a, b: a == b).collect()
        [(3, 3)]
        """
        check_callable(func)
        return self.map_partitions(_Filter(bind(func, args, kwargs), star=True))

    def glom(self) -> Dataset[Iterable[T]]:
        """One element per partition: the partition's data as a collection.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.range(5, pcount=2).glom().collect()
        [range(0, 2), range(2, 5)]
        """
        return self.map_partitions(_glom)

    def concat(self, sep: str | bytes) -> Dataset[Any]:
        """One element per partition: every element followed by ``sep``, joined.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.collection(['a', 'b', 'c'], pcount=2).concat('\\n').collect()
        ['a\\nb\\n', 'c\\n']
        """
        if isinstance(sep, str):
            joiner = ""
        elif isinstance(sep, (bytes, bytearray)):
            joiner = b""
        else:
            raise ValueError(f"sep must be str or bytes, not {type(sep).__name__}")
        return self.map_partitions(lambda part: [joiner.join(e + sep for e in part)])

    def pipe(self, command: str | list[str], reader: Callable = io.IOBase.readlines,
             writer: Callable = io.IOBase.writelines, **opts: Any) -> Dataset[bytes]:
        """Pipe each partition (bytes elements) through an external command.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.collection([b'ab\\n', b'cd\\n'], pcount=2).pipe('tr a-z A-Z').collect()
        [b'AB\\n', b'CD\\n']
        """
        return self.map_partitions(pipe_partition, command, reader, writer, opts)

    def mask_partitions(self, mask: Callable[[Partition], object]) -> Dataset[T]:
        """Only the partitions for which ``mask(partition)`` is truthy (indices kept).

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.range(10, pcount=5).mask_partitions(lambda part: part.idx % 2 == 0).collect()
        [0, 1, 4, 5, 8, 9]
        """
        check_callable(mask, "mask")
        return self._derive(MaskedNode, self, mask)

    def coalesce_parts(self, pcount: int) -> Dataset[T]:
        """At most ``pcount`` partitions, made of runs of consecutive partitions.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.range(100, pcount=10).coalesce_parts(3).pcount
        3
        """
        if isinstance(pcount, bool) or not isinstance(pcount, int) or pcount < 1:
            raise ArgumentError(f"coalesce_parts needs a pcount of at least 1, got {pcount!r}")
        if pcount >= self.pcount:
            return self
        return self._derive(CoalescedNode, self, pcount)

    def union(self, other: Dataset[T], *others: Dataset[T]) -> Dataset[T]:
        """The partitions of this dataset, then those of the others.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.range(3).union(ctx.range(10, 13)).collect()
        [0, 1, 2, 10, 11, 12]
        """
        check_datasets("union", other, *others)
        return self._derive(UnionNode, [self, other, *others])

    def zip(self, other: Dataset[U]) -> Dataset[tuple[T, U]]:
        """Pairs of elements of corresponding partitions (same partition counts required); as
        Python's ``zip``, a partition pairs only as many elements as the shorter one has.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.range(3).zip(ctx.range(10, 13)).collect()
        [(0, 10), (1, 11), (2, 12)]
        """
        return self.zip_partitions(other, zip)

    def zip_partitions(self, other: Dataset[Any],
                       comb: Callable[[Iterable[T], Iterable[Any]], Iterable[U]]) -> Dataset[U]:
        """Partition ``i`` is ``comb(partition i of self, partition i of other)``.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> numbers = ctx.range(4, pcount=2)
        >>> numbers.zip_partitions(numbers, lambda a, b: [sum(a) + sum(b)]).collect()
        [2, 10]
        """
        check_callable(comb, "comb")
        check_datasets("zip", other)
        return self._derive(ZipPartitionsNode, [self, other], comb)

    def product(self, other: Dataset[Any], *others: Dataset[Any],
                func: Callable[..., Iterable[Any]] = itertools.product) -> Dataset[Any]:
        """The cartesian product of partitions: ``func(data_self, data_other, ...)`` each.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> sorted(ctx.range(2).product(ctx.collection('ab')).collect())
        [(0, 'a'), (0, 'b'), (1, 'a'), (1, 'b')]
        """
        check_callable(func, "func")
        check_datasets("product", other, *others)
        sources = [self, other, *others]
        flat = []
        for source in sources:
            if isinstance(source, CartesianProductNode) and source.func is itertools.product \
                    and func is itertools.product:
                flat.extend(source.src)
            else:
                flat.append(source)
        return self._derive(CartesianProductNode, flat, func)


# -- partition functions (module level so they pickle by reference) ---------------------------

@dataclass(frozen=True, slots=True, eq=False)
class _WithIndex:
    func: Any

    def __call__(self, part, data):
        return self.func(part.idx, data)


@dataclass(frozen=True, slots=True, eq=False)
class _DataOnly:
    func: Any

    def __call__(self, part, data):
        return self.func(data)


@dataclass(frozen=True, slots=True, eq=False)
class _Map:
    func: Any

    def __call__(self, data):
        return map(self.func, data)


@dataclass(frozen=True, slots=True, eq=False)
class _StarMap(_Map):
    def __call__(self, data):
        return itertools.starmap(self.func, data)


@dataclass(frozen=True, slots=True, eq=False)
class _FlatMap(_Map):
    def __call__(self, data):
        if self.func is None:
            return itertools.chain.from_iterable(data)
        return itertools.chain.from_iterable(map(self.func, data))


@dataclass(frozen=True, slots=True, eq=False)
class _Filter:
    func: Any
    star: Any

    def __call__(self, data):
        if self.star:
            func = self.func
            return (e for e in data if func(*e))
        return filter(self.func, data)


@dataclass(frozen=True, slots=True, eq=False)
class _Pluck:
    ind: Any
    default: Any

    def _one(self, element, index):
        if self.default is None:
            return element[index]
        try:
            return element[index]
        except (IndexError, KeyError):
            return self.default

    def __call__(self, data):
        if isinstance(self.ind, list):
            indices = self.ind
            return (tuple(self._one(e, i) for i in indices) for e in data)
        if self.default is None:
            ind = self.ind
            return (e[ind] for e in data)
        return (self._one(e, self.ind) for e in data)


def _glom(data: Iterable) -> list:
    data = as_list(data)  # a sort's ints: a list, as any partition of records
    if isinstance(data, (list, range, tuple)):
        return [data]
    if hasattr(data, "__len__") and hasattr(data, "__getitem__") and not isinstance(
            data, (str, bytes)):
        return [data]
    return [list(data)]
