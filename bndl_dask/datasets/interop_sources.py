"""Datasets from dask: ``ctx.from_futures`` and ``ctx.from_bag``, mixed into ``ComputeContext``
(the other direction, ``Dataset.to_futures`` and ``to_bag``, is in ``interop.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from distributed import Future

from bndl_dask.datasets.dataset import FuturesDataset
from bndl_dask.planning.cluster_calls import compute

if TYPE_CHECKING:
    import dask.bag


class InteropContextMixin:
    def from_futures(self, futures: Iterable[Future]) -> FuturesDataset:
        """A dataset whose partition ``i`` is the result of dask future ``futures[i]``.

        >>> futures = ctx.executor.map(lambda i: list(range(i)), [1, 2, 3])
        >>> ctx.from_futures(futures).collect()
        [0, 0, 1, 0, 1, 2]
        """
        self._check_running()
        futures = list(futures)
        for future in futures:
            if not isinstance(future, Future):
                raise TypeError(f"from_futures needs dask futures, got {type(future).__name__}")
        return FuturesDataset(self, futures)

    def from_bag(self, bag: dask.bag.Bag) -> FuturesDataset:
        """A dataset with the partitions of a dask bag (computed on this cluster).

        >>> import dask.bag as db
        >>> ctx.from_bag(db.from_sequence(range(10), npartitions=2)).sum()
        45
        """
        self._check_running()
        if not hasattr(bag, "to_delayed"):
            raise TypeError(f"from_bag needs a dask bag, got {type(bag).__name__}")
        return self.from_futures(compute(self, bag.to_delayed()))
