"""Source datasets: ``ctx.range`` and ``ctx.collection`` (``ctx.files`` lives in files.py)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, overload

from bndl_dask.datasets.core import K, Partition, T, V
from bndl_dask.datasets.dataset import Dataset
from bndl_dask.util.checks import positive_int


class RangePartition(Partition):
    def __init__(self, dset, idx: int, data: range):
        super().__init__(dset, idx)
        self.data = data

    def _compute(self) -> range:
        return self.data


class CollectionPartition(Partition):
    def __init__(self, dset, idx: int, data: Any):
        super().__init__(dset, idx)
        self.data = data

    def _compute(self):
        return self.data


class RangeDataset(Dataset):
    """A range of ints; each partition is a Python ``range`` (shipped as such)."""

    def __init__(self, ctx, start: int, stop: int, step: int, pcount: int):
        super().__init__(ctx)
        self.start, self.stop, self.step = start, stop, step
        self._requested = pcount

    def _make_parts(self):
        whole = range(self.start, self.stop, self.step)
        n, p = len(whole), self._requested
        return [RangePartition(self, i, whole[i * n // p:(i + 1) * n // p]) for i in range(p)]

    def __str__(self) -> str:
        text = f"range({self.stop}" if self.start == 0 else f"range({self.start},{self.stop}"
        return text + (f",{self.step})" if self.step != 1 else ")")

class DistributedCollection(Dataset):
    """A local sequence sliced into partitions that travel inside their tasks."""

    def __init__(self, ctx, data: Any, pcount: int | None, psize: int | None):
        super().__init__(ctx)
        if psize is not None:
            chunks = [data[i:i + psize] for i in range(0, len(data), psize)]
        else:
            step = max(1, math.ceil(len(data) / pcount))
            chunks = [data[i * step:(i + 1) * step] for i in range(pcount)]
            chunks = [c for c in chunks if len(c)]
        self._chunks = chunks
        if pcount is not None:
            self._pcount = pcount

    def _make_parts(self):
        return [CollectionPartition(self, i, chunk) for i, chunk in enumerate(self._chunks)]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_chunks", None)  # each partition carries its own slice
        return state


class SourcesMixin:
    """Dataset factories of ``ComputeContext``."""

    def range(self, start: int, stop: int | None = None, step: int = 1,
              pcount: int | None = None) -> Dataset[int]:
        """A dataset of ints like Python's ``range``; ``range(10)`` is ``0..9``.

        >>> ctx.range(10, pcount=3).collect(parts=True)
        [range(0, 3), range(3, 6), range(6, 10)]
        >>> ctx.range(5, 0).collect(), ctx.range(5, 0, -2).collect()
        ([], [5, 3, 1])
        """
        positive_int("pcount", pcount)
        for name, value in (("start", start), ("stop", stop), ("step", step)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"range {name} must be an int, got {value!r}")
        if step == 0:
            raise ValueError("range step must not be zero")
        if stop is None:  # range(n); range(5, 0) is empty, as Python's
            start, stop = 0, start
        return RangeDataset(self, start, stop, step, pcount or self.default_pcount)

    @overload
    def collection(self, collection: Mapping[K, V], pcount: int | None = None,
                   psize: int | None = None) -> Dataset[tuple[K, V]]: ...
    @overload
    def collection(self, collection: Iterable[T], pcount: int | None = None,
                   psize: int | None = None) -> Dataset[T]: ...

    def collection(self, collection: Iterable[Any] | Mapping[Any, Any], pcount: int | None = None,
                   psize: int | None = None) -> Dataset[Any]:
        """A dataset of the elements of a local collection, split into partitions.

        Sequences are sliced (a list gives list partitions, a str substrings); a dict gives its
        ``(key, value)`` items; other iterables (generators, sets) are materialised first.

        >>> ctx.collection('abcd', pcount=2).collect()
        ['a', 'b', 'c', 'd']
        """
        positive_int("pcount", pcount)
        positive_int("psize", psize)
        if pcount is not None and psize is not None:
            raise ValueError("can't set both pcount and psize")
        if isinstance(collection, range):
            return self.range(collection.start, collection.stop, collection.step, pcount)
        if isinstance(collection, Mapping):
            collection = list(collection.items())
        elif not (hasattr(collection, "__len__") and hasattr(collection, "__getitem__")):
            if not isinstance(collection, Iterable):
                raise TypeError(f"collection needs an iterable, got {type(collection).__name__}")
            collection = list(collection)
        if psize is None and pcount is None:
            pcount = self.default_pcount
        return DistributedCollection(self, collection, pcount, psize)
