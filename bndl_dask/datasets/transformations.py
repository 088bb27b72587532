"""Narrow transformations: each returns a new dataset computed partition by partition."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterable
from typing import Any

from bndl_dask.datasets.core import ArgumentError, check_callable


def _check_datasets(operation: str, *others: Any) -> None:
    """Combining a dataset with a list (say) fails late and obscurely: say so at once."""
    from bndl_dask.datasets.core import DatasetCore

    for other in others:
        if not isinstance(other, DatasetCore):
            raise TypeError(
                f"{operation} combines datasets, got {type(other).__name__}; make one with "
                f"ctx.collection(...) first")


def getter(key: Any) -> Callable:
    """A callable from BNDL's ``key`` convention: callables as is, a list of indices gives a
    tuple of items, any other value is an item index."""
    if callable(key):
        return key
    if isinstance(key, list):
        indices = tuple(key)
        return lambda element: tuple(element[i] for i in indices)
    return lambda element: element[key]


class TransformationsMixin:
    def map_partitions_with_part(self, func: Callable, *args: Any, **kwargs: Any):
        """Replace each partition's data by ``func(*args, partition, data, **kwargs)``."""
        from bndl_dask.datasets.narrow import MapPartitionsDataset, bind

        check_callable(func)
        return MapPartitionsDataset(self, bind(func, args, kwargs))

    def map_partitions_with_index(self, func: Callable, *args: Any, **kwargs: Any):
        """Replace each partition's data by ``func(*args, index, data, **kwargs)``.

        >>> ctx.range(10, pcount=3).map_partitions_with_index(lambda i, p: [i]).collect()
        [0, 1, 2]
        """
        from bndl_dask.datasets.narrow import bind

        check_callable(func)
        bound = bind(func, args, kwargs)
        return self.map_partitions_with_part(_WithIndex(bound))

    def map_partitions(self, func: Callable, *args: Any, **kwargs: Any):
        """Replace each partition's data by ``func(*args, data, **kwargs)`` (None = empty).

        >>> ctx.range(10, pcount=3).map_partitions(lambda p: [len(p)]).collect()
        [3, 3, 4]
        """
        from bndl_dask.datasets.narrow import bind

        check_callable(func)
        return self.map_partitions_with_part(_DataOnly(bind(func, args, kwargs)))

    def map(self, func: Callable, *args: Any, **kwargs: Any):
        """``func(*args, element, **kwargs)`` for every element.

        >>> ctx.range(4).map(str).collect()
        ['0', '1', '2', '3']
        """
        from bndl_dask.datasets.narrow import bind

        check_callable(func)
        return self.map_partitions(_Map(bind(func, args, kwargs)))

    def starmap(self, func: Callable, *args: Any, **kwargs: Any):
        """``func(*args, *element, **kwargs)`` for every element."""
        from bndl_dask.datasets.narrow import bind

        check_callable(func)
        return self.map_partitions(_StarMap(bind(func, args, kwargs)))

    def flatmap(self, func: Callable | None = None, *args: Any, **kwargs: Any):
        """The items of ``func(*args, element)`` (or of the element itself) for every element.

        >>> ctx.collection(['ab', 'cd']).flatmap().collect()
        ['a', 'b', 'c', 'd']
        """
        from bndl_dask.datasets.narrow import bind

        check_callable(func, optional=True)
        bound = bind(func, args, kwargs) if func is not None else None
        return self.map_partitions(_FlatMap(bound))

    def pluck(self, ind: Any, default: Any = None):
        """``element[ind]`` (a list ``ind`` gives a tuple of items)."""
        return self.map_partitions(_Pluck(ind, default))

    def filter(self, func: Callable | None = None, *args: Any, **kwargs: Any):
        """The elements for which ``func(*args, element)`` (or the element) is truthy.

        >>> ctx.range(1, 100).filter(lambda i: i % 2).count()
        50
        """
        from bndl_dask.datasets.narrow import bind

        check_callable(func, optional=True)
        bound = bind(func, args, kwargs) if func is not None else None
        return self.map_partitions(_Filter(bound, star=False))

    def starfilter(self, func: Callable, *args: Any, **kwargs: Any):
        """The elements for which ``func(*args, *element)`` is truthy."""
        from bndl_dask.datasets.narrow import bind

        check_callable(func)
        return self.map_partitions(_Filter(bind(func, args, kwargs), star=True))

    def glom(self):
        """One element per partition: the partition's data as a collection."""
        return self.map_partitions(_glom)

    def concat(self, sep: str | bytes):
        """One element per partition: every element followed by ``sep``, joined."""
        if isinstance(sep, str):
            joiner = ""
        elif isinstance(sep, (bytes, bytearray)):
            joiner = b""
        else:
            raise ValueError(f"sep must be str or bytes, not {type(sep).__name__}")
        return self.map_partitions(lambda part: [joiner.join(e + sep for e in part)])

    def pipe(self, command: str | list, reader: Callable = io.IOBase.readlines,
             writer: Callable = io.IOBase.writelines, **opts: Any):
        """Pipe each partition (bytes elements) through an external command."""
        from bndl_dask.datasets.pipe import pipe_partition

        return self.map_partitions(pipe_partition, command, reader, writer, opts)

    def mask_partitions(self, mask: Callable):
        """Only the partitions for which ``mask(partition)`` is truthy (indices kept)."""
        from bndl_dask.datasets.narrow import MaskedDataset

        check_callable(mask, "mask")
        return MaskedDataset(self, mask)

    def coalesce_parts(self, pcount: int):
        """At most ``pcount`` partitions, made of runs of consecutive partitions.

        >>> ctx.range(100, pcount=10).coalesce_parts(3).pcount
        3
        """
        from bndl_dask.datasets.narrow import CoalescedDataset

        if isinstance(pcount, bool) or not isinstance(pcount, int) or pcount < 1:
            raise ArgumentError(f"coalesce_parts needs a pcount of at least 1, got {pcount!r}")
        if pcount >= self.pcount:
            return self
        return CoalescedDataset(self, pcount)

    def union(self, other, *others):
        """The partitions of this dataset, then those of the others.

        >>> ctx.range(3).union(ctx.range(10, 13)).collect()
        [0, 1, 2, 10, 11, 12]
        """
        from bndl_dask.datasets.narrow import UnionDataset

        _check_datasets("union", other, *others)
        return UnionDataset([self, other, *others])

    def zip(self, other):
        """Pairs of elements of corresponding partitions (same partition counts required)."""
        return self.zip_partitions(other, zip)

    def zip_partitions(self, other, comb: Callable):
        """Partition ``i`` is ``comb(partition i of self, partition i of other)``."""
        from bndl_dask.datasets.narrow import ZipPartitionsDataset

        check_callable(comb, "comb")
        _check_datasets("zip", other)
        return ZipPartitionsDataset([self, other], comb)

    def product(self, other, *others, func: Callable = itertools.product):
        """The cartesian product of partitions: ``func(data_self, data_other, ...)`` each."""
        from bndl_dask.datasets.narrow import CartesianProductDataset

        check_callable(func, "func")
        _check_datasets("product", other, *others)
        sources = [self, other, *others]
        flat = []
        for source in sources:
            if isinstance(source, CartesianProductDataset) and source.func is itertools.product \
                    and func is itertools.product:
                flat.extend(source.src)
            else:
                flat.append(source)
        return CartesianProductDataset(flat, func)


