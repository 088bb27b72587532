"""PySpark's actions on an RDD, as ``Dataset`` actions: they run a job and return to the driver.

Reductions, statistics and counts are computed per partition on the workers; the driver only
merges one small result per partition, as Spark's driver does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import bndl_dask.spark.functions as fn
from bndl_dask.spark.statcounter import (
    BoundedFloat,
    BucketCounter,
    StatCounter,
    add_counts,
    check_buckets,
    comparable,
    even_buckets,
    lower_and_upper,
)


class ActionsMixin:
    """``collect`` ... ``saveAsPickleFile`` of PySpark's RDD."""

    dataset: Any

    # -- to the driver -----------------------------------------------------------------------

    def collect(self) -> list:
        """All elements, in partition order.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([1, 2, 3]).collect()
        [1, 2, 3]
        """
        return self.dataset.collect()

    def collectWithJobGroup(self, groupId: str, description: str,
                            interruptOnCancel: bool = False) -> list:
        """``collect`` (job groups have no counterpart; deprecated in PySpark too)."""
        return self.collect()

    def collectAsMap(self) -> dict:
        """The ``(k, v)`` pairs as a dict (a key's last value in collect order wins).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([('a', 1), ('b', 2)]).collectAsMap()
        {'a': 1, 'b': 2}
        """
        return dict(self.dataset.collect())

    def toLocalIterator(self, prefetchPartitions: bool = False) -> Iterator:
        """An iterator over all elements that holds about one partition at a time.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> list(sc.range(4, numSlices=2).toLocalIterator())
        [0, 1, 2, 3]
        """
        return self.dataset.icollect()

    def take(self, num: int) -> list:
        """The first ``num`` elements (computing as few partitions as it can).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(100).take(3)
        [0, 1, 2]
        """
        return self.dataset.take(num)

    def first(self) -> Any:
        """The first element; ValueError on an empty RDD.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([5, 6]).first()
        5
        """
        return self.dataset.first()

    def top(self, num: int, key: Callable | None = None) -> list:
        """The ``num`` largest elements (by ``key``), largest first.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([3, 1, 4, 1, 5]).top(2)
        [5, 4]
        """
        # BNDL's nlargest(1) is the element itself (and fails when empty): ask for two
        return list(self.dataset.nlargest(max(num, 2), key))[:num]

    def takeOrdered(self, num: int, key: Callable | None = None) -> list:
        """The ``num`` smallest elements (by ``key``), smallest first.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([3, 1, 4, 1, 5]).takeOrdered(3, key=lambda x: -x)
        [5, 4, 3]
        """
        return list(self.dataset.nsmallest(max(num, 2), key))[:num]

    def takeSample(self, withReplacement: bool, num: int, seed: int | None = None) -> list:
        """``num`` random elements; without replacement at most all of them (in random order).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sorted(sc.range(5).takeSample(False, 10, seed=1))
        [0, 1, 2, 3, 4]
        """
        if num < 0:
            raise ValueError(f"takeSample needs a sample size of at least 0, got {num}")
        count = self.dataset.count()
        if not withReplacement:
            num = min(num, count)
        return self.dataset.take_sample(num, withReplacement, seed, count=count)

    # -- reductions --------------------------------------------------------------------------

    def reduce(self, f: Callable) -> Any:
        """The elements reduced with ``f`` (per partition, then on the driver).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(5).reduce(lambda a, b: a + b)
        10
        """
        return self.dataset.reduce(f)

    def treeReduce(self, f: Callable, depth: int = 2) -> Any:
        """``reduce`` with partial results merged in a tree of ``depth`` levels on the workers.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(10, numSlices=4).treeReduce(lambda a, b: a + b)
        45
        """
        return self.dataset.tree_reduce(f, depth=depth)

    def fold(self, zeroValue: Any, op: Callable) -> Any:
        """Each partition folded from ``zeroValue`` with ``op``, then the results.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(5).fold(0, lambda a, b: a + b), sc.emptyRDD().fold(0, max)
        (10, 0)
        """
        return self.dataset.fold(zeroValue, op)

    def aggregate(self, zeroValue: Any, seqOp: Callable, combOp: Callable) -> Any:
        """Each partition folded into a copy of ``zeroValue`` with ``seqOp``, the results
        merged with ``combOp``.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(5).aggregate((0, 0), lambda acc, x: (acc[0] + x, acc[1] + 1),
        ...                       lambda a, b: (a[0] + b[0], a[1] + b[1]))
        (10, 5)
        """
        # as PySpark: each partition folded into one value on its worker, those folded here
        partials = self.dataset.map_partitions(fn.FoldPartition(zeroValue, seqOp))
        return partials.fold(zeroValue, combOp)

    def treeAggregate(self, zeroValue: Any, seqOp: Callable, combOp: Callable,
                      depth: int = 2) -> Any:
        """``aggregate`` with partial results merged in a tree on the workers.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(10, numSlices=4).treeAggregate(0, lambda a, x: a + x, lambda a, b: a + b)
        45
        """
        return self.dataset.tree_combine(zeroValue, seqOp, combOp, depth=depth)

    def reduceByKeyLocally(self, func: Callable) -> dict:
        """A dict of key -> its values reduced with ``func`` (merged on the driver).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([('a', 1), ('a', 2)]).reduceByKeyLocally(lambda a, b: a + b)
        {'a': 3}
        """
        return self.dataset.reduce_by_key_locally(func)

    # -- counting ----------------------------------------------------------------------------

    def count(self) -> int:
        """The number of elements.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(7).count()
        7
        """
        return self.dataset.count()

    def countByKey(self) -> dict:
        """A defaultdict of key -> number of pairs.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sorted(sc.parallelize([('a', 1), ('b', 1), ('a', 2)]).countByKey().items())
        [('a', 2), ('b', 1)]
        """
        return defaultdict(int, self.dataset.count_by_key())

    def countByValue(self) -> dict:
        """A defaultdict of element -> number of times it occurs.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sorted(sc.parallelize([1, 2, 1]).countByValue().items())
        [(1, 2), (2, 1)]
        """
        return defaultdict(int, self.dataset.count_by_value())

    def isEmpty(self) -> bool:
        """Whether the RDD has no elements (computing as few partitions as it can).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.emptyRDD().isEmpty(), sc.range(3).isEmpty()
        (True, False)
        """
        return self.dataset.is_empty()

    def lookup(self, key: Any) -> list:
        """The values of key ``key``; after a key-wise shuffle only its partition is computed.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([('a', 1), ('b', 2), ('a', 3)]).lookup('a')
        [1, 3]
        """
        return self.dataset.lookup(key)

    def countApprox(self, timeout: int, confidence: float = 0.95) -> int:
        """The count, estimated from the partitions done within ``timeout`` milliseconds
        (exact when all are).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(1000).countApprox(60_000)
        1000
        """
        return int(self.dataset.count_approx(timeout / 1000, confidence)[0])

    def sumApprox(self, timeout: int, confidence: float = 0.95) -> BoundedFloat:
        """The sum as a ``BoundedFloat`` from the partitions done within ``timeout`` ms.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> total = sc.range(100).sumApprox(60_000)
        >>> total, total.low, total.high
        (4950.0, 4950.0, 4950.0)
        """
        return _bounded(self.dataset.sum_approx(timeout / 1000, confidence))

    def meanApprox(self, timeout: int, confidence: float = 0.95) -> BoundedFloat:
        """The mean as a ``BoundedFloat`` from the partitions done within ``timeout`` ms.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(101).meanApprox(60_000)
        50.0
        """
        return _bounded(self.dataset.mean_approx(timeout / 1000, confidence))

    def countApproxDistinct(self, relativeSD: float = 0.05) -> int:
        """The number of distinct elements, estimated with HyperLogLog.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> 900 < sc.range(1000).countApproxDistinct() < 1100
        True
        """
        if relativeSD < 0.000017:
            raise ValueError(f"relativeSD must be at least 0.000017, got {relativeSD}")
        return int(round(self.dataset.count_distinct_approx(relativeSD)))

    # -- statistics --------------------------------------------------------------------------

    def sum(self) -> Any:
        """The sum of the elements (0 when empty).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(5).sum()
        10
        """
        return self.dataset.sum()

    def max(self, key: Callable | None = None) -> Any:
        """The largest element (by ``key``).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize(['bb', 'a']).max(key=len)
        'bb'
        """
        return self.dataset.max(key)

    def min(self, key: Callable | None = None) -> Any:
        """The smallest element (by ``key``).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([3, 1, 2]).min()
        1
        """
        return self.dataset.min(key)

    def mean(self) -> float:
        """The mean of the elements.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(5).mean()
        2.0
        """
        return self.dataset.mean()

    def variance(self) -> float:
        """The population variance of the elements.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([1, 2, 3, 4]).variance()
        1.25
        """
        return self.dataset.variance()

    def stdev(self) -> float:
        """The population standard deviation of the elements.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([1, 3]).stdev()
        1.0
        """
        return self.dataset.stdev()

    def sampleVariance(self) -> float:
        """The sample variance (divided by n - 1).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([1, 2, 3, 4]).sampleVariance()
        1.6666666666666667
        """
        return self.dataset.sample_variance()

    def sampleStdev(self) -> float:
        """The sample standard deviation (divided by n - 1).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([1, 3]).sampleStdev()
        1.4142135623730951
        """
        return self.dataset.sample_stdev()

    def stats(self) -> StatCounter:
        """Count, mean, stdev, min and max in one pass, as a ``StatCounter``.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([1, 2, 3]).stats()
        (count: 3, mean: 2.0, stdev: 0.816496580927726, max: 3.0, min: 1.0)
        """
        return StatCounter(self.dataset.stats())

    def histogram(self, buckets: int | Sequence) -> tuple[list, list[int]]:
        """``(bucket edges, counts)``: ``buckets`` is a number of even buckets between the
        minimum and maximum, or sorted edges; each bucket holds ``[low, high)`` but the last
        also its upper edge; None, NaN and elements out of range are not counted.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(51).histogram(2)
        ([0, 25, 50], [25, 26])
        >>> sc.parallelize([1, 5, 10, 11]).histogram([0, 5, 10])
        ([0, 5, 10], [1, 2])
        """
        if isinstance(buckets, bool) or not isinstance(buckets, (int, list, tuple)):
            raise TypeError(f"histogram takes a number of buckets or a sorted list of edges, "
                            f"not {type(buckets).__name__}")
        if isinstance(buckets, int):
            buckets = self._even_buckets(buckets)
            if len(buckets) == 2 and buckets[0] == buckets[1]:  # all elements alike
                return buckets, [self.dataset.filter(comparable).count()]
        else:
            buckets = check_buckets(buckets)
        counts = self.dataset.map_partitions(BucketCounter(buckets)).reduce(add_counts)
        return buckets, counts

    def _even_buckets(self, count: int) -> list:
        if count < 1:
            raise ValueError(f"histogram needs at least 1 bucket, got {count}")
        bounds = self.dataset.filter(comparable).map(_twice)
        if bounds.is_empty():
            raise ValueError("histogram can't make buckets for an empty RDD")
        low, high = bounds.reduce(lower_and_upper)
        if low == high or count == 1:
            return [low, high]
        try:
            return even_buckets(low, high, count)
        except TypeError:
            raise TypeError("histogram can't make even buckets of elements that are not "
                            "numbers; give the bucket edges") from None

    # -- side effects and output -------------------------------------------------------------

    def foreach(self, f: Callable) -> None:
        """Runs ``f(x)`` for every element on the workers.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> seen = sc.accumulator(0)
        >>> sc.range(5).foreach(lambda x: seen.add(x))
        >>> seen.value
        10
        """
        self.dataset.foreach(f)

    def foreachPartition(self, f: Callable) -> None:
        """Runs ``f(iterator)`` for every partition on the workers.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> parts = sc.accumulator(0)
        >>> sc.range(6, numSlices=3).foreachPartition(lambda it: parts.add(1))
        >>> parts.value
        3
        """
        self.dataset.foreach_partition(fn.OnIterator(f))

    def saveAsTextFile(self, path: str, compressionCodecClass: str | None = None) -> None:
        """One text file per partition in directory ``path``: a line per element.

        >>> import os, tempfile
        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> with tempfile.TemporaryDirectory() as out:
        ...     sc.range(4, numSlices=2).saveAsTextFile(out + '/nums')
        ...     sc.textFile(out + '/nums').collect()
        ['0', '1', '2', '3']
        """
        compression = _compression(compressionCodecClass)
        lines = self.dataset.map(fn.text_line)
        lines.save_as_files(path, ".gz" if compression else "", "b", compression)

    def saveAsPickleFile(self, path: str, batchSize: int = 10) -> None:
        """One file of pickled elements per partition in directory ``path`` (read it back
        with ``sc.pickleFile``).

        >>> import tempfile
        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> with tempfile.TemporaryDirectory() as out:
        ...     sc.parallelize([{'a': 1}, (2, 3)]).saveAsPickleFile(out + '/objs')
        ...     sc.pickleFile(out + '/objs').collect()
        [{'a': 1}, (2, 3)]
        """
        self.dataset.save_as_pickles(path)


def _twice(value: Any) -> tuple:
    return value, value


def _bounded(result: Any) -> BoundedFloat:
    value, low, high = result
    return BoundedFloat(value, result.confidence, low, high)


_CODECS = {"org.apache.hadoop.io.compress.GzipCodec": "gzip", "gzip": "gzip"}


def _compression(codec: str | None) -> str | None:
    if codec is None:
        return None
    if codec not in _CODECS:
        raise ValueError(f"saveAsTextFile supports only gzip compression "
                         f"('org.apache.hadoop.io.compress.GzipCodec'), not {codec!r}")
    return _CODECS[codec]
