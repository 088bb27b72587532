"""Shuffles and key-wise operations.

A shuffle is a ``ShuffleDataset``: a boundary the planner splits a job at. Its source's
partitions are written by map-side tasks into buckets kept on their workers
(``bndl_dask.worker.shuffle_writer``); each output partition pulls its bucket from every holder and
merges it. Key-wise operations are a narrow map-side step (combining a partition per key), a
shuffle on the key, and a read-side merge, all fused into the map and reduce tasks.

>>> ctx.range(10, pcount=2).shuffle(pcount=4).collect(parts=True)   # doctest: +SKIP
[[0, 4, 8], [1, 5, 9], [2, 6], [3, 7]]
>>> pairs = ctx.range(12).map(lambda i: (i % 3, 1))   # doctest: +SKIP
        >>> pairs.reduce_by_key(operator.add).collect()   # doctest: +SKIP
[(0, 4), (1, 4), (2, 4)]
"""

from __future__ import annotations

import heapq
import itertools
import math
import operator
from bisect import bisect_right
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from bndl_dask.datasets.core import check_callable, user_callsite
from bndl_dask.datasets.transformations import getter
from bndl_dask.util.gc_pause import gc_paused
from bndl_dask.util.serialization import COMPRESSIONS, SERIALIZATIONS
from bndl_dask.worker.shuffle_writer import KINDS
from bndl_dask.worker.sorting import sort_records

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


# -- map-side combiners and read-side merges of the key-wise operations ---------------------------


def _sorted_items(groups: dict) -> list:
    """``(key, value)`` pairs of ``groups`` ordered by key (mixed key types: by type first)."""
    items = list(groups.items())
    sort_records(items, _first)
    return items


def _reduce_pairs(pairs, func, acc: dict) -> dict:
    """Fold every ``(k, v)`` of ``pairs`` into ``acc[k]`` with ``func`` (the hot loop of
    reduce_by_key and combine_by_key's read side)."""
    get = acc.get
    missing = _MISSING
    if func is operator.add:  # the common case: the loop is ~10% cheaper without the call
        for k, v in pairs:
            old = get(k, missing)
            acc[k] = v if old is missing else old + v
    else:
        for k, v in pairs:
            old = get(k, missing)
            acc[k] = v if old is missing else func(old, v)
    return acc


class _ReduceLocal:
    """Map side of reduce_by_key: one ``(k, v)`` per key of the partition."""

    __slots__ = ("func",)

    def __init__(self, func):
        self.func = func

    def __call__(self, data):
        with gc_paused():  # map-side steps run before the writer (which pauses it too)
            return list(_reduce_pairs(data, self.func, {}).items())

    def __reduce__(self):
        return (_ReduceLocal, (self.func,))


class _ReduceMerge:
    """Read side of reduce_by_key."""

    __slots__ = ("func",)

    def __init__(self, func):
        self.func = func

    def __call__(self, blocks):
        acc: dict = {}
        for _, records in blocks:
            if not acc:
                acc.update(records)
            else:
                _reduce_pairs(records, self.func, acc)
        return _sorted_items(acc)

    def __reduce__(self):
        return (_ReduceMerge, (self.func,))


class _CombineLocal:
    """Map side of combine_by_key: ``create`` for a key's first value, ``merge_value`` after."""

    __slots__ = ("create", "merge_value")

    def __init__(self, create, merge_value):
        self.create, self.merge_value = create, merge_value

    def __call__(self, data):
        create, merge = self.create, self.merge_value
        acc: dict = {}
        get = acc.get
        missing = _MISSING
        with gc_paused():
            for k, v in data:
                old = get(k, missing)
                acc[k] = create(v) if old is missing else merge(old, v)
            return list(acc.items())

    def __reduce__(self):
        return (_CombineLocal, (self.create, self.merge_value))


