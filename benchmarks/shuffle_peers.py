"""Peer versions of the shuffle workloads W2, W3, W4, W7 (bndl_dask's are in shuffle_workloads.py).

The records are the ones ``shuffle_workloads.py`` defines (its size constants are used, so both
stay in step). The hand-written dask graphs do what a careful dask user would: a map task per
input partition that combines locally and splits its output into one bucket per reducer, a
``pick`` task per (map, reducer) pair that runs where the map output is, a reduce task per output
partition. Buckets travel as one pickled ``Box`` (distributed would otherwise serialize a bare
list or dict element by element). dask.bag peers are only given where dask.bag has the operation
and finishes in reasonable time (see README.md).
"""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from benchmarks import shuffle_workloads as sw
from benchmarks.workloads import QUICK_SCALE

PCOUNT = 4  # as shuffle_workloads: 2 workers x 2


class Box:
    """One object around a bucket, so it crosses processes as a single pickle."""

    __slots__ = ("data",)

    def __init__(self, data: Any):
        self.data = data

    def __reduce__(self):
        return (Box, (self.data,))


def _bounds(n: int, pcount: int) -> list[tuple[int, int]]:
    return [(i * n // pcount, (i + 1) * n // pcount) for i in range(pcount)]


def _scale(quick: bool) -> float:
    return QUICK_SCALE if quick else 1.0


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


def w2_map(lo: int, hi: int, keys: int, m: int) -> Box:
    acc: dict[int, int] = {}
    get = acc.get
    for i in range(lo, hi):
        k = i % keys
        acc[k] = get(k, 0) + 1
    buckets: list[dict] = [{} for _ in range(m)]
    for k, v in acc.items():
        buckets[k % m][k] = v
    return Box(buckets)


def w2_reduce(_j: int, boxes: list[Box]) -> Box:
    acc: dict[int, int] = {}
    get = acc.get
    for box in boxes:
        for k, v in box.data.items():
            acc[k] = get(k, 0) + v
    return Box(acc)


def w2_graph(client, quick: bool = False) -> dict:
    scale = _scale(quick)
    n, keys = int(sw.W2_RECORDS * scale), max(int(sw.W2_KEYS * scale), 1)
    graph, out = _shuffle_graph(uuid.uuid4().hex[:10], "w2",
                                [(w2_map, lo, hi, keys, PCOUNT) for lo, hi in _bounds(n, PCOUNT)],
                                (w2_reduce,), PCOUNT)
    result: dict = {}
    for box in client.get(graph, out):
        result.update(box.data)
    return result


def w2_spark(sc, quick: bool = False) -> dict:
    scale = _scale(quick)
    n, keys = int(sw.W2_RECORDS * scale), max(int(sw.W2_KEYS * scale), 1)
    return sc.range(0, n, numSlices=PCOUNT).map(_KeyOne(keys)) \
        .reduceByKey(_add, numPartitions=PCOUNT).collectAsMap()


class _KeyOne:
    def __init__(self, keys: int):
        self.keys = keys

    def __call__(self, i: int) -> tuple:
        return (i % self.keys, 1)


def _add(a: int, b: int) -> int:
    return a + b


# -- W3 group_by_key -----------------------------------------------------------------------------


def w3_map(lo: int, hi: int, keys: int, m: int) -> Box:
    buckets: list[list] = [[] for _ in range(m)]
    for i in range(lo, hi):
        k = i % keys
        buckets[k % m].append((k, i))
    return Box(buckets)


def w3_reduce(_j: int, boxes: list[Box]) -> tuple[int, int]:
    groups: dict[int, list] = defaultdict(list)
    for box in boxes:
        for k, v in box.data:
            groups[k].append(v)
    return sw._count_groups(groups.items())


def w3_graph(client, quick: bool = False) -> tuple:
    scale = _scale(quick)
    n, keys = int(sw.W3_RECORDS * scale), max(int(sw.W3_KEYS * scale), 1)
    graph, out = _shuffle_graph(uuid.uuid4().hex[:10], "w3",
                                [(w3_map, lo, hi, keys, PCOUNT) for lo, hi in _bounds(n, PCOUNT)],
                                (w3_reduce,), PCOUNT)
    return sw._groups_and_values(client.get(graph, out))


def w3_spark(sc, quick: bool = False) -> tuple:
    scale = _scale(quick)
    n, keys = int(sw.W3_RECORDS * scale), max(int(sw.W3_KEYS * scale), 1)
    pairs = sc.range(0, n, numSlices=PCOUNT).map(_KeyValue(keys)).groupByKey(PCOUNT)
    return sw._groups_and_values(pairs.mapValues(list).map(_group_size).collect())


class _KeyValue:
    def __init__(self, keys: int):
        self.keys = keys

    def __call__(self, i: int) -> tuple:
        return (i % self.keys, i)


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


def w4_graph(client, quick: bool = False) -> list:
    n = int(sw.W4_RECORDS * _scale(quick))
    tok = uuid.uuid4().hex[:10]
    graph: dict[Any, Any] = {}
    ranges = _bounds(n, PCOUNT)
    for i, (lo, hi) in enumerate(ranges):
        graph[(f"w4-values-{tok}", i)] = (w4_map, lo, hi)
        graph[(f"w4-sample-{tok}", i)] = (w4_sample, (f"w4-values-{tok}", i))
    graph[f"w4-bounds-{tok}"] = (w4_boundaries,
                                 [(f"w4-sample-{tok}", i) for i in range(PCOUNT)], PCOUNT)
    maps = [(w4_split, (f"w4-values-{tok}", i), f"w4-bounds-{tok}", PCOUNT)
            for i in range(PCOUNT)]
    shuffle, out = _shuffle_graph(tok, "w4", maps, (w4_reduce,), PCOUNT)
    graph.update(shuffle)
    result: list = []
    for box in client.get(graph, out):
        result.extend(box.data)
    return result


def w4_spark(sc, quick: bool = False) -> list:
    n = int(sw.W4_RECORDS * _scale(quick))
    return sc.range(0, n, numSlices=PCOUNT).map(_hash).sortBy(_identity, numPartitions=PCOUNT) \
        .collect()


def _hash(i: int) -> int:
    return i * sw._MULT % sw._MOD


def _identity(x: Any) -> Any:
    return x


# -- W7 join -------------------------------------------------------------------------------------


def w7_left_map(lo: int, hi: int, right: int, m: int) -> Box:
    buckets: list[list] = [[] for _ in range(m)]
    for i in range(lo, hi):
        k = i % right
        buckets[k % m].append((k, i))
    return Box(buckets)


def w7_right_map(lo: int, hi: int, m: int) -> Box:
    buckets: list[list] = [[] for _ in range(m)]
    for k in range(lo, hi):
        buckets[k % m].append((k, str(k)))
    return Box(buckets)


def w7_reduce(pcount_left: int, _j: int, boxes: list[Box]) -> int:
    left: dict[int, list] = defaultdict(list)
    for box in boxes[:pcount_left]:
        for k, v in box.data:
            left[k].append(v)
    right: dict[int, list] = defaultdict(list)
    for box in boxes[pcount_left:]:
        for k, v in box.data:
            right[k].append(v)
    # the join's output: every (left, right) pair of a key present in both; counted
    return sum(len([(x, y) for x in vs for y in right[k]]) for k, vs in left.items()
               if k in right)


def w7_graph(client, quick: bool = False) -> int:
    scale = _scale(quick)
    left, right = int(sw.W7_LEFT * scale), max(int(sw.W7_RIGHT * scale), 1)
    maps = [(w7_left_map, lo, hi, right, PCOUNT) for lo, hi in _bounds(left, PCOUNT)]
    maps += [(w7_right_map, lo, hi, PCOUNT) for lo, hi in _bounds(right, PCOUNT)]
    graph, out = _shuffle_graph(uuid.uuid4().hex[:10], "w7", maps, (w7_reduce, PCOUNT), PCOUNT,
                                final=sum)
    return client.get(graph, out)[0]


def w7_spark(sc, quick: bool = False) -> int:
    scale = _scale(quick)
    left, right = int(sw.W7_LEFT * scale), max(int(sw.W7_RIGHT * scale), 1)
    a = sc.range(0, left, numSlices=PCOUNT).map(_KeyValue(right))
    b = sc.range(0, right, numSlices=PCOUNT).map(_KeyStr())
    return a.join(b, numPartitions=PCOUNT).count()


class _KeyStr:
    def __call__(self, k: int) -> tuple:
        return (k, str(k))


PEERS: dict[str, dict[str, Callable[..., Any]]] = {
    "W2": dict(dask_graph=w2_graph, pyspark=w2_spark),
    "W3": dict(dask_graph=w3_graph, pyspark=w3_spark),
    "W4": dict(dask_graph=w4_graph, pyspark=w4_spark),
    "W7": dict(dask_graph=w7_graph, pyspark=w7_spark),
}
