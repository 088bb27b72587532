"""The public narrow dataset classes (defined in ``dataset.py`` on the nodes of
``narrow_nodes.py``), importable from here as ``bndl_dask.datasets.narrow.MapPartitionsDataset``;
subclass ``MapPartitionsDataset`` for a dataset computed partition by partition from a source.
"""

from __future__ import annotations

from bndl_dask.datasets.callables import bind
from bndl_dask.datasets.dataset import (
    CartesianProductDataset,
    CoalescedDataset,
    MapPartitionsDataset,
    MaskedDataset,
    UnionDataset,
    ZipPartitionsDataset,
)

__all__ = ["CartesianProductDataset", "CoalescedDataset", "MapPartitionsDataset",
           "MaskedDataset", "UnionDataset", "ZipPartitionsDataset", "bind"]