class _Group:
    """Map side of aggregate_by_key: ``local(iterator of a key's values)`` per key."""

    __slots__ = ("local",)

    def __init__(self, local):
        self.local = local

    def __call__(self, data):
        with gc_paused():
            groups = _group_pairs(data, {})
        local = self.local
        return [(k, local(iter(vs))) for k, vs in groups.items()]

    def __reduce__(self):
        return (_Group, (self.local,))


class _AggregateMerge:
    """Read side of aggregate_by_key: ``comb(iterator of partial results)`` per key."""

    __slots__ = ("comb",)

    def __init__(self, comb):
        self.comb = comb

    def __call__(self, blocks):
        groups = _group_blocks(blocks)
        comb = self.comb
        return [(k, comb(iter(vs))) for k, vs in _sorted_items(groups)]

    def __reduce__(self):
        return (_AggregateMerge, (self.comb,))


def _group_blocks(blocks) -> dict:
    groups: dict = {}
    for _, records in blocks:
        _group_pairs(records, groups)
    return groups


def _group_pairs(pairs, groups: dict) -> dict:
    """Append every ``(k, v)`` of ``pairs`` to ``groups[k]`` (the hot loop of grouping)."""
    get = groups.get
    for k, v in pairs:
        group = get(k)
        if group is None:
            groups[k] = [v]
        else:
            group.append(v)
    return groups


def _group_read(blocks):
    """Read side of group_by_key: the values grouped per key, ordered by key.

    Nothing is grouped on the map side (as in Spark's groupByKey): grouping there saves no
    data unless keys repeat a lot within a partition, and it costs a pass over the records
    plus serializing a list per key.
    """
    return _sorted_items(_group_blocks(blocks))


class _Cogroup:
    """Read side of cogroup / join: values grouped per key and per input.

    Map partition ``i`` belongs to the input whose range of union partitions holds it, so records
    travel untagged.
    """

    __slots__ = ("bounds", "join")

    def __init__(self, bounds: list[int], join: bool):
        self.bounds = bounds  # cumulative partition counts of the inputs
        self.join = join

    def __call__(self, blocks):
        bounds = self.bounds
        inputs = len(bounds)
        per_input: list[dict] = [{} for _ in range(inputs)]
        for map_idx, records in blocks:
            _group_pairs(records, per_input[bisect_right(bounds, map_idx)])
        if self.join:
            left, right = per_input
            if len(right) < len(left):
                common = [k for k in right if k in left]
            else:
                common = [k for k in left if k in right]
            sort_records(common, None)
            return _join_pairs(common, left, right)
        keys: dict = {}
        for groups in per_input:
            keys.update(dict.fromkeys(groups))
        ordered = list(keys)
        sort_records(ordered, None)
        return [(k, [groups.get(k) or [] for groups in per_input]) for k in ordered]

    def __reduce__(self):
        return (_Cogroup, (self.bounds, self.join))


def _join_pairs(keys, left, right):
    # the pairs are made as the task consumes them, after the merge's own pause: a collector
    # running meanwhile would walk both sides' groups again and again
    product = itertools.product
    with gc_paused():
        for k in keys:
            yield (k, list(product(left[k], right[k])))


class _DistinctLocal:
    """Map side of distinct: de-duplicate the partition before bucketing."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __call__(self, data):
        with gc_paused():
            if self.key is None:
                return set(data)
            key = self.key
            return list({key(e): e for e in data}.values())

    def __reduce__(self):
        return (_DistinctLocal, (self.key,))


class _TopLocal:
    __slots__ = ("num", "pick", "key")

    def __init__(self, num, pick, key):
        self.num, self.pick, self.key = num, pick, key

    def __call__(self, values):
        return self.pick(self.num, values, key=self.key)

    def __reduce__(self):
        return (_TopLocal, (self.num, self.pick, self.key))


class _TopComb(_TopLocal):
    def __call__(self, partials):
        return self.pick(self.num, itertools.chain.from_iterable(partials), key=self.key)

    def __reduce__(self):
        return (_TopComb, (self.num, self.pick, self.key))


class _KeyWith:
    """``(key(e), e)`` for a plain dataset grouped or joined with ``key``."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __call__(self, data):
        key = self.key
        return [(key(e), e) for e in data]

    def __reduce__(self):
        return (_KeyWith, (self.key,))


