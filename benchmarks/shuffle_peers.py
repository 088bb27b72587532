"""Peer versions of the shuffle workloads W2-W9 (bndl_dask's are in shuffle_workloads.py).

The records are the ones ``shuffle_workloads.py`` defines (its size constants and the record
functions of ``records.py`` are used, so all stay in step), at the same partition count
(``pcount``) and key types (``keys``). The hand-written dask graphs do what a careful dask user
would: a map task per input partition that combines locally and splits its output into one
bucket per reducer, a ``pick`` task per (map, reducer) pair that runs where the map output is, a
reduce task per output partition. Buckets travel as one pickled ``Box`` (distributed would
otherwise serialize a bare list or dict element by element). dask.bag peers are only given where
dask.bag has the operation and finishes in reasonable time (see README.md).
"""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from benchmarks import shuffle_workloads as sw
from benchmarks.records import bucket, combine_values, key_name, key_unit, key_value, summary

P = sw.DEFAULT_PARTITIONS


class Box:
    """One object around a bucket, so it crosses processes as a single pickle."""

    __slots__ = ("data",)

    def __init__(self, data: Any):
        self.data = data

    def __reduce__(self):
        return (Box, (self.data,))


def _bounds(n: int, pcount: int) -> list[tuple[int, int]]:
    return [(i * n // pcount, (i + 1) * n // pcount) for i in range(pcount)]


def pick(box: Box, j: int) -> Box:
    return Box(box.data[j])


def _shuffle_graph(tok: str, name: str, maps: list[tuple], reduce: tuple, m: int,
                   final: Callable | None = None, extra_deps: tuple = ()) -> tuple[dict, list]:
    """maps: one (func, *args) per map task; reduce: (func, *args) getting the buckets last."""
    graph: dict[Any, Any] = {}
    for i, task in enumerate(maps):
        graph[(f"{name}-map-{tok}", i)] = task
    for i in range(len(maps)):
        for j in range(m):
            graph[(f"{name}-pick-{tok}", i, j)] = (pick, (f"{name}-map-{tok}", i), j)
    keys = []
    for j in range(m):
        key = (f"{name}-reduce-{tok}", j)
        graph[key] = (*reduce, j, [(f"{name}-pick-{tok}", i, j) for i in range(len(maps))])
        keys.append(key)
    if final is not None:
        graph[f"{name}-final-{tok}"] = (final, keys)
        keys = [f"{name}-final-{tok}"]
    return graph, keys


# -- W2 reduce_by_key ----------------------------------------------------------------------------


def w2_map(lo: int, hi: int, nkeys: int, keys: str, m: int) -> Box:
    acc: dict = {}
    get = acc.get
    if keys == "kb":
        for k, v in map(key_unit(nkeys, keys), range(lo, hi)):
            old = get(k)
            acc[k] = v if old is None or v > old else old
    else:
        for k, v in map(key_unit(nkeys, keys), range(lo, hi)):
            acc[k] = get(k, 0) + v
    buckets: list[dict] = [{} for _ in range(m)]
    for k, v in acc.items():
        buckets[bucket(k, m)][k] = v
    return Box(buckets)


def w2_reduce(keys: str, _j: int, boxes: list[Box]) -> Box:
    acc: dict = {}
    get = acc.get
    combine = combine_values(keys)
    for box in boxes:
        for k, v in box.data.items():
            old = get(k)
            acc[k] = v if old is None else combine(old, v)
    return Box({k: summary(v) for k, v in acc.items()} if keys == "kb" else acc)


def w2_graph(client, scale: float = 1.0, pcount: int = P, keys: str = "int") -> dict:
    n, nkeys = sw.w2_sizes(scale)
    graph, out = _shuffle_graph(uuid.uuid4().hex[:10], "w2",
                                [(w2_map, lo, hi, nkeys, keys, pcount)
                                 for lo, hi in _bounds(n, pcount)],
                                (w2_reduce, keys), pcount)
    result: dict = {}
    for box in client.get(graph, out):
        result.update(box.data)
    return result


def w2_spark(sc, scale: float = 1.0, pcount: int = P, keys: str = "int") -> dict:
    n, nkeys = sw.w2_sizes(scale)
    sums = sc.range(0, n, numSlices=pcount).map(key_unit(nkeys, keys)) \
        .reduceByKey(combine_values(keys), numPartitions=pcount)
    if keys == "kb":
        sums = sums.mapValues(summary)
    return sums.collectAsMap()


# -- W3 group_by_key -----------------------------------------------------------------------------


def keyed_map(lo: int, hi: int, make: Callable, m: int) -> Box:
    """One map task of a shuffle without a map-side combine: records into reducer buckets."""
    buckets: list[list] = [[] for _ in range(m)]
    for k, v in map(make, range(lo, hi)):
        buckets[bucket(k, m)].append((k, v))
    return Box(buckets)


def w3_reduce(_j: int, boxes: list[Box]) -> tuple[int, int]:
    groups: dict = defaultdict(list)
    for box in boxes:
        for k, v in box.data:
            groups[k].append(v)
    return sw._count_groups(groups.items())


def w3_graph(client, scale: float = 1.0, pcount: int = P, keys: str = "int") -> tuple:
    n, nkeys = sw.w3_sizes(scale)
    make = key_value(nkeys, keys)
    graph, out = _shuffle_graph(uuid.uuid4().hex[:10], "w3",
                                [(keyed_map, lo, hi, make, pcount)
                                 for lo, hi in _bounds(n, pcount)],
                                (w3_reduce,), pcount)
    return sw._groups_and_values(client.get(graph, out))


def w3_spark(sc, scale: float = 1.0, pcount: int = P, keys: str = "int") -> tuple:
    n, nkeys = sw.w3_sizes(scale)
    pairs = sc.range(0, n, numSlices=pcount).map(key_value(nkeys, keys)).groupByKey(pcount)
    return sw._groups_and_values(pairs.mapValues(list).map(_group_size).collect())


def _group_size(pair: tuple) -> tuple[int, int]:
    return 1, len(pair[1])


# -- W4 sort -------------------------------------------------------------------------------------


def w4_values(lo: int, hi: int) -> list[int]:
    return [i * sw._MULT % sw._MOD for i in range(lo, hi)]


def w4_map(lo: int, hi: int) -> Box:
    return Box(w4_values(lo, hi))


def w4_sample(box: Box, every: int = 100) -> Box:
    return Box(box.data[::every])


def w4_boundaries(samples: list[Box], m: int) -> list[int]:
    merged = sorted(x for box in samples for x in box.data)
    if not merged:
        return []
    return [merged[len(merged) * j // m] for j in range(1, m)]


def w4_split(box: Box, bounds: list[int], m: int) -> Box:
    buckets: list[list] = [[] for _ in range(m)]
    right = bisect.bisect_right
    for x in box.data:
        buckets[right(bounds, x)].append(x)
    return Box(buckets)


def w4_reduce(_j: int, boxes: list[Box]) -> Box:
    merged = [x for box in boxes for x in box.data]
    merged.sort()
    return Box(merged)


def w4_graph(client, scale: float = 1.0, pcount: int = P) -> list:
    n = int(sw.W4_RECORDS * scale)
    tok = uuid.uuid4().hex[:10]
    graph: dict[Any, Any] = {}
    ranges = _bounds(n, pcount)
    for i, (lo, hi) in enumerate(ranges):
        graph[(f"w4-values-{tok}", i)] = (w4_map, lo, hi)
        graph[(f"w4-sample-{tok}", i)] = (w4_sample, (f"w4-values-{tok}", i))
    graph[f"w4-bounds-{tok}"] = (w4_boundaries,
                                 [(f"w4-sample-{tok}", i) for i in range(pcount)], pcount)
    maps = [(w4_split, (f"w4-values-{tok}", i), f"w4-bounds-{tok}", pcount)
            for i in range(pcount)]
    shuffle, out = _shuffle_graph(tok, "w4", maps, (w4_reduce,), pcount)
    graph.update(shuffle)
    result: list = []
    for box in client.get(graph, out):
        result.extend(box.data)
    return result


def w4_spark(sc, scale: float = 1.0, pcount: int = P) -> list:
    n = int(sw.W4_RECORDS * scale)
    return sc.range(0, n, numSlices=pcount).map(_hash).sortBy(_identity, numPartitions=pcount) \
        .collect()


def _hash(i: int) -> int:
    return i * sw._MULT % sw._MOD


def _identity(x: Any) -> Any:
    return x


# -- W7 join, W8 left_outer_join, W9 subtract_by_key ---------------------------------------------


def _join_graph(client, name: str, scale: float, pcount: int, keys: str, step: int,
                reduce: tuple) -> Any:
    """Both sides bucketed by key, one reduce task per partition getting the left buckets then
    the right ones, the reduce results summed (tuples element-wise)."""
    left, right = sw.w7_sizes(scale)
    maps = [(keyed_map, lo, hi, key_value(right, keys), pcount) for lo, hi in _bounds(left, pcount)]
    maps += [(keyed_map, lo, hi, key_name(keys, step), pcount)
             for lo, hi in _bounds(right // step, pcount)]
    graph, out = _shuffle_graph(uuid.uuid4().hex[:10], name, maps, (*reduce, pcount), pcount,
                                final=_total)
    return client.get(graph, out)[0]


def _total(parts: list) -> Any:
    if parts and isinstance(parts[0], tuple):
        return tuple(map(sum, zip(*parts)))
    return sum(parts)


def _two_sides(boxes: list[Box], pcount_left: int) -> tuple[dict, dict]:
    left: dict = defaultdict(list)
    for box in boxes[:pcount_left]:
        for k, v in box.data:
            left[k].append(v)
    right: dict = defaultdict(list)
    for box in boxes[pcount_left:]:
        for k, v in box.data:
            right[k].append(v)
    return left, right


def w7_reduce(pcount_left: int, _j: int, boxes: list[Box]) -> int:
    left, right = _two_sides(boxes, pcount_left)
    # the join's output: every (left, right) pair of a key present in both; counted
    return sum(len([(x, y) for x in vs for y in right[k]]) for k, vs in left.items()
               if k in right)


def w7_graph(client, scale: float = 1.0, pcount: int = P, keys: str = "int") -> int:
    return _join_graph(client, "w7", scale, pcount, keys, 1, (w7_reduce,))


def w7_spark(sc, scale: float = 1.0, pcount: int = P, keys: str = "int") -> int:
    a, b = _spark_sides(sc, scale, pcount, keys, 1)
    return a.join(b, numPartitions=pcount).count()


def _spark_sides(sc, scale: float, pcount: int, keys: str, step: int):
    left, right = sw.w7_sizes(scale)
    a = sc.range(0, left, numSlices=pcount).map(key_value(right, keys))
    b = sc.range(0, right // step, numSlices=pcount).map(key_name(keys, step))
    return a, b


def w8_reduce(pcount_left: int, _j: int, boxes: list[Box]) -> tuple[int, int]:
    left, right = _two_sides(boxes, pcount_left)
    pairs = [(x, y) for k, vs in left.items() for x in vs for y in right.get(k) or (None,)]
    return len(pairs), sum(1 for _, y in pairs if y is None)


def w8_graph(client, scale: float = 1.0, pcount: int = P, keys: str = "int") -> tuple:
    return _join_graph(client, "w8", scale, pcount, keys, 2, (w8_reduce,))


def w8_spark(sc, scale: float = 1.0, pcount: int = P, keys: str = "int") -> tuple:
    a, b = _spark_sides(sc, scale, pcount, keys, 2)
    counts = a.leftOuterJoin(b, numPartitions=pcount).map(_pair_and_unmatched) \
        .reduce(sw._add_pairs)
    return tuple(counts)


def _pair_and_unmatched(record: tuple) -> tuple[int, int]:
    return 1, int(record[1][1] is None)


def w9_reduce(pcount_left: int, _j: int, boxes: list[Box]) -> int:
    removed = {k for box in boxes[pcount_left:] for k, _ in box.data}
    return sum(1 for box in boxes[:pcount_left] for k, _ in box.data if k not in removed)


def w9_graph(client, scale: float = 1.0, pcount: int = P, keys: str = "int") -> int:
    return _join_graph(client, "w9", scale, pcount, keys, 2, (w9_reduce,))


def w9_spark(sc, scale: float = 1.0, pcount: int = P, keys: str = "int") -> int:
    a, b = _spark_sides(sc, scale, pcount, keys, 2)
    return a.subtractByKey(b, numPartitions=pcount).count()


PEERS: dict[str, dict[str, Callable[..., Any]]] = {
    "W2": dict(dask_graph=w2_graph, pyspark=w2_spark),
    "W3": dict(dask_graph=w3_graph, pyspark=w3_spark),
    "W4": dict(dask_graph=w4_graph, pyspark=w4_spark),
    "W7": dict(dask_graph=w7_graph, pyspark=w7_spark),
    "W8": dict(dask_graph=w8_graph, pyspark=w8_spark),
    "W9": dict(dask_graph=w9_graph, pyspark=w9_spark),
}
