"""The map-side combiners and read-side merges of the key-wise operations.

A key-wise operation (``reduce_by_key``, ``group_by_key``, ``join``, ...) is a narrow map-side
step, a shuffle on the key and a read-side merge; these are the steps, called once per
partition (the loops inside them run per record, so they stay tight).
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from bndl_dask.datasets.hyperloglog import HyperLogLog
from bndl_dask.util.gc_pause import gc_paused
from bndl_dask.worker.shuffle_writer import reduce_pairs
from bndl_dask.worker.sorting import sort_records

_first = itemgetter(0)
_MISSING = object()

def sorted_items(groups: dict) -> list:
    """``(key, value)`` pairs of ``groups`` ordered by key (mixed key types: by type first)."""
    items = list(groups.items())
    sort_records(items, _first)
    return items


@dataclass(frozen=True, slots=True, eq=False)
class ReduceMerge:
    """Read side of reduce_by_key."""

    func: Any

    def __call__(self, blocks):
        # every record is reduced, also those of the first block: a block's keys need not be
        # distinct (a task of several map partitions writes each partition's combined pairs)
        acc: dict = {}
        func = self.func
        for _, records in blocks:
            reduce_pairs(records, func, acc)
        return sorted_items(acc)


@dataclass(frozen=True, slots=True, eq=False)
class CombineLocal:
    """Map side of combine_by_key: ``create`` for a key's first value, ``merge_value`` after."""

    create: Any
    merge_value: Any

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


@dataclass(frozen=True, slots=True, eq=False)
class Group:
    """Map side of aggregate_by_key: ``local(iterator of a key's values)`` per key."""

    local: Any

    def __call__(self, data):
        with gc_paused():
            groups = _group_pairs(data, {})
        local = self.local
        return [(k, local(iter(vs))) for k, vs in groups.items()]


@dataclass(frozen=True, slots=True, eq=False)
class AggregateMerge:
    """Read side of aggregate_by_key: ``comb(iterator of partial results)`` per key."""

    comb: Any

    def __call__(self, blocks):
        groups = _group_blocks(blocks)
        comb = self.comb
        return [(k, comb(iter(vs))) for k, vs in sorted_items(groups)]


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


def group_read(blocks):
    """Read side of group_by_key: the values grouped per key, ordered by key.

    Nothing is grouped on the map side (as in Spark's groupByKey): grouping there saves no
    data unless keys repeat a lot within a partition, and it costs a pass over the records
    plus serializing a list per key.
    """
    return sorted_items(_group_blocks(blocks))


@dataclass(frozen=True, slots=True, eq=False)
class Cogroup:
    """Read side of cogroup / join: values grouped per key and per input.

    Map partition ``i`` belongs to the input whose range of union partitions holds it, so records
    travel untagged.
    """

    bounds: list[int]
    join: bool

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


def _join_pairs(keys, left, right):
    # the pairs are made as the task consumes them, after the merge's own pause: a collector
    # running meanwhile would walk both sides' groups again and again
    product = itertools.product
    with gc_paused():
        for k in keys:
            yield (k, list(product(left[k], right[k])))


@dataclass(frozen=True, slots=True, eq=False)
class DistinctLocal:
    """Map side of distinct: de-duplicate the partition before bucketing."""

    key: Any

    def __call__(self, data):
        with gc_paused():
            if self.key is None:
                return set(data)
            key = self.key
            return list({key(e): e for e in data}.values())


@dataclass(frozen=True, slots=True, eq=False)
class TopLocal:
    num: Any
    pick: Any
    key: Any

    def __call__(self, values):
        return self.pick(self.num, values, key=self.key)


@dataclass(frozen=True, slots=True, eq=False)
class TopComb(TopLocal):
    def __call__(self, partials):
        return self.pick(self.num, itertools.chain.from_iterable(partials), key=self.key)


@dataclass(frozen=True, slots=True, eq=False)
class KeyWith:
    """``(key(e), e)`` for a plain dataset grouped or joined with ``key``."""

    key: Any

    def __call__(self, data):
        key = self.key
        return [(key(e), e) for e in data]


@dataclass(frozen=True, slots=True, eq=False)
class HllLocal:
    p: Any

    def __call__(self, values):

        sketch = HyperLogLog(p=self.p)
        sketch.update(values)
        return sketch


def hll_merge(sketches):
    merged = None
    for sketch in sketches:
        merged = sketch if merged is None else merged.merge(sketch)
    return merged
