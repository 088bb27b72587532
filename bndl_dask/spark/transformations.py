"""PySpark's element-wise, set and partitioning transformations, as ``Dataset`` operations.

Each method returns a new lazy RDD over the Dataset operation that computes it on the workers.
The examples use ``sc = SparkContext(ctx)`` on the session's context.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bndl_dask.spark.functions as fn


class TransformationsMixin:
    """``map`` ... ``zipWithUniqueId`` of PySpark's RDD."""

    dataset: Any

    def _wrap(self, dataset: Any) -> Any:
        raise NotImplementedError

    # -- element-wise ------------------------------------------------------------------------

    def map(self, f: Callable, preservesPartitioning: bool = False):
        """``f(x)`` for every element.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([1, 2, 3]).map(lambda x: x * 2).collect()
        [2, 4, 6]
        """
        return self._wrap(self.dataset.map(f))

    def flatMap(self, f: Callable, preservesPartitioning: bool = False):
        """The items of ``f(x)`` for every element.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize(['a b', 'c']).flatMap(str.split).collect()
        ['a', 'b', 'c']
        """
        return self._wrap(self.dataset.flatmap(f))

    def filter(self, f: Callable):
        """The elements for which ``f(x)`` is true.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(6).filter(lambda x: x % 2).collect()
        [1, 3, 5]
        """
        return self._wrap(self.dataset.filter(f))

    def mapPartitions(self, f: Callable, preservesPartitioning: bool = False):
        """``f(iterator)`` for every partition.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([1, 2, 3, 4], 2).mapPartitions(lambda it: [sum(it)]).collect()
        [3, 7]
        """
        return self._wrap(self.dataset.map_partitions(fn.OnIterator(f)))

    def mapPartitionsWithIndex(self, f: Callable, preservesPartitioning: bool = False):
        """``f(index, iterator)`` for every partition.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([1, 2, 3, 4], 2).mapPartitionsWithIndex(
        ...     lambda i, it: [(i, list(it))]).collect()
        [(0, [1, 2]), (1, [3, 4])]
        """
        return self._wrap(self.dataset.map_partitions_with_index(fn.OnIndexAndIterator(f)))

    mapPartitionsWithSplit = mapPartitionsWithIndex

    def glom(self):
        """Each partition as one list.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([1, 2, 3], 2).glom().collect()
        [[1], [2, 3]]
        """
        return self._wrap(self.dataset.map_partitions(fn.as_list))

    def keyBy(self, f: Callable):
        """``(f(x), x)`` pairs.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize(['a', 'bb']).keyBy(len).collect()
        [(1, 'a'), (2, 'bb')]
        """
        return self._wrap(self.dataset.key_by(f))

    def pipe(self, command: str, env: dict | None = None, checkCode: bool = False):
        """Each partition through an external command: elements go in as lines (``str(x)``),
        output lines come back as str without their line ends.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize(['b', 'a'], 1).pipe('sort').collect()
        ['a', 'b']
        """
        opts = {} if env is None else {"env": env}
        piped = self.dataset.map_partitions(fn.lines_for_pipe).pipe(command, **opts)
        return self._wrap(piped.map(fn.decoded_line))

    # -- sets and combinations ---------------------------------------------------------------

    def distinct(self, numPartitions: int | None = None):
        """The distinct elements (one shuffle).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sorted(sc.parallelize([1, 2, 1, 3]).distinct().collect())
        [1, 2, 3]
        """
        return self._wrap(self.dataset.distinct(pcount=numPartitions))

    def union(self, other):
        """The partitions of this RDD, then those of ``other`` (duplicates kept).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([1, 2]).union(sc.parallelize([2, 3])).collect()
        [1, 2, 2, 3]
        """
        return self._wrap(self.dataset.union(other.dataset))

    def __add__(self, other):
        return self.union(other)

    def intersection(self, other):
        """The distinct elements in both RDDs (one shuffle).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sorted(sc.parallelize([1, 2, 2, 3]).intersection(sc.parallelize([2, 3, 4])).collect())
        [2, 3]
        """
        return self._wrap(self.dataset.intersection(other.dataset))

    def subtract(self, other, numPartitions: int | None = None):
        """The elements not in ``other`` (duplicates kept).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sorted(sc.parallelize([1, 2, 2, 3]).subtract(sc.parallelize([3])).collect())
        [1, 2, 2]
        """
        return self._wrap(self.dataset.subtract(other.dataset, pcount=numPartitions))

    def cartesian(self, other):
        """Every ``(x, y)`` pair of an element of this RDD and one of ``other``.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sorted(sc.parallelize([1, 2]).cartesian(sc.parallelize('a')).collect())
        [(1, 'a'), (2, 'a')]
        """
        return self._wrap(self.dataset.product(other.dataset))

    def zip(self, other):
        """Pairs of the i-th elements; both RDDs need the same partition sizes (as Spark).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([1, 2], 2).zip(sc.parallelize('ab', 2)).collect()
        [(1, 'a'), (2, 'b')]
        """
        if self.getNumPartitions() != other.getNumPartitions():
            raise ValueError(f"zip needs RDDs with the same number of partitions, got "
                             f"{self.getNumPartitions()} and {other.getNumPartitions()}")
        return self._wrap(self.dataset.zip_partitions(other.dataset, fn.StrictZip()))

    def zipWithIndex(self):
        """``(x, index)`` pairs, indices 0..n-1 in order (runs a job to size the partitions).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize('abc', 2).zipWithIndex().collect()
        [('a', 0), ('b', 1), ('c', 2)]
        """
        return self._wrap(self.dataset.key_by_idx().map(fn.swap))

    def zipWithUniqueId(self):
        """``(x, id)`` pairs: the k-th element of partition i gets ``k * n + i`` (no job).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize('abcd', 2).zipWithUniqueId().collect()
        [('a', 0), ('b', 2), ('c', 1), ('d', 3)]
        """
        return self._wrap(self.dataset.key_by_id().map(fn.swap))

    # -- sampling ----------------------------------------------------------------------------

    def sample(self, withReplacement: bool, fraction: float, seed: int | None = None):
        """About ``fraction`` of the elements, at random.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> 0 < sc.range(1000).sample(False, 0.5, seed=1).count() < 1000
        True
        """
        return self._wrap(self.dataset.sample(fraction, withReplacement, seed))

    def randomSplit(self, weights: list[float], seed: int | None = None) -> list:
        """Disjoint random RDDs covering this one, sized in proportion to ``weights``.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> parts = sc.range(100).randomSplit([1, 3], seed=7)
        >>> sum(part.count() for part in parts)
        100
        """
        return [self._wrap(part) for part in self.dataset.random_split(weights, seed)]

    # -- partitioning and sorting ------------------------------------------------------------

    def repartition(self, numPartitions: int):
        """``numPartitions`` partitions of about equal size (one shuffle).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(10, numSlices=2).repartition(3).getNumPartitions()
        3
        """
        return self.coalesce(numPartitions, shuffle=True)

    def coalesce(self, numPartitions: int, shuffle: bool = False):
        """At most ``numPartitions`` partitions: runs of neighbours merged, or (``shuffle``)
        elements spread round-robin.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(10, numSlices=4).coalesce(2).glom().collect()
        [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
        """
        if not shuffle:
            return self._wrap(self.dataset.coalesce_parts(numPartitions))
        keyed = self.dataset.map_partitions_with_index(fn.RoundRobin(numPartitions))
        spread = keyed.shuffle(pcount=numPartitions, partitioner=fn.identity, key=fn.first,
                               bucket="list")
        return self._wrap(spread.values())

    def partitionBy(self, numPartitions: int | None, partitionFunc: Callable | None = None):
        """Pairs placed by ``partitionFunc(key) % numPartitions`` (default: a portable hash).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([(1, 'a'), (2, 'b'), (3, 'c')]).partitionBy(2, lambda k: k).glom(
        ...     ).collect()
        [[(2, 'b')], [(1, 'a'), (3, 'c')]]
        """
        return self._wrap(self.dataset.shuffle(
            pcount=numPartitions or self.dataset.pcount, partitioner=partitionFunc,
            key=fn.first, bucket="list"))

    def repartitionAndSortWithinPartitions(self, numPartitions: int | None = None,
                                           partitionFunc: Callable | None = None,
                                           ascending: bool = True,
                                           keyfunc: Callable = fn.identity):
        """``partitionBy``, then each partition sorted by ``keyfunc(key)`` on its worker.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> pairs = sc.parallelize([(3, 'c'), (2, 'b'), (1, 'a'), (4, 'd')])
        >>> pairs.repartitionAndSortWithinPartitions(2, lambda k: k % 2).glom().collect()
        [[(2, 'b'), (4, 'd')], [(1, 'a'), (3, 'c')]]
        """
        placed = self.partitionBy(numPartitions, partitionFunc).dataset
        return self._wrap(placed.map_partitions(fn.SortedPartition(ascending, keyfunc)))

    def sortBy(self, keyfunc: Callable, ascending: bool = True,
               numPartitions: int | None = None):
        """Sorted by ``keyfunc(x)`` across partitions (a range-partitioned shuffle).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize(['bb', 'a', 'ccc']).sortBy(len, ascending=False).collect()
        ['ccc', 'bb', 'a']
        """
        return self._wrap(self.dataset.sort(key=keyfunc, reverse=not ascending,
                                            pcount=numPartitions))

    def sortByKey(self, ascending: bool = True, numPartitions: int | None = None,
                  keyfunc: Callable = fn.identity):
        """Pairs sorted by ``keyfunc(key)`` across partitions.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([('b', 2), ('a', 1)]).sortByKey().collect()
        [('a', 1), ('b', 2)]
        """
        return self.sortBy(fn.ByKeyOf(keyfunc), ascending, numPartitions)