class _TreeKey:
    """Tree aggregation: ``(partition index % target, local(partition))``."""

    __slots__ = ("local", "target")

    def __init__(self, local, target):
        self.local, self.target = local, target

    def __call__(self, idx, data):
        return [(idx % self.target, self.local(iter(data if data is not None else ())))]

    def __reduce__(self):
        return (_TreeKey, (self.local, self.target))


class _Rekey:
    __slots__ = ("target",)

    def __init__(self, target):
        self.target = target

    def __call__(self, pair):
        return (pair[0] % self.target, pair[1])

    def __reduce__(self):
        return (_Rekey, (self.target,))


class _FoldLocal:
    """combine's per-partition fold, as a ``local`` for tree_aggregate."""

    __slots__ = ("zero", "merge_value")

    def __init__(self, zero, merge_value):
        self.zero, self.merge_value = zero, merge_value

    def __call__(self, values):
        import copy
        import functools

        return functools.reduce(self.merge_value, values, copy.deepcopy(self.zero))

    def __reduce__(self):
        return (_FoldLocal, (self.zero, self.merge_value))


class _ReduceAll:
    __slots__ = ("func",)

    def __init__(self, func):
        self.func = func

    def __call__(self, values):
        import functools

        values = [v for v in values if v is not _EMPTY_MARK]
        if not values:
            return _EMPTY_MARK
        return functools.reduce(self.func, values)

    def __reduce__(self):
        return (_ReduceAll, (self.func,))


class _ReducePart:
    __slots__ = ("func",)

    def __init__(self, func):
        self.func = func

    def __call__(self, values):
        import functools

        iterator = iter(values)
        try:
            first = next(iterator)
        except StopIteration:
            return _EMPTY_MARK
        return functools.reduce(self.func, iterator, first)

    def __reduce__(self):
        return (_ReducePart, (self.func,))


class _EmptyMark:
    def __reduce__(self):
        return "_EMPTY_MARK"


_EMPTY_MARK = _EmptyMark()
_MISSING = object()


class _HllLocal:
    __slots__ = ("p",)

    def __init__(self, p):
        self.p = p

    def __call__(self, values):
        from bndl_dask.datasets.hyperloglog import HyperLogLog

        sketch = HyperLogLog(p=self.p)
        sketch.update(values)
        return sketch

    def __reduce__(self):
        return (_HllLocal, (self.p,))


def _hll_merge(sketches):
    merged = None
    for sketch in sketches:
        merged = sketch if merged is None else merged.merge(sketch)
    return merged


# -- the mixin ------------------------------------------------------------------------------------


