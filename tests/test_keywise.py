"""Key-wise operations on shuffles: grouping, per-key aggregation, joins, distinct, counting."""

from __future__ import annotations

import heapq
import operator
import random
from collections import Counter

import pytest

from bndl_dask.datasets.hyperloglog import HyperLogLog


def iseven(i):
    return i % 2 == 0


def test_group_by(ctx):
    assert ctx.range(10).group_by(iseven).map_values(sorted).collect() == [
        (False, [1, 3, 5, 7, 9]), (True, [0, 2, 4, 6, 8])]
    grouped = ctx.range(100).key_by(iseven).group_by_key().map_values(sorted).collect_as_map()
    assert grouped == {False: list(range(1, 100, 2)), True: list(range(0, 100, 2))}
    by_third = ctx.range(10).map(lambda i: (i // 3, i)).group_by_key().map_values(sorted)
    # hash-placed (key % pcount), sorted by key within a partition
    assert by_third.collect() == [(0, [0, 1, 2]), (2, [6, 7, 8]), (1, [3, 4, 5]), (3, [9])]


def test_aggregate_by_key(ctx):
    pairs = ctx.range(10).map(lambda i: (i // 3, i))
    assert sorted(pairs.aggregate_by_key(sum).collect()) == [(0, 3), (1, 12), (2, 21), (3, 9)]
    assert pairs.aggregate_by_key(list, lambda ls: sorted(x for lst in ls for x in lst),
                                  pcount=1).collect() == [
        (0, [0, 1, 2]), (1, [3, 4, 5]), (2, [6, 7, 8]), (3, [9])]


def test_combine_by_key(ctx):
    values = ctx.collection(range(100), pcount=4).key_by(lambda i: i // 20)
    averages = values.combine_by_key(
        lambda v: (v, 1), lambda acc, v: (acc[0] + v, acc[1] + 1),
        lambda a, b: (a[0] + b[0], a[1] + b[1]),
    ).map_values(lambda sc: sc[0] / sc[1]).collect_as_map()
    assert averages == {k: sum(range(k * 20, k * 20 + 20)) / 20 for k in range(5)}


def test_reduce_by_key(ctx):
    rng = random.Random(7)
    words = ["".join(rng.choice("abcdefghij") for _ in range(2)) for _ in range(100)] * 5
    counts = ctx.collection(words, pcount=4).with_value(1).reduce_by_key(operator.add)
    expected = Counter(words)
    assert counts.count() == len(expected)
    assert dict(counts.collect()) == expected
    assert ctx.range(12).map(lambda i: (i % 3, 1)).reduce_by_key(operator.add).collect_as_map() \
        == {0: 4, 1: 4, 2: 4}
    # output sorted by key within each partition
    for part in counts.collect(parts=True):
        assert [k for k, _ in part] == sorted(k for k, _ in part)


def test_nlargest_nsmallest_by_key(ctx):
    dset = ctx.collection(range(100)).key_by(lambda i: i // 10)
    groups = {k: list(range(k * 10, k * 10 + 10)) for k in range(10)}
    for num in (3, 7):
        assert dset.nlargest_by_key(num).collect_as_map() == {
            k: heapq.nlargest(num, vs) for k, vs in groups.items()}
        assert dset.nsmallest_by_key(num).collect_as_map() == {
            k: heapq.nsmallest(num, vs) for k, vs in groups.items()}
    assert dset.nlargest_by_key(2, key=lambda v: -v).collect_as_map()[3] == [30, 31]


def test_join(ctx):
    a = ctx.collection(list(range(50)), pcount=3).key_by(iseven)
    b = ctx.collection(list(range(50, 100)), pcount=3).key_by(iseven)
    joined = a.join(b, pcount=4)
    assert joined.pcount == 4 and a.join(b).pcount == 6  # default: sum of the inputs'
    assert joined.map_values(sorted).collect() == [
        (False, sorted((x, y) for x in range(1, 50, 2) for y in range(51, 100, 2))),
        (True, sorted((x, y) for x in range(0, 50, 2) for y in range(50, 100, 2)))]

    small = ctx.range(0, 5).key_by(lambda i: i % 2).join(ctx.range(5, 10).key_by(lambda i: i % 2))
    assert small.map_values(sorted).collect_as_map() == {
        0: [(0, 6), (0, 8), (2, 6), (2, 8), (4, 6), (4, 8)],
        1: [(1, 5), (1, 7), (1, 9), (3, 5), (3, 7), (3, 9)]}

    with_key = ctx.range(10).join(ctx.range(10).map(lambda i: i // 3), key=lambda i: i)
    assert sorted(with_key.collect()) == [
        (0, [(0, 0)] * 3), (1, [(1, 1)] * 3), (2, [(2, 2)] * 3), (3, [(3, 3)])]


def test_join_chains_on_cached_data(ctx):
    a = ctx.range(100, pcount=3).key_by(lambda i: str(i // 2)).cache()
    c = ctx.range(100, pcount=3).key_by(lambda i: str(i // 2)).cache()
    try:
        left, right = c.join(a.join(a)), a.join(a).join(c, pcount=3)
        assert left.count() == right.count() == 50
        assert set(left.keys().collect()) == set(right.keys().collect())
        odd_even = ctx.collection([0, 1, 2, 3, 4]).cache().join(
            ctx.collection([5, 6, 7, 8, 9]).cache(), key=iseven)
        assert set(odd_even.keys().collect()) == {False, True}
        assert [sorted(v) for v in odd_even.values().collect()] == [
            sorted((x, y) for x in (1, 3) for y in (5, 7, 9)),
            sorted((x, y) for x in (0, 2, 4) for y in (6, 8))]
    finally:
        a.uncache()
        c.uncache()


def test_cogroup(ctx):
    inputs = [ctx.range(lo, lo + 10).key_by(lambda i: str(i % 4)) for lo in (0, 10, 20)]
    grouped = inputs[0].cogroup(*inputs[1:])
    assert grouped.pcount == sum(d.pcount for d in inputs)
    result = grouped.collect()
    assert len(result) == 4 and sorted(k for k, _ in result) == ["0", "1", "2", "3"]
    flat = sorted(v for _, lists in result for values in lists for v in values)
    assert flat == list(range(30))
    for k, lists in result:
        assert len(lists) == 3
        for idx, values in enumerate(lists):
            assert all(str(v % 4) == k and idx * 10 <= v < idx * 10 + 10 for v in values)
    a, b = ctx.range(10), ctx.range(10).map(lambda i: i // 3)
    by_key = dict(a.cogroup(b, key=lambda i: i).collect())
    assert by_key[0] == [[0], [0, 0, 0]] and by_key[3] == [[3], [3]] and by_key[8] == [[8], []]
    pairs = dict(ctx.collection([(1, "a")]).cogroup(ctx.collection([(2, "b")])).collect())
    assert pairs == {1: [["a"], []], 2: [[], ["b"]]}


def test_distinct(ctx):
    parity = ctx.range(1000, pcount=3).map(lambda x: x % 2).distinct()
    assert sorted(parity.collect()) == [0, 1]
    assert parity.collect_as_set() == {0, 1}
    one_each = ctx.range(1000).distinct(3, key=lambda x: x % 2).collect()
    assert len(one_each) == 2 and {x % 2 for x in one_each} == {0, 1}
    assert sorted(ctx.collection("abbcccdddd").distinct().collect()) == list("abcd")


def test_union_distinct(ctx):
    a, b = ctx.range(10), ctx.range(10, 20)
    assert sorted(a.union(b).distinct().collect()) == list(range(20))
    mixed = a.union(b).distinct().union(a).distinct().union(a).union(b)
    assert sorted(mixed.collect()) == sorted(list(range(20)) * 2)


def test_count_distinct(ctx):
    assert ctx.collection("abcdefgabcdefg").count_distinct() == 7
    assert abs(ctx.collection("abcdefgabcdefg").count_distinct_approx() - 7) < 0.5


@pytest.mark.parametrize("error_rate", [0.01, 0.05, 0.2])
def test_count_distinct_approx(ctx, error_rate):
    rng = random.Random(error_rate)
    floats = [rng.random() * 2**128 for _ in range(4000)]
    ints = [rng.randrange(2**128) for _ in range(4000)]
    strs = [str(i) for i in ints]
    values = floats + ints + strs + [s.encode() for s in strs]
    for _ in range(2):
        values += [rng.random() for _ in range(941)]
        rng.shuffle(values)
        exact = len(set(values))
        estimate = ctx.collection(values, pcount=4).count_distinct_approx(error_rate)
        assert abs(estimate - exact) <= 4 * error_rate * exact
        local = HyperLogLog(error_rate)
        local.update(values)
        assert round(estimate, 7) == round(local.cardinality(), 7)


def test_hyperloglog_error_is_within_its_standard_error():
    # documented: relative standard error ~ 1.04/sqrt(m); check 3 sigma over many sizes
    for error_rate in (0.02, 0.1):
        sketch = HyperLogLog(error_rate)
        assert sketch.standard_error <= error_rate
        seen = 0
        for n in (10, 100, 1000, 10_000, 50_000):
            sketch.update(range(seen, n))
            seen = n
            assert abs(sketch.cardinality() - n) <= 3 * sketch.standard_error * n + 1
    assert HyperLogLog().cardinality() == 0


def test_tree_aggregations(ctx):
    dset = ctx.range(1000, pcount=24)  # BNDL uses 100; 24 still takes 1-2 rounds per depth
    total = dset.sum()
    counts = Counter(dset.collect())
    assert dset.tree_aggregate(sum) == total
    assert dset.tree_aggregate(Counter, lambda cs: sum(cs, Counter())) == counts
    assert dset.tree_reduce(operator.add) == total
    assert dset.map_partitions(Counter).glom().tree_reduce(operator.add) == \
        dset.count_by_value()

    def count_into(counter, element):
        counter[element] += 1
        return counter

    assert dset.tree_combine(Counter(), count_into, operator.add) == counts
    for depth in (2, 3, 4):
        assert dset.tree_aggregate(sum, depth=depth) == total


def test_count_by_value(ctx):
    dset = ctx.range(0, 1000).map(lambda i: i % 10)
    assert dset.count_by_value() == Counter(dset.collect())
    assert dset.count_by_value(depth=2) == Counter(dset.collect())
    assert ctx.collection("abcabc").count_by_value() == Counter({"a": 2, "b": 2, "c": 2})


@pytest.mark.parametrize("serialization", ["pickle", "marshal", "json", "cloudpickle"])
def test_keywise_over_many_small_blocks(ctx, serialization):
    """Key-wise shuffles store pairs as columns, a segment per bucket for every few thousand
    records, several segments to a block: every serialization, many blocks per bucket, and
    values marshal cannot take (pickled)."""
    from fractions import Fraction

    # 8 buckets: ~1,000 pairs (~10 KB marshalled) per segment, 2-3 segments per block, 2-3
    # blocks per bucket and map partition
    opts = dict(serialization=serialization, block_size_mb=0.05, pcount=8)
    n, keys = 100_000, 700
    pairs = ctx.range(n, pcount=2).map(lambda i: (i % keys, i))
    grouped = pairs.group_by_key(**opts).map_values(sorted).collect_as_map()
    assert grouped == {k: list(range(k, n, keys)) for k in range(keys)}
    sums = pairs.reduce_by_key(operator.add, **opts).collect_as_map()
    assert sums == {k: sum(range(k, n, keys)) for k in range(keys)}
    if serialization in ("pickle", "cloudpickle"):
        thirds = pairs.map_values(lambda v: Fraction(v, 3))
        assert thirds.group_by_key(**opts).map_values(sum).collect_as_map() == {
            k: Fraction(sum(range(k, n, keys)), 3) for k in range(keys)}
    joined = pairs.join(ctx.range(keys).map(lambda k: (k, str(k))), **opts)
    assert joined.map(lambda kv: len(kv[1])).sum() == n


def _set_combine_share(share: float) -> None:
    from bndl_dask.worker import shuffle_writer

    shuffle_writer.COMBINE_MEMORY_SHARE = share


def _combine_capacity_of_ints(dask_worker) -> int:
    from bndl_dask.worker.shuffle_writer import combine_capacity

    return combine_capacity({i: i for i in range(1000)}, dask_worker)


def test_the_map_side_combine_holds_a_share_of_the_memory_limit(ctx):
    from bndl_dask.worker.shuffle_writer import COMBINE_MEMORY_SHARE, combine_capacity

    assert combine_capacity({1: 1}) == 0  # outside a worker: no limit known
    capacities = ctx.client.run(_combine_capacity_of_ints)
    for worker in ctx.workers:
        share = worker.memory_limit / worker.nthreads * COMBINE_MEMORY_SHARE
        # an int key and an int value: 28 bytes each, plus about 100 for the dict entry
        assert share / 200 < capacities[worker.address] < share / 100


def test_reduce_by_key_combines_map_side_within_bounded_buckets(make_ctx):
    # tiny blocks and a tiny share of memory: the combine writes its pairs out every 131,072
    # keys (two chunks' worth), fewer than each map partition's 200,000, so the map side holds
    # partial reductions of many keys in two blocks; the read side must merge them all
    ctx = make_ctx(worker_count=2)
    ctx.await_workers(2)
    ctx.client.run(_set_combine_share, 1e-9)
    pairs = ctx.range(600_000, pcount=2).map(lambda i: ((i * 7919) % 200_000, 1))
    sums = pairs.reduce_by_key(operator.add, pcount=3, block_size_mb=0.01)
    expected = {k: 3 for k in range(200_000)}
    assert dict(sums.collect()) == expected
    # and with a reduction that is not operator.add (the general loop)
    assert dict(pairs.reduce_by_key(lambda a, b: a + b, block_size_mb=0.01).collect()) == \
        expected
