"""Shuffles and key-wise operations: the methods that build shuffle nodes.

A shuffle is a ``ShuffleDataset``: a boundary the planner splits a job at. Its source's
partitions are written by map-side tasks into buckets kept on their workers
(``bndl_dask.worker.shuffle_writer``); each output partition pulls its bucket from every holder and
merges it. Key-wise operations are a narrow map-side step (combining a partition per key), a
shuffle on the key, and a read-side merge, all fused into the map and reduce tasks.

The per-partition steps of the key-wise operations are in ``keywise_functions``, the tree
aggregations in ``tree``.

>>> ctx.range(10, pcount=2).shuffle(pcount=4).collect(parts=True)
[[0, 4, 8], [1, 5, 9], [2, 6], [3, 7]]
>>> from operator import add
>>> pairs = ctx.range(12).map(lambda i: (i % 3, 1))
>>> sorted(pairs.reduce_by_key(add).collect())
[(0, 4), (1, 4), (2, 4)]
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from bndl_dask.datasets.callables import getter
from bndl_dask.datasets.core import (
    DatasetCore,
    K,
    T,
    U,
    V,
    W,
    check_callable,
    check_datasets,
    user_callsite,
)
from bndl_dask.datasets.hyperloglog import HyperLogLog, precision_for
from bndl_dask.datasets.keywise_functions import (
    AggregateMerge,
    Cogroup,
    CombineLocal,
    DistinctLocal,
    Group,
    HllLocal,
    KeyWith,
    ReduceMerge,
    TopComb,
    TopLocal,
    group_read,
    hll_merge,
)
from bndl_dask.datasets.shuffle_nodes import ExplainingLocal, ShuffleNode, SortedNode
from bndl_dask.util.serialization import COMPRESSIONS, SERIALIZATIONS
from bndl_dask.worker.shuffle_writer import KINDS

if TYPE_CHECKING:
    from bndl_dask.datasets.dataset import Dataset

_first = itemgetter(0)
_IGNORED_OPTIONS = ("min_mem_pct", "max_mem_pct")


def _key_func(key: Any) -> Callable | None:
    return None if key is None else getter(key)


def _bucket_kind(bucket: Any, sort: bool | None) -> str:
    if bucket is None:
        return "list" if sort is False else "sorted"
    if isinstance(bucket, str):
        if bucket not in KINDS:
            raise ValueError(f"bucket must be one of {KINDS}, got {bucket!r}")
        return bucket
    if bucket is list:
        return "list"
    if bucket is set:
        return "set"
    if bucket is dict:
        return "dict"
    name = getattr(bucket, "__name__", "").lower()
    if "sort" in name:
        return "sorted"
    raise TypeError(f"unsupported bucket type {bucket!r}: use 'sorted', 'list', 'set' or 'dict'")


# -- the mixin ------------------------------------------------------------------------------------


class ShuffleMixin(DatasetCore[T]):
    def _shuffle_options(self, pcount: int | None, block_size_mb: float | None = None,
                         serialization: str = "pickle", compression: Any = "default",
                         **options: Any) -> tuple[int, int, str, str | None]:
        """``(pcount, block size in bytes, serialization, compression)``, checked, with the
        context's defaults filled in."""
        for name in _IGNORED_OPTIONS:
            options.pop(name, None)
        if options:
            raise TypeError(f"unexpected shuffle options: {', '.join(sorted(options))}")
        pcount = self.pcount if pcount is None else pcount
        if isinstance(pcount, bool) or not isinstance(pcount, int) or pcount < 1:
            raise ValueError(f"pcount must be a positive int, got {pcount!r}")
        if serialization not in SERIALIZATIONS:
            raise ValueError(f"serialization must be one of {SERIALIZATIONS}")
        if compression == "default":
            compression = self.ctx.conf.get("bndl.compute.shuffle.compression", "lz4")
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}")
        if block_size_mb is None:
            block_size_mb = self.ctx.conf.get("bndl.compute.shuffle.block_size_mb_net", 8)
        return pcount, int(float(block_size_mb) * 2**20), serialization, compression

    def _shuffle(self, pcount: int | None, placement: tuple, key: Callable | None, kind: str,
                 comb: Callable | None = None, sort: bool = False, merge: Callable | None = None,
                 reverse: bool = False, **shuffle_opts: Any):
        pcount, block_size, serialization, compression = self._shuffle_options(
            pcount, **shuffle_opts)
        return self._derive(ShuffleNode, self, pcount, placement, key, kind, comb, sort,
                            block_size, serialization, compression, merge, reverse)

    def shuffle(self, pcount: int | None = None, partitioner: Callable | None = None,
                bucket: Any = None, key: Any = None, comb: Callable | None = None,
                sort: bool | None = None, **shuffle_opts: Any) -> Dataset[T]:
        """Repartition into ``pcount`` partitions by the (portable) hash of ``key(element)``.

        Lazy transformation with one shuffle (records move between workers once, by key).

        ``partitioner(key) -> int`` places elements instead (modulo ``pcount``). ``bucket``:
        ``'sorted'`` (default: each partition sorted by key), ``'list'`` (arrival order; also
        with ``sort=False``), ``'set'`` (drops duplicates) or ``'dict'`` (one element per key).
        ``comb(records)`` combines a bucket map-side before it is written. Also takes
        ``block_size_mb``, ``serialization`` ('pickle', 'marshal', 'json', ...) and
        ``compression`` ('lz4', 'gzip', None).

        >>> ctx.range(10, pcount=2).shuffle(pcount=4).collect(parts=True)
        [[0, 4, 8], [1, 5, 9], [2, 6], [3, 7]]
        """
        check_callable(partitioner, "partitioner", optional=True)
        check_callable(comb, "comb", optional=True)
        kind = _bucket_kind(bucket, sort)
        do_sort = kind == "sorted" if sort is None else bool(sort)
        if kind in ("set", "dict"):
            do_sort = bool(sort)
        placement = ("hash",) if partitioner is None else ("func", partitioner)
        return self._shuffle(pcount, placement, _key_func(key), kind, comb, do_sort,
                             **shuffle_opts)

    def _keywise(self, local: Callable | None, merge: Callable, partitioner, pcount,
                 map_reduce: Callable | None = None, **shuffle_opts: Any):
        check_callable(partitioner, "partitioner", optional=True)
        if local is not None:
            local = ExplainingLocal(local, f"{self!r} ({user_callsite()})")
        src = self.map_partitions(local) if local is not None else self
        placement = ("hash",) if partitioner is None else ("func", partitioner)
        shuffle_opts.pop("sort", None)
        shuffled = src._shuffle(pcount if pcount is not None else self.pcount, placement,
                                _first, "list", merge=merge, **shuffle_opts)
        shuffled.element_shape = "pairs"
        shuffled.partitioned_by_key = True
        shuffled.map_reduce = map_reduce
        return shuffled

    def group_by(self, key: Callable[[T], K], partitioner: Callable | None = None,
                 pcount: int | None = None, **shuffle_opts: Any) -> Dataset[tuple[K, list[T]]]:
        """``(key(element), [elements])`` per key, ordered by key within a partition; the
        elements of a key come in no particular order.

        Lazy transformation with one shuffle (records move between workers once, by key).

        >>> sorted(ctx.range(10).group_by(lambda i: i % 2).map_values(sorted).collect())
        [(0, [0, 2, 4, 6, 8]), (1, [1, 3, 5, 7, 9])]
        """
        return self.map_partitions(KeyWith(getter(key)))._keywise(
            None, group_read, partitioner, pcount, **shuffle_opts)

    def group_by_key(self: ShuffleMixin[tuple[K, V]], partitioner: Callable | None = None,
                     pcount: int | None = None,
                     **shuffle_opts: Any) -> Dataset[tuple[K, list[V]]]:
        """``(k, [values])`` per key of a ``(k, v)`` dataset; the values come in no particular
        order.

        Lazy transformation with one shuffle (records move between workers once, by key).

        >>> pairs = ctx.range(6).map(lambda i: (i // 3, i))
        >>> sorted(pairs.group_by_key().map_values(sorted).collect())
        [(0, [0, 1, 2]), (1, [3, 4, 5])]
        """
        return self._keywise(None, group_read, partitioner, pcount, **shuffle_opts)

    def aggregate_by_key(self: ShuffleMixin[tuple[K, V]], local: Callable[[Iterable[V]], U],
                         comb: Callable[[Iterable[U]], U] | None = None,
                         partitioner: Callable | None = None, pcount: int | None = None,
                         **shuffle_opts: Any) -> Dataset[tuple[K, U]]:
        """``(k, comb(local(values) per map partition))`` per key; ``comb`` defaults to local.

        Lazy transformation with one shuffle (records move between workers once, by key).

        >>> pairs = ctx.range(10).map(lambda i: (i // 3, i))
        >>> sorted(pairs.aggregate_by_key(sum).collect())
        [(0, 3), (1, 12), (2, 21), (3, 9)]
        """
        check_callable(local, "local")
        check_callable(comb, "comb", optional=True)
        return self._keywise(Group(local), AggregateMerge(comb or local), partitioner, pcount,
                             **shuffle_opts)

    def combine_by_key(self: ShuffleMixin[tuple[K, V]], create: Callable[[V], U],
                       merge_value: Callable[[U, V], U], merge_combs: Callable[[U, U], U],
                       partitioner: Callable | None = None, pcount: int | None = None,
                       **shuffle_opts: Any) -> Dataset[tuple[K, U]]:
        """``(k, combiner)`` per key: ``create(v)`` then ``merge_value(c, v)`` map-side,
        ``merge_combs(c1, c2)`` read-side.

        Lazy transformation with one shuffle (records move between workers once, by key).

        >>> pairs = ctx.range(6).map(lambda i: (i % 2, i))
        >>> sums_counts = pairs.combine_by_key(lambda v: (v, 1),
        ...                                    lambda c, v: (c[0] + v, c[1] + 1),
        ...                                    lambda c1, c2: (c1[0] + c2[0], c1[1] + c2[1]))
        >>> sorted(sums_counts.collect())
        [(0, (6, 3)), (1, (9, 3))]
        """
        check_callable(create, "create")
        check_callable(merge_value, "merge_value")
        check_callable(merge_combs, "merge_combs")
        return self._keywise(CombineLocal(create, merge_value), ReduceMerge(merge_combs),
                             partitioner, pcount, **shuffle_opts)

    def reduce_by_key(self: ShuffleMixin[tuple[K, V]], reduction: Callable[[V, V], V],
                      partitioner: Callable | None = None, pcount: int | None = None,
                      **shuffle_opts: Any) -> Dataset[tuple[K, V]]:
        """``(k, reduction over the key's values)``, combined map-side first.

        Lazy transformation with one shuffle (records move between workers once, by key).

        >>> from operator import add
        >>> pairs = ctx.range(12).map(lambda i: (i % 3, 1))
        >>> sorted(pairs.reduce_by_key(add).collect())
        [(0, 4), (1, 4), (2, 4)]
        """
        check_callable(reduction, "reduction")
        # combined map-side as the pairs are bucketed (ShuffleWriter's reduce)
        return self._keywise(None, ReduceMerge(reduction), partitioner, pcount,
                             map_reduce=reduction, **shuffle_opts)

    def nlargest_by_key(self: ShuffleMixin[tuple[K, V]], num: int, key: Any = None,
                        **shuffle_opts: Any) -> Dataset[tuple[K, list[V]]]:
        """``(k, [up to num largest values])`` per key, largest first (by ``key(value)``).

        Lazy transformation with one shuffle (records move between workers once, by key).

        >>> sorted(ctx.range(6).key_by(lambda i: i % 2).nlargest_by_key(2).collect())
        [(0, [4, 2]), (1, [5, 3])]
        """
        key_func = _key_func(key)
        return self.aggregate_by_key(TopLocal(num, heapq.nlargest, key_func),
                                     TopComb(num, heapq.nlargest, key_func), **shuffle_opts)

    def nsmallest_by_key(self: ShuffleMixin[tuple[K, V]], num: int, key: Any = None,
                         **shuffle_opts: Any) -> Dataset[tuple[K, list[V]]]:
        """``(k, [up to num smallest values])`` per key, smallest first (by ``key(value)``).

        Lazy transformation with one shuffle (records move between workers once, by key).

        >>> sorted(ctx.range(6).key_by(lambda i: i % 2).nsmallest_by_key(2).collect())
        [(0, [0, 2]), (1, [1, 3])]
        """
        key_func = _key_func(key)
        return self.aggregate_by_key(TopLocal(num, heapq.nsmallest, key_func),
                                     TopComb(num, heapq.nsmallest, key_func), **shuffle_opts)

    def cogroup(self, other: Dataset[Any], *others: Dataset[Any], key: Any = None,
                partitioner: Callable | None = None, pcount: int | None = None,
                **shuffle_opts: Any) -> Dataset[tuple[Any, list[list[Any]]]]:
        """``(k, [values of self, values of other, ...])`` for every key in any input; the
        values of each input come in no particular order.

        Lazy transformation with one shuffle (records move between workers once, by key).

        >>> letters = ctx.collection([(0, 'a'), (2, 'b')])
        >>> groups = ctx.range(4).key_by(lambda i: i % 2).cogroup(letters)
        >>> sorted(groups.map_values(lambda lists: [sorted(vs) for vs in lists]).collect())
        [(0, [[0, 2], ['a']]), (1, [[1, 3], []]), (2, [[], ['b']])]
        """
        return self._cogroup((other, *others), key, partitioner, pcount, False, shuffle_opts)

    def join(self: ShuffleMixin[tuple[K, V]], other: Dataset[tuple[K, W]], key: Any = None,
             partitioner: Callable | None = None, pcount: int | None = None,
             **shuffle_opts: Any) -> Dataset[tuple[K, list[tuple[V, W]]]]:
        """Inner join: ``(k, [(v_self, v_other), ...])``, one record per key in both; the pairs
        of a key come in no particular order.

        Lazy transformation with one shuffle (records move between workers once, by key).

        >>> numbers = ctx.range(4).key_by(lambda i: i % 2)
        >>> names = ctx.collection([(0, 'even'), (2, 'two')])
        >>> numbers.join(names).map_values(sorted).collect()
        [(0, [(0, 'even'), (2, 'even')])]
        """
        return self._cogroup((other,), key, partitioner, pcount, True, shuffle_opts)

    def _cogroup(self, others, key, partitioner, pcount, join, shuffle_opts):
        return self._cogrouped(others, key, partitioner, pcount, "join" if join else "cogroup",
                               lambda bounds: Cogroup(bounds, join), shuffle_opts)

    def _cogrouped(self, others, key, partitioner, pcount, operation: str,
                   make_merge: Callable[[list[int]], Callable], shuffle_opts):
        """One shuffle of ``self`` and ``others`` (keyed by ``key`` when given) on the key,
        each record moved once and untagged; ``make_merge(bounds)`` makes the read side, which
        tells the inputs apart by map partition: input ``j`` wrote the map partitions below
        ``bounds[j]``."""
        check_datasets(operation, *others)
        inputs = [self, *others]
        if key is not None:
            key_func = getter(key)
            inputs = [d.map_partitions(KeyWith(key_func)) for d in inputs]
        bounds, total = [], 0
        for dset in inputs:
            total += len(dset.parts())
            bounds.append(total)
        union = inputs[0].union(*inputs[1:])
        # max: inputs may have no partitions at all (ctx.collection([])), a shuffle needs one
        return union._keywise(None, make_merge(bounds), partitioner,
                              pcount if pcount is not None else max(total, 1), **shuffle_opts)

    def distinct(self, pcount: int | None = None, key: Any = None,
                 **shuffle_opts: Any) -> Dataset[T]:
        """The elements without duplicates (one element per ``key`` when given); order within
        a partition is unspecified.

        Lazy transformation with one shuffle (records move between workers once, by key).

        >>> sorted(ctx.collection('abbccc').distinct().collect())
        ['a', 'b', 'c']
        """
        key_func = _key_func(key)
        src = self.map_partitions(DistinctLocal(key_func))
        shuffle_opts.pop("sort", None)
        return src._shuffle(pcount, ("hash",), key_func, "dict" if key_func else "set",
                            **shuffle_opts)

    def count_distinct(self, pcount: int | None = None, **shuffle_opts: Any) -> int:
        """The number of distinct elements (exact, via a shuffle).

        Action: runs a job with one shuffle; only the count reaches the driver.

        >>> ctx.collection('abbccc').count_distinct()
        3
        """
        return self.distinct(pcount, **shuffle_opts).count()

    def count_distinct_approx(self, error_rate: float = 0.05) -> float:
        """An estimate of the number of distinct elements from HyperLogLog sketches.

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        The relative standard error is about ``error_rate`` (``1.04 / sqrt(registers)``); one
        sketch per partition, merged exactly on the driver, so the estimate equals that of one
        sketch fed every element.

        >>> ctx.collection('abcdefgabcdefg').count_distinct_approx()
        7.0...
        """
        p = precision_for(error_rate)
        merged = self.aggregate(HllLocal(p), hll_merge)
        return (merged or HyperLogLog(p=p)).cardinality()

    def sort(self, key: Any = None, reverse: bool = False, pcount: int | None = None,
             hd_distribution: bool = False, **shuffle_opts: Any) -> Dataset[T]:
        """A dataset whose elements come out ordered by ``key(element)`` (descending with
        ``reverse``), partition after partition.

        Lazy transformation with one shuffle (records move between workers once, by key).

        Each map task sorts its partition; the key ranges of the output partitions are drawn
        from evenly spaced keys of those sorted runs, so they are even without a separate
        sampling pass (``hd_distribution`` is accepted for BNDL's sake and not needed).

        >>> ''.join(ctx.collection('asdfzxcvqwer').sort().collect())
        'acdefqrsvwxz'
        """
        key_func = _key_func(key)
        pcount = self.pcount if pcount is None else pcount
        shuffle_opts.pop("sort", None)
        if pcount == 1:
            return self._shuffle(1, ("hash",), key_func, "sorted", sort=True, reverse=reverse,
                                 **shuffle_opts)
        pcount, block_size, serialization, compression = self._shuffle_options(
            pcount, **shuffle_opts)
        return self._derive(SortedNode, self, pcount, key_func, bool(reverse), block_size,
                            serialization, compression)
