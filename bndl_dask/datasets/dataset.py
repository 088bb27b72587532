"""``Dataset``, the class users hold, and the public dataset classes.

The operation modules (transformations, keyvalue, shuffles, tree, actions, stats, sampling,
outputs, interop, outer_joins, set_operations, keyed_operations, foreach, approximate) are
mixins whose methods build plan nodes (``narrow_nodes``,
``shuffle_nodes``, ``interop_datasets``): classes that know their partitions but carry no
user-facing methods. This module, the only one importing both, gathers the mixins into
``Dataset`` and turns each node class into its public dataset class; ``Dataset._derive`` builds
the public class of a node. Modules so import strictly downwards: nodes and operations never
import this module.
"""

from __future__ import annotations

from typing import Any

from bndl_dask.datasets.actions import ActionsMixin
from bndl_dask.datasets.approximate import ApproximateMixin
from bndl_dask.datasets.core import DatasetCore, T
from bndl_dask.datasets.foreach import ForEachMixin
from bndl_dask.datasets.interop import InteropMixin
from bndl_dask.datasets.interop_datasets import (
    DataFrameNode,
    DataFrameZipNode,
    FuturesNode,
    SeriesNode,
)
from bndl_dask.datasets.keyed_operations import KeyedOperationsMixin
from bndl_dask.datasets.keyvalue import KeyValueMixin
from bndl_dask.datasets.narrow_nodes import (
    CartesianProductNode,
    CoalescedNode,
    MapPartitionsNode,
    MaskedNode,
    UnionNode,
    ZipPartitionsNode,
)
from bndl_dask.datasets.outer_joins import OuterJoinsMixin
from bndl_dask.datasets.outputs import OutputMixin
from bndl_dask.datasets.sampling import SamplingMixin
from bndl_dask.datasets.set_operations import SetOperationsMixin
from bndl_dask.datasets.shuffle_nodes import ShuffleNode, SortedNode
from bndl_dask.datasets.shuffles import ShuffleMixin
from bndl_dask.datasets.stats import StatsMixin
from bndl_dask.datasets.transformations import TransformationsMixin
from bndl_dask.datasets.tree import TreeMixin


class Dataset(TransformationsMixin[T], KeyValueMixin[T], ShuffleMixin[T], TreeMixin[T],
              ActionsMixin[T], StatsMixin[T], SamplingMixin[T], OutputMixin[T], InteropMixin[T],
              OuterJoinsMixin[T], SetOperationsMixin[T], KeyedOperationsMixin[T],
              ForEachMixin[T], ApproximateMixin[T], DatasetCore[T]):
    """A lazy, immutable, partitioned collection.

    Transformations (``map``, ``filter``, ``reduce_by_key``, ...) return new datasets; actions
    (``collect``, ``count``, ``reduce``, ...) run a job on the cluster and return a result.

    >>> ctx.range(10).map(lambda x: x * 2).filter(lambda x: x % 3 == 0).collect()
    [0, 6, 12, 18]

    ``Dataset`` is generic in its element type: ``ctx.range(3)`` is a ``Dataset[int]`` to a type
    checker, ``.map(str)`` of it a ``Dataset[str]``, and ``Dataset[int]`` is valid at run time.

    >>> Dataset[int]
    bndl_dask.datasets.dataset.Dataset[int]
    """

    def _derive(self, node: type, *args: Any, **kwargs: Any) -> Dataset[Any]:
        """A new dataset of the public class of plan node ``node`` (``MapPartitionsNode`` gives
        a ``MapPartitionsDataset``), made with ``node``'s arguments."""
        return PUBLIC_CLASSES[node](*args, **kwargs)


# -- the public class of every plan node ----------------------------------------------------------

class MapPartitionsDataset(MapPartitionsNode, Dataset):
    """Partition ``i`` is ``func(source partition i, its data)``; every narrow step is one."""


class UnionDataset(UnionNode, Dataset):
    """The partitions of every source, one after the other."""


class ZipPartitionsDataset(ZipPartitionsNode, Dataset):
    """Partition ``i`` is ``comb(partition i of each source)``."""


class CartesianProductDataset(CartesianProductNode, Dataset):
    """One partition per combination of source partitions (first source outermost)."""


class CoalescedDataset(CoalescedNode, Dataset):
    """Runs of consecutive source partitions concatenated into ``pcount`` partitions."""


class MaskedDataset(MaskedNode, Dataset):
    """Only the source partitions ``mask(partition)`` keeps, with their original index."""


class ShuffleDataset(ShuffleNode, Dataset):
    """``pcount`` partitions, each merged from one bucket of every map-side task."""


class SortedDataset(SortedNode, ShuffleDataset):
    """A sort into ``pcount`` key ranges (see ``shuffle_nodes.SortedNode``)."""


class FuturesDataset(FuturesNode, Dataset):
    """Partition ``i`` is the result of dask future ``i`` (kept alive by the dataset)."""


class DistributedDataFrame(DataFrameNode, MapPartitionsDataset):
    """A dataset of one pandas DataFrame per partition (experimental, as in BNDL)."""


class DistributedDataFrameZip(DataFrameZipNode, ZipPartitionsDataset):
    """A distributed DataFrame with columns added from other datasets."""


class DistributedSeries(SeriesNode, MapPartitionsDataset):
    """A column of a distributed DataFrame: one pandas Series per partition."""


#: plan node class -> the public dataset class ``Dataset._derive`` makes of it
PUBLIC_CLASSES: dict[type, type[Dataset]] = {
    MapPartitionsNode: MapPartitionsDataset,
    UnionNode: UnionDataset,
    ZipPartitionsNode: ZipPartitionsDataset,
    CartesianProductNode: CartesianProductDataset,
    CoalescedNode: CoalescedDataset,
    MaskedNode: MaskedDataset,
    ShuffleNode: ShuffleDataset,
    SortedNode: SortedDataset,
    FuturesNode: FuturesDataset,
    DataFrameNode: DistributedDataFrame,
    DataFrameZipNode: DistributedDataFrameZip,
    SeriesNode: DistributedSeries,
}
