"""PySpark's RDD actions through ``bndl_dask.spark.SparkContext``, each checked against serial
Python over the same data."""

from __future__ import annotations

import gzip
import math
import os
import statistics
from collections import Counter
from functools import reduce

import pytest

from bndl_dask.spark import BoundedFloat, SparkContext, StorageLevel

NUMS = [5, 3, 8, 1, 9, 2, 7, 4, 6, 0, 3, 8]
PAIRS = [(f"k{i % 4}", i) for i in range(13)]


@pytest.fixture(scope="module")
def sc(ctx):
    return SparkContext(ctx)


@pytest.fixture(scope="module")
def nums(sc):
    return sc.parallelize(NUMS, 3)


def test_collect_take_first_toLocalIterator(sc, nums):
    assert nums.collect() == NUMS
    assert nums.take(5) == NUMS[:5]
    assert nums.first() == NUMS[0]
    assert list(nums.toLocalIterator()) == NUMS
    assert nums.collectWithJobGroup("group", "description") == NUMS
    with pytest.raises(ValueError):
        sc.emptyRDD().first()


def test_collectAsMap_last_value_wins(sc):
    assert sc.parallelize(PAIRS, 3).collectAsMap() == dict(PAIRS)


def test_top_and_takeOrdered(nums):
    assert nums.top(3) == sorted(NUMS, reverse=True)[:3]
    assert nums.top(1) == [max(NUMS)] and nums.takeOrdered(1) == [min(NUMS)]
    assert nums.top(2, key=lambda x: -x) == sorted(NUMS)[:2]
    assert nums.takeOrdered(4) == sorted(NUMS)[:4]
    assert nums.takeOrdered(2, key=lambda x: -x) == sorted(NUMS, reverse=True)[:2]
    assert nums.filter(lambda x: x > 100).top(1) == []


def test_takeSample(nums):
    sample = nums.takeSample(False, 5, seed=1)
    assert len(sample) == 5 and not Counter(sample) - Counter(NUMS)
    assert sorted(nums.takeSample(False, 100, seed=1)) == sorted(NUMS)  # all, as Spark
    assert len(nums.takeSample(True, 30, seed=1)) == 30
    with pytest.raises(ValueError):
        nums.takeSample(False, -1)


def test_reduce_fold_aggregate(sc, nums):
    assert nums.reduce(max) == max(NUMS)
    assert nums.treeReduce(lambda a, b: a + b, depth=3) == sum(NUMS)
    assert nums.fold(0, lambda a, b: a + b) == sum(NUMS)
    assert sc.emptyRDD().fold(7, max) == 7
    seq, comb = (lambda acc, x: (acc[0] + x, acc[1] + 1)), (lambda a, b: (a[0] + b[0],
                                                                          a[1] + b[1]))
    assert nums.aggregate((0, 0), seq, comb) == (sum(NUMS), len(NUMS))
    assert sc.emptyRDD().aggregate((0, 0), seq, comb) == (0, 0)
    assert nums.treeAggregate((0, 0), seq, comb) == (sum(NUMS), len(NUMS))
    assert sc.parallelize([], 2).treeAggregate((0, 0), seq, comb) == (0, 0)
    with pytest.raises(ValueError):
        sc.emptyRDD().reduce(max)


def test_reduceByKeyLocally(sc):
    expected: dict = {}
    for key, value in PAIRS:
        expected[key] = expected.get(key, 0) + value
    assert sc.parallelize(PAIRS, 3).reduceByKeyLocally(lambda a, b: a + b) == expected


def test_counts(sc, nums):
    assert nums.count() == len(NUMS)
    by_value = nums.countByValue()
    assert by_value == Counter(NUMS) and by_value["missing"] == 0
    by_key = sc.parallelize(PAIRS, 3).countByKey()
    assert by_key == Counter(k for k, _ in PAIRS) and by_key["missing"] == 0
    assert nums.isEmpty() is False and sc.emptyRDD().isEmpty() is True
    assert sc.parallelize([], 3).isEmpty()


def test_lookup(sc):
    pairs = sc.parallelize(PAIRS, 3)
    assert pairs.lookup("k1") == [v for k, v in PAIRS if k == "k1"]
    assert sorted(pairs.groupByKey().lookup("k2")[0]) == [v for k, v in PAIRS if k == "k2"]
    assert pairs.lookup("nope") == []


def test_approximate_actions(nums):
    # an hour is plenty: the results are exact, as Spark's when every partition is in time
    assert nums.countApprox(3_600_000) == len(NUMS)
    total = nums.sumApprox(3_600_000)
    assert isinstance(total, BoundedFloat)
    assert (total, total.low, total.high) == (sum(NUMS),) * 3
    assert math.isclose(nums.meanApprox(3_600_000, 0.9), statistics.mean(NUMS))
    assert abs(nums.countApproxDistinct(0.05) - len(set(NUMS))) <= 1


