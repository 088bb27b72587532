"""PySpark's RDD transformations through ``bndl_dask.spark.SparkContext``, each checked
against serial Python over the same data (small data, few jobs: these run on the session's
cluster)."""

from __future__ import annotations

import itertools
import operator
from collections import defaultdict

import pytest

from bndl_dask.spark import RDD, SparkContext

NUMS = [5, 3, 8, 1, 9, 2, 7, 4, 6, 0, 3, 8]
PAIRS = [(f"k{i % 4}", i) for i in range(13)]
OTHER = [("k1", "x"), ("k1", "y"), ("k2", "z"), ("k9", "w")]


@pytest.fixture(scope="module")
def sc(ctx):
    return SparkContext(ctx)


def grouped(pairs) -> dict:
    groups = defaultdict(list)
    for key, value in pairs:
        groups[key].append(value)
    return dict(groups)


def test_map(sc):
    assert sc.parallelize(NUMS, 3).map(lambda x: x * 2).collect() == [x * 2 for x in NUMS]


def test_flatMap(sc):
    assert sc.parallelize(NUMS, 3).flatMap(range).collect() == [
        i for x in NUMS for i in range(x)]


def test_filter(sc):
    assert sc.parallelize(NUMS, 3).filter(lambda x: x % 3).collect() == [
        x for x in NUMS if x % 3]


def test_mapPartitions_gets_iterators(sc):
    # next() works on what the function gets, as on PySpark's iterators
    firsts = sc.parallelize(NUMS, 3).mapPartitions(lambda it: [next(it)]).collect()
    assert firsts == [NUMS[0], NUMS[4], NUMS[8]]


def test_mapPartitionsWithIndex(sc):
    rdd = sc.parallelize(NUMS, 3)
    assert rdd.mapPartitionsWithIndex(lambda i, it: [(i, next(it))]).collect() == [
        (0, 5), (1, 9), (2, 6)]
    assert rdd.mapPartitionsWithSplit(lambda i, it: [i]).collect() == [0, 1, 2]


def test_glom_and_parallelize_slices_as_spark(sc):
    # Spark's slice i of n elements is [i * n // k, (i + 1) * n // k)
    assert sc.parallelize(range(5), 3).glom().collect() == [[0], [1, 2], [3, 4]]
    assert sc.parallelize([1, 2], 4).glom().collect() == [[], [1], [], [2]]
    assert sc.parallelize(iter("abc"), 2).glom().collect() == [["a"], ["b", "c"]]
    with pytest.raises(ValueError, match="numSlices"):
        sc.parallelize([1], 0)


def test_parallelize_range_is_not_listed(sc):
    huge = sc.parallelize(range(10 ** 15), 4)
    assert huge.getNumPartitions() == 4
    assert huge.take(2) == [0, 1]


def test_keyBy_keys_values(sc):
    rdd = sc.parallelize(["a", "bb", "ccc"], 2).keyBy(len)
    assert rdd.collect() == [(1, "a"), (2, "bb"), (3, "ccc")]
    assert rdd.keys().collect() == [1, 2, 3]
    assert rdd.values().collect() == ["a", "bb", "ccc"]


def test_pipe(sc):
    out = sc.parallelize([3, 1, 2], 1).pipe("sort").collect()
    assert out == ["1", "2", "3"]


def test_distinct(sc):
    assert sorted(sc.parallelize(NUMS, 3).distinct(2).collect()) == sorted(set(NUMS))


def test_union_and_add(sc):
    a, b = sc.parallelize(NUMS[:5], 2), sc.parallelize(NUMS[5:], 2)
    assert a.union(b).collect() == NUMS
    assert (a + b).getNumPartitions() == 4


def test_intersection(sc):
    a, b = sc.parallelize(NUMS, 3), sc.parallelize([3, 8, 8, 11], 2)
    assert sorted(a.intersection(b).collect()) == [3, 8]


def test_subtract(sc):
    a, b = sc.parallelize(NUMS, 3), sc.parallelize([3, 8], 2)
    assert sorted(a.subtract(b).collect()) == sorted(x for x in NUMS if x not in (3, 8))


