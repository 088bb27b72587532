"""Plan nodes derived partition by partition from their sources (fused into one task each).

These are the kinds of narrow dataset without the user-facing operations; ``dataset.py`` turns
each into its public class (``MapPartitionsNode`` -> ``MapPartitionsNode``, ...).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bndl_dask.datasets.core import ArgumentError, DatasetCore, Partition


class MapPartitionsPartition(Partition):
    def _compute(self) -> Iterable:
        return self.dset.func(self, self.src.compute())


class MapPartitionsNode(DatasetCore):
    """Partition ``i`` is ``func(source partition i, its data)``; every narrow step is one."""

    def __init__(self, src: DatasetCore, func: Callable[[Partition, Iterable], Iterable | None]):
        super().__init__(src.ctx, src)
        self.func = func

    def _make_parts(self):
        return [MapPartitionsPartition(self, part.idx, part) for part in self.src.parts()]


class UnionPartition(Partition):
    def _compute(self) -> Iterable:
        return self.src.compute()


class UnionNode(DatasetCore):
    """The partitions of every source, one after the other."""

    def __init__(self, sources: Sequence[DatasetCore]):
        flat: list[DatasetCore] = []
        for source in sources:
            flat.extend(source.src if isinstance(source, UnionNode) else [source])
        super().__init__(flat[0].ctx, flat)

    def _make_parts(self):
        parts, idx = [], 0
        for source in self.src:
            for part in source.parts():
                parts.append(UnionPartition(self, idx, part))
                idx += 1
        return parts


class ZipPartition(Partition):
    def _compute(self) -> Iterable:
        return self.dset.comb(*(src.compute() for src in self.src))


class ZipPartitionsNode(DatasetCore):
    """Partition ``i`` is ``comb(partition i of each source)``."""

    def __init__(self, sources: Sequence[DatasetCore], comb: Callable):
        counts = {s.pcount for s in sources}
        if len(counts) != 1:
            raise ArgumentError(
                f"zip needs datasets with the same number of partitions, got {sorted(counts)}")
        super().__init__(sources[0].ctx, list(sources))
        self.comb = comb

    def _make_parts(self):
        columns = [s.parts() for s in self.src]
        return [ZipPartition(self, i, [col[i] for col in columns])
                for i in range(len(columns[0]))]


class ProductPartition(Partition):
    def _compute(self) -> Iterable:
        return self.dset.func(*(src.compute() for src in self.src))


class CartesianProductNode(DatasetCore):
    """One partition per combination of source partitions (first source outermost)."""

    def __init__(self, sources: Sequence[DatasetCore], func: Callable = itertools.product):
        super().__init__(sources[0].ctx, list(sources))
        self.func = func

    def _make_parts(self):
        combos = itertools.product(*(s.parts() for s in self.src))
        return [ProductPartition(self, i, list(combo)) for i, combo in enumerate(combos)]


class CoalescePartition(Partition):
    def _compute(self) -> Iterable:
        return itertools.chain.from_iterable(src.compute() for src in self.src)


class CoalescedNode(DatasetCore):
    """Runs of consecutive source partitions concatenated into ``pcount`` partitions."""

    def __init__(self, src: DatasetCore, pcount: int):
        super().__init__(src.ctx, src)
        self._target = pcount

    def _make_parts(self):
        sources = self.src.parts()
        step = len(sources) / self._target
        parts = []
        for j in range(self._target):
            end = len(sources) if j == self._target - 1 else int((j + 1) * step)
            parts.append(CoalescePartition(self, j, sources[int(j * step):end]))
        return parts


class MaskedNode(DatasetCore):
    """Only the source partitions ``mask(partition)`` keeps, with their original index."""

    def __init__(self, src: DatasetCore, mask: Callable[[Partition], Any]):
        super().__init__(src.ctx, src)
        self.mask = mask

    def _make_parts(self):
        return [UnionPartition(self, part.idx, part) for part in self.src.parts()
                if self.mask(part)]
