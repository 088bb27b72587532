"""``Dataset``: the class users hold, its methods gathered from one module per concern."""

from __future__ import annotations

from bndl_dask.datasets.actions import ActionsMixin
from bndl_dask.datasets.core import DatasetCore
from bndl_dask.datasets.interop import InteropMixin
from bndl_dask.datasets.keyvalue import KeyValueMixin
from bndl_dask.datasets.outputs import OutputMixin
from bndl_dask.datasets.sampling import SamplingMixin
from bndl_dask.datasets.shuffles import ShuffleMixin
from bndl_dask.datasets.stats import StatsMixin
from bndl_dask.datasets.transformations import TransformationsMixin


class Dataset(TransformationsMixin, KeyValueMixin, ShuffleMixin, ActionsMixin, StatsMixin,
              SamplingMixin, OutputMixin, InteropMixin, DatasetCore):
    """A lazy, immutable, partitioned collection.

    Transformations (``map``, ``filter``, ``reduce_by_key``, ...) return new datasets; actions
    (``collect``, ``count``, ``reduce``, ...) run a job on the cluster and return a result.

    >>> ctx.range(10).map(lambda x: x * 2).filter(lambda x: x % 3 == 0).collect()
    [0, 6, 12, 18]
    """
