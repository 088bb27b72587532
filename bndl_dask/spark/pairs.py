"""PySpark's key-value transformations (pair RDDs), as ``Dataset`` operations.

Key-wise operations run on bndl_dask's shuffle service, combined map-side where Spark combines
them. ``numPartitions`` is the output's partition count, ``partitionFunc(key)`` (modulo it)
places keys (default: a hash that is the same in every process).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bndl_dask.spark.functions as fn


class PairsMixin:
    """``keys`` ... ``sampleByKey`` of PySpark's RDD."""

    dataset: Any

    def _wrap(self, dataset: Any) -> Any:
        raise NotImplementedError

    def keys(self):
        """The keys of ``(k, v)`` pairs.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([('a', 1), ('b', 2)]).keys().collect()
        ['a', 'b']
        """
        return self._wrap(self.dataset.keys())

    def values(self):
        """The values of ``(k, v)`` pairs.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([('a', 1), ('b', 2)]).values().collect()
        [1, 2]
        """
        return self._wrap(self.dataset.values())

    def mapValues(self, f: Callable):
        """``(k, f(v))`` pairs.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([('a', [1, 2])]).mapValues(len).collect()
        [('a', 2)]
        """
        return self._wrap(self.dataset.map_values(f))

    def flatMapValues(self, f: Callable):
        """``(k, x)`` for every ``x`` in ``f(v)``: the keys are kept (BNDL's drops them).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([('a', 'xy'), ('b', 'z')]).flatMapValues(list).collect()
        [('a', 'x'), ('a', 'y'), ('b', 'z')]
        """
        return self._wrap(self.dataset.flatmap(fn.ValuesKeepingKey(f)))

    # -- aggregations by key -----------------------------------------------------------------

    def reduceByKey(self, func: Callable, numPartitions: int | None = None,
                    partitionFunc: Callable | None = None):
        """``(k, func-reduction of k's values)``, reduced map-side first.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> from operator import add
        >>> sorted(sc.parallelize([('a', 1), ('b', 1), ('a', 1)]).reduceByKey(add).collect())
        [('a', 2), ('b', 1)]
        """
        return self._wrap(self.dataset.reduce_by_key(func, partitionFunc, numPartitions))

    def foldByKey(self, zeroValue: Any, func: Callable, numPartitions: int | None = None,
                  partitionFunc: Callable | None = None):
        """``(k, fold of k's values)`` from a copy of ``zeroValue`` per key and partition.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> from operator import add
        >>> sorted(sc.parallelize([('a', 1), ('b', 1), ('a', 1)]).foldByKey(0, add).collect())
        [('a', 2), ('b', 1)]
        """
        return self._wrap(self.dataset.fold_by_key(zeroValue, func, partitionFunc,
                                                   numPartitions))

    def combineByKey(self, createCombiner: Callable, mergeValue: Callable,
                     mergeCombiners: Callable, numPartitions: int | None = None,
                     partitionFunc: Callable | None = None):
        """``(k, combiner)``: ``createCombiner(v)`` and ``mergeValue(c, v)`` per partition,
        then ``mergeCombiners(c1, c2)`` over the partitions in order.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> pairs = sc.parallelize([('a', 1), ('b', 2), ('a', 3)], 2)
        >>> sorted(pairs.combineByKey(lambda v: [v], lambda c, v: c + [v],
        ...                           lambda c1, c2: c1 + c2).collect())
        [('a', [1, 3]), ('b', [2])]
        """
        # BNDL's combine_by_key merges combiners as buckets arrive; tagging each with its
        # partition lets the reducer merge them in partition order, as Spark's order promises
        tagged = self.dataset.map_partitions_with_index(
            fn.CombinePartition(createCombiner, mergeValue))
        grouped = tagged.group_by_key(partitionFunc, numPartitions)
        return self._wrap(grouped.map_values(fn.MergeInOrder(mergeCombiners)))

    def aggregateByKey(self, zeroValue: Any, seqFunc: Callable, combFunc: Callable,
                       numPartitions: int | None = None, partitionFunc: Callable | None = None):
        """``(k, aggregate)``: k's values folded into a copy of ``zeroValue`` with
        ``seqFunc`` per partition, the partial results merged with ``combFunc``.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> pairs = sc.parallelize([('a', 1), ('b', 2), ('a', 3)], 2)
        >>> sorted(pairs.aggregateByKey((0, 0), lambda acc, v: (acc[0] + v, acc[1] + 1),
        ...                             lambda x, y: (x[0] + y[0], x[1] + y[1])).collect())
        [('a', (4, 2)), ('b', (2, 1))]
        """
        return self.combineByKey(fn.SeqFromZero(zeroValue, seqFunc), seqFunc, combFunc,
                                 numPartitions, partitionFunc)

    def groupByKey(self, numPartitions: int | None = None, partitionFunc: Callable | None = None):
        """``(k, [values of k])``.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sorted(sc.parallelize([('a', 1), ('b', 2), ('a', 3)]).groupByKey().mapValues(
        ...     sorted).collect())
        [('a', [1, 3]), ('b', [2])]
        """
        return self._wrap(self.dataset.group_by_key(partitionFunc, numPartitions))

    def groupBy(self, f: Callable, numPartitions: int | None = None,
                partitionFunc: Callable | None = None):
        """``(f(x), [elements with that key])``.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sorted(sc.range(5).groupBy(lambda x: x % 2).mapValues(sorted).collect())
        [(0, [0, 2, 4]), (1, [1, 3])]
        """
        return self._wrap(self.dataset.group_by(f, partitionFunc, numPartitions))

    # -- joins and co-grouping ---------------------------------------------------------------

    def join(self, other, numPartitions: int | None = None):
        """``(k, (v, w))`` for every pair of values with the same key in both RDDs.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> left = sc.parallelize([('a', 1), ('a', 2), ('b', 3)])
        >>> sorted(left.join(sc.parallelize([('a', 'x')])).collect())
        [('a', (1, 'x')), ('a', (2, 'x'))]
        """
        return self._flat(self.dataset.join(other.dataset, pcount=numPartitions))

    def leftOuterJoin(self, other, numPartitions: int | None = None):
        """``join``, plus ``(k, (v, None))`` for keys only this RDD has.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> left = sc.parallelize([('a', 1), ('b', 2)])
        >>> sorted(left.leftOuterJoin(sc.parallelize([('a', 'x')])).collect())
        [('a', (1, 'x')), ('b', (2, None))]
        """
        return self._flat(self.dataset.left_outer_join(other.dataset, pcount=numPartitions))

    def rightOuterJoin(self, other, numPartitions: int | None = None):
        """``join``, plus ``(k, (None, w))`` for keys only ``other`` has.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> left = sc.parallelize([('a', 1)])
        >>> sorted(left.rightOuterJoin(sc.parallelize([('a', 'x'), ('c', 'y')])).collect())
        [('a', (1, 'x')), ('c', (None, 'y'))]
        """
        return self._flat(self.dataset.right_outer_join(other.dataset, pcount=numPartitions))

    def fullOuterJoin(self, other, numPartitions: int | None = None):
        """``join``, plus the keys of either side alone, with None for the missing side.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> left = sc.parallelize([('a', 1), ('b', 2)])
        >>> sorted(left.fullOuterJoin(sc.parallelize([('a', 'x'), ('c', 'y')])).collect())
        [('a', (1, 'x')), ('b', (2, None)), ('c', (None, 'y'))]
        """
        return self._flat(self.dataset.full_outer_join(other.dataset, pcount=numPartitions))

    def _flat(self, joined: Any):
        # a BNDL join yields (k, [pairs]) per key; Spark one (k, pair) row per pair
        return self._wrap(joined.flatmap(fn.pairs_of_each))

    def cogroup(self, other, numPartitions: int | None = None):
        """``(k, (values in this RDD, values in other))`` for every key of either.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> left = sc.parallelize([('a', 1), ('b', 2)])
        >>> sorted(left.cogroup(sc.parallelize([('a', 'x')])).collect())
        [('a', ([1], ['x'])), ('b', ([2], []))]
        """
        return self.groupWith(other, numPartitions=numPartitions)

    def groupWith(self, other, *others, numPartitions: int | None = None):
        """``cogroup`` with any number of other RDDs.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> a, b, c = (sc.parallelize([('k', n)]) for n in range(3))
        >>> a.groupWith(b, c).collect()
        [('k', ([0], [1], [2]))]
        """
        grouped = self.dataset.cogroup(other.dataset, *(rdd.dataset for rdd in others),
                                       pcount=numPartitions)
        return self._wrap(grouped.map_values(tuple))

    def subtractByKey(self, other, numPartitions: int | None = None):
        """The pairs whose key ``other`` does not have.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> left = sc.parallelize([('a', 1), ('b', 2)])
        >>> left.subtractByKey(sc.parallelize([('a', 'x')])).collect()
        [('b', 2)]
        """
        return self._wrap(self.dataset.subtract_by_key(other.dataset, pcount=numPartitions))

    def sampleByKey(self, withReplacement: bool, fractions: dict, seed: int | None = None):
        """About ``fractions[k]`` of the pairs of each key ``k``, at random.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> pairs = sc.range(1000).map(lambda i: (i % 2, i))
        >>> sample = pairs.sampleByKey(False, {0: 0.1, 1: 0.0}, seed=3)
        >>> sorted(sample.countByKey()) == [0]
        True
        """
        return self._wrap(self.dataset.sample_by_key(fractions, withReplacement, seed))
