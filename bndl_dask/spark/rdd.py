"""``RDD``: PySpark's RDD API over a bndl_dask ``Dataset``.

An RDD wraps one lazy Dataset; its camelCase methods build Dataset operations (so everything
Spark computes on executors is computed on the dask workers) and follow PySpark's semantics
where BNDL's differ. ``rdd.dataset`` is the Dataset itself, for bndl_dask's own operations.

>>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
>>> words = sc.parallelize(['a b', 'b c b']).flatMap(str.split)
>>> sorted(words.map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b).collect())
[('a', 1), ('b', 3), ('c', 1)]
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from bndl_dask.datasets.dataset import Dataset
from bndl_dask.spark.actions import ActionsMixin
from bndl_dask.spark.pairs import PairsMixin
from bndl_dask.spark.storagelevel import StorageLevel, cache_options
from bndl_dask.spark.transformations import TransformationsMixin
from bndl_dask.spark.unsupported import RDD_ALTERNATIVES, no_attribute, not_supported

if TYPE_CHECKING:
    from bndl_dask.spark.context import SparkContext

_ids = itertools.count()


class RDD(TransformationsMixin, PairsMixin, ActionsMixin):
    """A lazy, partitioned collection with PySpark's RDD methods; made by a ``SparkContext``.

    >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
    >>> rdd = sc.parallelize(range(10), 3)
    >>> rdd.getNumPartitions(), rdd.filter(lambda x: x > 6).collect()
    (3, [7, 8, 9])
    """

    def __init__(self, dataset: Dataset, context: SparkContext):
        if not isinstance(dataset, Dataset):
            raise TypeError(f"an RDD wraps a bndl_dask Dataset, not {type(dataset).__name__}")
        self.dataset = dataset
        self._context = context
        self._id = next(_ids)
        self._level = StorageLevel.NONE
        #: PySpark's attributes; the partitioner is not tracked (lookup finds it by itself)
        self.partitioner = None
        self.is_checkpointed = False

    def _wrap(self, dataset: Dataset) -> RDD:
        return RDD(dataset, self._context)

    @property
    def context(self) -> SparkContext:
        """The SparkContext that made this RDD."""
        return self._context

    @property
    def ctx(self) -> SparkContext:
        return self._context

    def id(self) -> int:
        """A number unique to this RDD in this process.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(1).id() != sc.range(1).id()
        True
        """
        return self._id

    def name(self) -> str | None:
        """The name given with ``setName`` (shown in progress bars, task keys and errors)."""
        return self.dataset.name

    def setName(self, name: str) -> RDD:
        """Name this RDD; returns it.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.range(3).setName('numbers').name()
        'numbers'
        """
        self.dataset.set_name(name)
        return self

    def getNumPartitions(self) -> int:
        """The number of partitions.

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> sc.parallelize([1, 2, 3], 2).getNumPartitions()
        2
        """
        return self.dataset.pcount

    # -- persistence -------------------------------------------------------------------------

    @property
    def is_cached(self) -> bool:
        return self.dataset.cached

    def cache(self) -> RDD:
        """Keep the partitions in the workers' memory once computed (``MEMORY_ONLY``).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> rdd = sc.range(5).cache()
        >>> rdd.sum(), rdd.is_cached
        (10, True)
        >>> _ = rdd.unpersist()
        """
        return self.persist(StorageLevel.MEMORY_ONLY)

    def persist(self, storageLevel: StorageLevel = StorageLevel.MEMORY_ONLY) -> RDD:
        """Cache the partitions where ``storageLevel`` says (see ``StorageLevel``).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> rdd = sc.range(5).persist(StorageLevel.DISK_ONLY)
        >>> rdd.count(), rdd.getStorageLevel()
        (5, StorageLevel(True, False, False, False, 1))
        >>> _ = rdd.unpersist()
        """
        options = cache_options(storageLevel)
        if options is None:
            return self.unpersist()
        self.dataset.cache(**options)
        self._level = storageLevel
        return self

    def unpersist(self, blocking: bool = False) -> RDD:
        """Drop the cached partitions (``blocking``: wait until the workers did)."""
        self.dataset.uncache(block=blocking)
        self._level = StorageLevel.NONE
        return self

    def getStorageLevel(self) -> StorageLevel:
        """The level given to ``persist`` (``StorageLevel.NONE`` when not cached)."""
        return self._level if self.dataset.cached else StorageLevel.NONE

    def isCheckpointed(self) -> bool:
        """False: checkpoints are Spark-only (``checkpoint()`` says what to use instead)."""
        return False

    isLocallyCheckpointed = isCheckpointed

    def getCheckpointFile(self) -> None:
        """None: an RDD is never checkpointed here."""
        return None

    # -- description -------------------------------------------------------------------------

    def toDebugString(self) -> bytes:
        """The lineage, one dataset a line with its partition count (bytes, as PySpark's).

        >>> from bndl_dask.spark import SparkContext; sc = SparkContext(ctx)
        >>> print(sc.parallelize([1, 2]).map(str).toDebugString().decode())
        (2) <MapPartitionsDataset ...>
         |  (2) <MapPartitionsDataset ...>
         |   |  (2) <DistributedCollection ...>
        """
        lines: list[str] = []
        _describe(self.dataset, 0, lines)
        return "\n".join(lines).encode()

    def __repr__(self) -> str:
        return f"<RDD {self._id} over {self.dataset!r}>"

    def __getattr__(self, name: str) -> Any:
        raise no_attribute(type(self).__name__, name, Dataset)


def _describe(dataset: Any, depth: int, lines: list[str]) -> None:
    prefix = " |  " * depth
    lines.append(f"{prefix}({dataset.pcount}) {dataset!r}")
    for source in dataset.sources:
        _describe(source, depth + 1, lines)


for _name, _alternative in RDD_ALTERNATIVES.items():
    setattr(RDD, _name, not_supported("RDD", _name, _alternative))