def test_statistics(nums):
    assert nums.sum() == sum(NUMS)
    assert (nums.min(), nums.max()) == (min(NUMS), max(NUMS))
    assert nums.max(key=lambda x: -x) == min(NUMS)
    assert math.isclose(nums.mean(), statistics.mean(NUMS))
    assert math.isclose(nums.variance(), statistics.pvariance(NUMS))
    assert math.isclose(nums.stdev(), statistics.pstdev(NUMS))
    assert math.isclose(nums.sampleVariance(), statistics.variance(NUMS))
    assert math.isclose(nums.sampleStdev(), statistics.stdev(NUMS))
    stats = nums.stats()
    assert stats.count() == len(NUMS) and math.isclose(stats.sum(), sum(NUMS))
    assert (stats.min(), stats.max()) == (min(NUMS), max(NUMS))
    assert math.isclose(stats.sampleStdev(), statistics.stdev(NUMS))
    assert stats.asDict()["count"] == len(NUMS)


def serial_histogram(values, edges):
    counts = [0] * (len(edges) - 1)
    for value in values:
        if value is None or value != value or not edges[0] <= value <= edges[-1]:
            continue
        index = next(i for i in range(len(edges) - 1)
                     if edges[i] <= value < edges[i + 1] or i == len(edges) - 2)
        counts[index] += 1
    return counts


def test_histogram(sc, nums):
    assert nums.histogram(3) == ([0, 3, 6, 9], serial_histogram(NUMS, [0, 3, 6, 9]))
    assert nums.histogram(4) == ([0, 2.25, 4.5, 6.75, 9],
                                 serial_histogram(NUMS, [0, 2.25, 4.5, 6.75, 9]))
    uneven = [0, 1, 5, 10]
    assert nums.histogram(uneven) == (uneven, serial_histogram(NUMS, uneven))
    assert nums.histogram((2, 4)) == ([2, 4], serial_histogram(NUMS, [2, 4]))
    mixed = sc.parallelize([1.0, None, float("nan"), 2.0, 2.0], 2)
    assert mixed.histogram(1) == ([1.0, 2.0], [3])
    assert sc.parallelize([4, 4], 2).histogram(3) == ([4, 4], [2])
    assert sc.parallelize(["a", "c", "e"], 2).histogram(["a", "b", "z"]) == (["a", "b", "z"],
                                                                             [1, 2])
    with pytest.raises(ValueError, match="sorted"):
        nums.histogram([3, 1])
    with pytest.raises(ValueError, match="empty"):
        sc.emptyRDD().histogram(2)


def test_foreach_and_foreachPartition(sc, nums):
    total, parts = sc.accumulator(0), sc.accumulator(0)
    nums.foreach(lambda x: total.add(x))
    nums.foreachPartition(lambda it: parts.add(len(list(it))))
    assert (total.value, parts.value) == (sum(NUMS), len(NUMS))


def test_saveAsTextFile_and_textFile(sc, tmp_path):
    lines = sc.parallelize(["a", b"b", 3, ("t", 1)], 2)
    lines.saveAsTextFile(str(tmp_path / "plain"))
    assert sc.textFile(str(tmp_path / "plain")).collect() == ["a", "b", "3", "('t', 1)"]
    lines.saveAsTextFile(str(tmp_path / "gz"), "org.apache.hadoop.io.compress.GzipCodec")
    names = sorted(os.listdir(tmp_path / "gz"))
    text = b"".join(gzip.decompress((tmp_path / "gz" / name).read_bytes()) for name in names)
    assert text == b"a\nb\n3\n('t', 1)\n"


def test_saveAsPickleFile_and_pickleFile(sc, tmp_path):
    objects = [{"a": 1}, (2, 3), None, "x"]
    sc.parallelize(objects, 3).saveAsPickleFile(str(tmp_path / "objs"))
    assert sc.pickleFile(str(tmp_path / "objs")).collect() == objects


def test_persist_cache_unpersist(sc):
    rdd = sc.parallelize(NUMS, 3).map(lambda x: x + 1)
    for level in (StorageLevel.MEMORY_ONLY, StorageLevel.MEMORY_AND_DISK,
                  StorageLevel.DISK_ONLY):
        assert rdd.persist(level) is rdd and rdd.getStorageLevel() == level
        assert rdd.is_cached and rdd.sum() == sum(NUMS) + len(NUMS)
        rdd.unpersist(blocking=True)
        assert not rdd.is_cached and rdd.getStorageLevel() == StorageLevel.NONE
    assert rdd.cache().getStorageLevel() == StorageLevel.MEMORY_ONLY
    rdd.persist(StorageLevel.NONE)
    assert not rdd.is_cached
    with pytest.raises(TypeError, match="StorageLevel"):
        rdd.persist("MEMORY_ONLY")


def test_names_ids_and_debug_string(sc, nums):
    named = nums.map(str).setName("strings")
    assert named.name() == "strings" and nums.name() is None
    assert named.id() != nums.id()
    debug = named.toDebugString()
    assert isinstance(debug, bytes) and b"'strings'" in debug.splitlines()[0]
    assert debug.count(b"(3)") == len(debug.splitlines())


def test_reduce_merges_partition_results_on_the_workers_side(sc, nums):
    # the function runs per partition on the workers: a driver-side-only object would fail
    assert nums.reduce(lambda a, b: a + b) == reduce(lambda a, b: a + b, NUMS)