# -- partition functions (module level so they pickle by reference) ---------------------------

class _WithIndex:
    __slots__ = ("func",)

    def __init__(self, func):
        self.func = func

    def __call__(self, part, data):
        return self.func(part.idx, data)

    def __reduce__(self):
        return (_WithIndex, (self.func,))


class _DataOnly:
    __slots__ = ("func",)

    def __init__(self, func):
        self.func = func

    def __call__(self, part, data):
        return self.func(data)

    def __reduce__(self):
        return (_DataOnly, (self.func,))


class _Map:
    __slots__ = ("func",)

    def __init__(self, func):
        self.func = func

    def __call__(self, data):
        return map(self.func, data)

    def __reduce__(self):
        return (_Map, (self.func,))


class _StarMap(_Map):
    def __call__(self, data):
        return itertools.starmap(self.func, data)

    def __reduce__(self):
        return (_StarMap, (self.func,))


class _FlatMap(_Map):
    def __call__(self, data):
        if self.func is None:
            return itertools.chain.from_iterable(data)
        return itertools.chain.from_iterable(map(self.func, data))

    def __reduce__(self):
        return (_FlatMap, (self.func,))


class _Filter:
    __slots__ = ("func", "star")

    def __init__(self, func, star):
        self.func, self.star = func, star

    def __call__(self, data):
        if self.star:
            func = self.func
            return (e for e in data if func(*e))
        return filter(self.func, data)

    def __reduce__(self):
        return (_Filter, (self.func, self.star))


class _Pluck:
    __slots__ = ("ind", "default")

    def __init__(self, ind, default):
        self.ind, self.default = ind, default

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

    def __reduce__(self):
        return (_Pluck, (self.ind, self.default))


def _glom(data: Iterable) -> list:
    if isinstance(data, (list, range, tuple)):
        return [data]
    if hasattr(data, "__len__") and hasattr(data, "__getitem__") and not isinstance(
            data, (str, bytes)):
        return [data]
    return [list(data)]