class ShuffleMixin:
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
        from bndl_dask.datasets.shuffled import ShuffleDataset

        pcount, block_size, serialization, compression = self._shuffle_options(
            pcount, **shuffle_opts)
        return ShuffleDataset(self, pcount, placement, key, kind, comb, sort, block_size,
                              serialization, compression, merge, reverse)

    def shuffle(self, pcount: int | None = None, partitioner: Callable | None = None,
                bucket: Any = None, key: Any = None, comb: Callable | None = None,
                sort: bool | None = None, **shuffle_opts: Any):
        """Repartition into ``pcount`` partitions by the (portable) hash of ``key(element)``.

        ``partitioner(key) -> int`` places elements instead (modulo ``pcount``). ``bucket``:
        ``'sorted'`` (default: each partition sorted by key), ``'list'`` (arrival order; also
        with ``sort=False``), ``'set'`` (drops duplicates) or ``'dict'`` (one element per key).
        ``comb(records)`` combines a bucket map-side before it is written. Also takes
        ``block_size_mb``, ``serialization`` ('pickle', 'marshal', 'json', ...) and
        ``compression`` ('lz4', 'gzip', None).

        >>> ctx.range(10, pcount=2).shuffle(pcount=4).collect(parts=True)  # doctest: +SKIP
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
                 **shuffle_opts: Any):
        check_callable(partitioner, "partitioner", optional=True)
        if local is not None:
            from bndl_dask.datasets.shuffled import ExplainingLocal

            local = ExplainingLocal(local, f"{self!r} ({user_callsite()})")
        src = self.map_partitions(local) if local is not None else self
        placement = ("hash",) if partitioner is None else ("func", partitioner)
        shuffle_opts.pop("sort", None)
        shuffled = src._shuffle(pcount if pcount is not None else self.pcount, placement,
                                _first, "list", merge=merge, **shuffle_opts)
        shuffled.element_shape = "pairs"
        return shuffled

    def group_by(self, key: Any, partitioner: Callable | None = None, pcount: int | None = None,
                 **shuffle_opts: Any):
        """``(key(element), [elements])`` per key, ordered by key within a partition.

        >>> ctx.range(10).group_by(lambda i: i % 2).collect()   # doctest: +SKIP
        [(0, [0, 2, 4, 6, 8]), (1, [1, 3, 5, 7, 9])]
        """
        return self.map_partitions(_KeyWith(getter(key)))._keywise(
            None, _group_read, partitioner, pcount, **shuffle_opts)

    def group_by_key(self, partitioner: Callable | None = None, pcount: int | None = None,
                     **shuffle_opts: Any):
        """``(k, [values])`` per key of a ``(k, v)`` dataset.

        >>> ctx.range(6).map(lambda i: (i // 3, i)).group_by_key().collect()  # doctest: +SKIP
        [(0, [0, 1, 2]), (1, [3, 4, 5])]
        """
        return self._keywise(None, _group_read, partitioner, pcount, **shuffle_opts)

    def aggregate_by_key(self, local: Callable, comb: Callable | None = None,
                         partitioner: Callable | None = None, pcount: int | None = None,
                         **shuffle_opts: Any):
        """``(k, comb(local(values) per map partition))`` per key; ``comb`` defaults to local.

        >>> pairs = ctx.range(10).map(lambda i: (i // 3, i))   # doctest: +SKIP
        >>> pairs.aggregate_by_key(sum).collect()   # doctest: +SKIP
        [(0, 3), (1, 12), (2, 21), (3, 9)]
        """
        check_callable(local, "local")
        check_callable(comb, "comb", optional=True)
        return self._keywise(_Group(local), _AggregateMerge(comb or local), partitioner, pcount,
                             **shuffle_opts)

    def combine_by_key(self, create: Callable, merge_value: Callable, merge_combs: Callable,
                       partitioner: Callable | None = None, pcount: int | None = None,
                       **shuffle_opts: Any):
        """``(k, combiner)`` per key: ``create(v)`` then ``merge_value(c, v)`` map-side,
        ``merge_combs(c1, c2)`` read-side."""
        check_callable(create, "create")
        check_callable(merge_value, "merge_value")
        check_callable(merge_combs, "merge_combs")
        return self._keywise(_CombineLocal(create, merge_value), _ReduceMerge(merge_combs),
                             partitioner, pcount, **shuffle_opts)

    def reduce_by_key(self, reduction: Callable, partitioner: Callable | None = None,
                      pcount: int | None = None, **shuffle_opts: Any):
        """``(k, reduction over the key's values)``, combined map-side first.

        >>> pairs = ctx.range(12).map(lambda i: (i % 3, 1))   # doctest: +SKIP
        >>> pairs.reduce_by_key(operator.add).collect()   # doctest: +SKIP
        [(0, 4), (1, 4), (2, 4)]
        """
        check_callable(reduction, "reduction")
        return self._keywise(_ReduceLocal(reduction), _ReduceMerge(reduction), partitioner,
                             pcount, **shuffle_opts)

    def nlargest_by_key(self, num: int, key: Any = None, **shuffle_opts: Any):
        """``(k, [up to num largest values])`` per key, largest first (by ``key(value)``)."""
        key_func = _key_func(key)
        return self.aggregate_by_key(_TopLocal(num, heapq.nlargest, key_func),
                                     _TopComb(num, heapq.nlargest, key_func), **shuffle_opts)

    def nsmallest_by_key(self, num: int, key: Any = None, **shuffle_opts: Any):
        """``(k, [up to num smallest values])`` per key, smallest first (by ``key(value)``)."""
        key_func = _key_func(key)
        return self.aggregate_by_key(_TopLocal(num, heapq.nsmallest, key_func),
                                     _TopComb(num, heapq.nsmallest, key_func), **shuffle_opts)

    def cogroup(self, other, *others, key: Any = None, partitioner: Callable | None = None,
                pcount: int | None = None, **shuffle_opts: Any):
        """``(k, [values of self, values of other, ...])`` for every key in any input."""
        return self._cogroup((other, *others), key, partitioner, pcount, False, shuffle_opts)

    def join(self, other, key: Any = None, partitioner: Callable | None = None,
             pcount: int | None = None, **shuffle_opts: Any):
        """Inner join: ``(k, [(v_self, v_other), ...])``, one record per key in both.

        >>> a = ctx.range(4).key_by(lambda i: i % 2)   # doctest: +SKIP
        >>> a.join(a).collect()[0]                       # doctest: +SKIP
        (0, [(0, 0), (0, 2), (2, 0), (2, 2)])
        """
        return self._cogroup((other,), key, partitioner, pcount, True, shuffle_opts)

    def _cogroup(self, others, key, partitioner, pcount, join, shuffle_opts):
        from bndl_dask.datasets.transformations import _check_datasets

        _check_datasets("join" if join else "cogroup", *others)
        inputs = [self, *others]
        if key is not None:
            key_func = getter(key)
            inputs = [d.map_partitions(_KeyWith(key_func)) for d in inputs]
        bounds, total = [], 0
        for dset in inputs:
            total += len(dset.parts())
            bounds.append(total)
        union = inputs[0].union(*inputs[1:])
        return union._keywise(None, _Cogroup(bounds, join), partitioner,
                              pcount if pcount is not None else total, **shuffle_opts)

    def distinct(self, pcount: int | None = None, key: Any = None, **shuffle_opts: Any):
        """The elements without duplicates (one element per ``key`` when given); order within
        a partition is unspecified.

        >>> sorted(ctx.collection('abbccc').distinct().collect())   # doctest: +SKIP
        ['a', 'b', 'c']
        """
        key_func = _key_func(key)
        src = self.map_partitions(_DistinctLocal(key_func))
        shuffle_opts.pop("sort", None)
        return src._shuffle(pcount, ("hash",), key_func, "dict" if key_func else "set",
                            **shuffle_opts)

    def count_distinct(self, pcount: int | None = None, **shuffle_opts: Any) -> int:
        """The number of distinct elements (exact, via a shuffle)."""
        return self.distinct(pcount, **shuffle_opts).count()

    def count_distinct_approx(self, error_rate: float = 0.05) -> float:
        """An estimate of the number of distinct elements from HyperLogLog sketches.

        The relative standard error is about ``error_rate`` (``1.04 / sqrt(registers)``); one
        sketch per partition, merged exactly on the driver, so the estimate equals that of one
        sketch fed every element.

        >>> ctx.collection('abcdefgabcdefg').count_distinct_approx()   # doctest: +SKIP
        7.0...
        """
        from bndl_dask.datasets.hyperloglog import HyperLogLog, precision_for

        p = precision_for(error_rate)
        merged = self.aggregate(_HllLocal(p), _hll_merge)
        return (merged or HyperLogLog(p=p)).cardinality()

    def sort(self, key: Any = None, reverse: bool = False, pcount: int | None = None,
             hd_distribution: bool = False, **shuffle_opts: Any):
        """A dataset whose elements come out ordered by ``key(element)`` (descending with
        ``reverse``), partition after partition.

        Each map task sorts its partition; the key ranges of the output partitions are drawn
        from evenly spaced keys of those sorted runs, so they are even without a separate
        sampling pass (``hd_distribution`` is accepted for BNDL's sake and not needed).

        >>> ''.join(ctx.collection('asdfzxcvqwer').sort().collect())   # doctest: +SKIP
        'acdefqrsvwxz'
        """
        key_func = _key_func(key)
        pcount = self.pcount if pcount is None else pcount
        shuffle_opts.pop("sort", None)
        if pcount == 1:
            return self._shuffle(1, ("hash",), key_func, "sorted", sort=True, reverse=reverse,
                                 **shuffle_opts)
        from bndl_dask.datasets.shuffled import SortedDataset

        pcount, block_size, serialization, compression = self._shuffle_options(
            pcount, **shuffle_opts)
        return SortedDataset(self, pcount, key_func, bool(reverse), block_size, serialization,
                             compression)

    # -- tree aggregations (combine partial results on the workers, in rounds) -----------------

    def tree_aggregate(self, local: Callable, comb: Callable | None = None, depth: int = 2,
                       scale: int | None = None, **shuffle_opts: Any) -> Any:
        """Like ``aggregate``, but partials are combined on the workers in up to ``depth``
        shuffle rounds first.

        >>> ctx.range(1000, pcount=100).tree_aggregate(sum)   # doctest: +SKIP
        499500
        """
        check_callable(local, "local")
        check_callable(comb, "comb", optional=True)
        comb = comb or local
        depth = 16 if depth is None else depth
        if depth < 2:
            return self.aggregate(local, comb)
        pcount = self.pcount
        scale = scale or max(math.ceil(pcount ** (1 / depth)), 2)
        target = round(pcount / scale)
        if target < 2:
            return self.aggregate(local, comb)
        shuffle_opts.setdefault("sort", False)
        dset = self.map_partitions_with_index(_TreeKey(local, target))
        while True:
            dset = dset.aggregate_by_key(comb, pcount=target, **shuffle_opts)
            target = round(target / scale)
            if target < scale:
                break
            dset = dset.map(_Rekey(target))
        try:
            return comb(iter(dset.values().collect()))
        except StopIteration:
            raise ValueError("dataset is empty") from None

    def tree_combine(self, zero: Any, merge_value: Callable, merge_combs: Callable,
                     **kwargs: Any) -> Any:
        """``combine`` with partial results merged on the workers in rounds."""
        import functools

        check_callable(merge_value, "merge_value")
        check_callable(merge_combs, "merge_combs")
        return self.tree_aggregate(_FoldLocal(zero, merge_value),
                                   _ReduceComb(functools.partial(functools.reduce, merge_combs)),
                                   **kwargs)

    def tree_reduce(self, reduction: Callable, **kwargs: Any) -> Any:
        """``reduce`` with partial results merged on the workers in rounds."""
        check_callable(reduction, "reduction")
        result = self.tree_aggregate(_ReducePart(reduction), _ReduceAll(reduction), **kwargs)
        if result is _EMPTY_MARK:
            raise ValueError("dataset is empty")
        return result


class _ReduceComb:
    __slots__ = ("func",)

    def __init__(self, func):
        self.func = func

    def __call__(self, values):
        return self.func(list(values))

    def __reduce__(self):
        return (_ReduceComb, (self.func,))