def test_cartesian(sc):
    a, b = sc.parallelize([1, 2], 2), sc.parallelize("xy", 2)
    assert sorted(a.cartesian(b).collect()) == sorted(itertools.product([1, 2], "xy"))


def test_zip(sc):
    a, b = sc.parallelize(NUMS, 3), sc.parallelize(range(12), 3)
    assert a.zip(b).collect() == list(zip(NUMS, range(12)))
    with pytest.raises(ValueError, match="same number of partitions"):
        a.zip(sc.parallelize(NUMS, 2))


def test_zipWithIndex(sc):
    assert sc.parallelize("abcde", 3).zipWithIndex().collect() == [
        (c, i) for i, c in enumerate("abcde")]


def test_zipWithUniqueId(sc):
    ids = sc.parallelize("abcde", 2).zipWithUniqueId().collect()
    assert ids == [("a", 0), ("b", 2), ("c", 1), ("d", 3), ("e", 5)]


def test_sample_and_randomSplit(sc):
    rdd = sc.range(400, numSlices=4)
    sample = rdd.sample(False, 0.25, seed=3).collect()
    assert set(sample) <= set(range(400)) and len(set(sample)) == len(sample)
    assert sample == rdd.sample(False, 0.25, seed=3).collect()
    parts = rdd.randomSplit([1, 1, 2], seed=5)
    contents = [part.collect() for part in parts]
    assert sorted(itertools.chain(*contents)) == list(range(400))


def test_repartition_and_coalesce(sc):
    rdd = sc.parallelize(NUMS, 3)
    spread = rdd.repartition(5).glom().collect()
    assert len(spread) == 5 and sorted(itertools.chain(*spread)) == sorted(NUMS)
    assert max(map(len, spread)) - min(map(len, spread)) <= 3
    assert rdd.coalesce(2).glom().collect() == [NUMS[:4], NUMS[4:]]
    assert sorted(rdd.coalesce(2, shuffle=True).collect()) == sorted(NUMS)


def test_partitionBy(sc):
    parts = sc.parallelize(PAIRS, 3).partitionBy(2, lambda k: int(k[1:])).glom().collect()
    assert [sorted(p) for p in parts] == [sorted(kv for kv in PAIRS if int(kv[0][1:]) % 2 == i)
                                         for i in range(2)]


def test_repartitionAndSortWithinPartitions(sc):
    pairs = [(x, str(x)) for x in NUMS]
    parts = sc.parallelize(pairs, 3).repartitionAndSortWithinPartitions(
        2, lambda k: k % 2, ascending=False).glom().collect()
    assert parts == [sorted((kv for kv in pairs if kv[0] % 2 == i), reverse=True)
                     for i in range(2)]


def test_sortBy_and_sortByKey(sc):
    rdd = sc.parallelize(NUMS, 3)
    assert rdd.sortBy(lambda x: -x, ascending=False, numPartitions=2).collect() == sorted(NUMS)
    pairs = sc.parallelize([("b", 1), ("A", 2), ("c", 3)], 2)
    assert pairs.sortByKey().keys().collect() == ["A", "b", "c"]
    assert pairs.sortByKey(True, 1, keyfunc=str.lower).keys().collect() == ["A", "b", "c"]
    assert pairs.sortByKey(ascending=False).keys().collect() == ["c", "b", "A"]


def test_mapValues_and_flatMapValues_keep_keys(sc):
    rdd = sc.parallelize([("a", "xy"), ("b", "z")], 2)
    assert rdd.mapValues(len).collect() == [("a", 2), ("b", 1)]
    assert rdd.flatMapValues(list).collect() == [("a", "x"), ("a", "y"), ("b", "z")]


def test_reduceByKey(sc):
    expected = {k: sum(vs) for k, vs in grouped(PAIRS).items()}
    rdd = sc.parallelize(PAIRS, 3)
    assert dict(rdd.reduceByKey(operator.add).collect()) == expected
    placed = rdd.reduceByKey(operator.add, 2, lambda k: 0).glom().collect()
    assert dict(placed[0]) == expected and placed[1] == []


def test_foldByKey(sc):
    expected = {k: max(vs) for k, vs in grouped(PAIRS).items()}
    assert dict(sc.parallelize(PAIRS, 3).foldByKey(-1, max).collect()) == expected


def test_combineByKey_merges_in_partition_order(sc):
    lists = sc.parallelize(PAIRS, 4).combineByKey(
        lambda v: [v], lambda c, v: c + [v], lambda a, b: a + b, numPartitions=2)
    assert dict(lists.collect()) == grouped(PAIRS)


def test_aggregateByKey_copies_the_zero(sc):
    # seqFunc appends in place: a zero shared between keys would mix their values
    result = sc.parallelize(PAIRS, 3).aggregateByKey(
        [], lambda acc, v: acc.append(v) or acc, operator.add)
    assert dict(result.collect()) == grouped(PAIRS)


def test_groupByKey_and_groupBy(sc):
    rdd = sc.parallelize(PAIRS, 3)
    assert {k: sorted(vs) for k, vs in rdd.groupByKey(2).collect()} == grouped(PAIRS)
    by_parity = sc.parallelize(NUMS, 3).groupBy(lambda x: x % 2).collect()
    assert {k: sorted(vs) for k, vs in by_parity} == {
        k: sorted(vs) for k, vs in grouped((x % 2, x) for x in NUMS).items()}


def joined(left, right, keep_left=False, keep_right=False):
    lg, rg = grouped(left), grouped(right)
    rows = []
    for key in set(lg) | set(rg):
        lvs = lg.get(key, [None] if keep_right else [])
        rvs = rg.get(key, [None] if keep_left else [])
        rows += [(key, (v, w)) for v in lvs for w in rvs]
    return sorted(rows, key=repr)


def test_join_one_row_per_pair(sc):
    left, right = sc.parallelize(PAIRS, 3), sc.parallelize(OTHER, 2)
    assert sorted(left.join(right).collect(), key=repr) == joined(PAIRS, OTHER)
    assert left.join(right, numPartitions=5).getNumPartitions() == 5


def test_outer_joins(sc):
    left, right = sc.parallelize(PAIRS, 3), sc.parallelize(OTHER, 2)
    assert sorted(left.leftOuterJoin(right).collect(), key=repr) == joined(
        PAIRS, OTHER, keep_left=True)
    assert sorted(left.rightOuterJoin(right).collect(), key=repr) == joined(
        PAIRS, OTHER, keep_right=True)
    full = [row for row in joined(PAIRS, OTHER, True, True)
            if row[1] != (None, None)]
    assert sorted(left.fullOuterJoin(right).collect(), key=repr) == full


def test_cogroup_and_groupWith(sc):
    left, right = sc.parallelize(PAIRS, 3), sc.parallelize(OTHER, 2)
    lg, rg = grouped(PAIRS), grouped(OTHER)
    rows = {k: (sorted(a), sorted(b)) for k, (a, b) in left.cogroup(right).collect()}
    assert rows == {k: (sorted(lg.get(k, [])), sorted(rg.get(k, []))) for k in set(lg) | set(rg)}
    three = dict(left.groupWith(right, sc.parallelize([("k1", 0)])).collect())
    assert [sorted(vs) for vs in three["k1"]] == [lg["k1"], rg["k1"], [0]]


def test_subtractByKey(sc):
    result = sc.parallelize(PAIRS, 3).subtractByKey(sc.parallelize(OTHER, 2)).collect()
    assert sorted(result) == sorted(kv for kv in PAIRS if kv[0] not in dict(OTHER))


def test_sampleByKey(sc):
    pairs = sc.range(600, numSlices=3).map(lambda i: (i % 3, i))
    sample = pairs.sampleByKey(False, {0: 1.0, 1: 0.5, 2: 0.0}, seed=2).collect()
    counts = grouped(sample)
    assert sorted(counts[0]) == list(range(0, 600, 3)) and 2 not in counts
    assert 0 < len(counts[1]) < 200


def test_rdds_are_lazy_and_wrap_datasets(sc):
    rdd = sc.parallelize(NUMS, 3).map(lambda x: 1 // 0)  # nothing runs until an action
    assert isinstance(rdd, RDD) and rdd.context is sc and rdd.getNumPartitions() == 3
    with pytest.raises(ZeroDivisionError):
        rdd.count()
