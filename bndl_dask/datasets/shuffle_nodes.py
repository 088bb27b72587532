"""``ShuffleNode``: the output side of a shuffle, a boundary the planner splits jobs at.

Its source's partitions are written by map-side tasks (``shuffle_writer()``) into buckets that
stay on their workers; output partition ``i`` pulls bucket ``i`` from every holder and merges it
(``merge``: concatenate, sort, de-duplicate, or a key-wise operation's own merge).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter

from bndl_dask.datasets.core import DatasetCore, Partition
from bndl_dask.planning.tasks import shuffle_inputs
from bndl_dask.util.gc_pause import gc_paused
from bndl_dask.worker.blocks import decode_blocks
from bndl_dask.worker.exceptions import DependenciesFailed
from bndl_dask.worker.manifest import writer_task_id
from bndl_dask.worker.range_shuffle import (
    PendingRange,
    RangeBounds,
    RangeInputs,
    SortedRunWriter,
    fetch_range,
    merge_range,
    range_limits,
)
from bndl_dask.worker.runtime import task_context
from bndl_dask.worker.shuffle_fetch import PendingBucket, fetch_bucket
from bndl_dask.worker.shuffle_writer import ShuffleWriter
from bndl_dask.worker.sorting import sort_records


class ShufflePartition(Partition):
    def start_fetch(self) -> None:
        """Ask the other workers for this partition's bucket now (a task of several partitions
        calls this for the next one before it computes the current one); ``_compute`` then
        reads the answer."""
        manifests = shuffle_inputs().get(self.dset.id)
        if manifests is None or any(m is None for m in manifests):
            return  # _compute says what is missing
        started = task_context().setdefault("started_buckets", {})
        if self.id not in started:
            started[self.id] = PendingBucket(self.dset.id, self.idx, manifests)

    def _compute(self) -> Iterable:
        dset = self.dset
        manifests = shuffle_inputs().get(dset.id)
        if manifests is None or any(m is None for m in manifests):
            # the map side was skipped (planned behind a cache that has since been lost):
            # have the scheduler run the writers now, then this task again
            raise DependenciesFailed({None: [writer_task_id(dset.id, idx)
                                             for idx in range(dset.map_count)]})
        pending = task_context().get("started_buckets", {}).pop(self.id, None)
        blobs = fetch_bucket(dset.id, self.idx, manifests, pending)
        with gc_paused():
            return dset.merge(decode_blocks(blobs, dset.serialization, dset.compression))


class ShuffleNode(DatasetCore):
    """``pcount`` partitions, each merged from one bucket of every map-side task.

    ``placement``: ``("hash",)``, ``("func", partitioner)`` or ``("range",)`` (a sort);
    ``kind``: the bucket kind ('list', 'sorted', 'set', 'dict').
    """

    sync_required = True

    def __init__(self, src: DatasetCore, pcount: int, placement: tuple, key: Callable | None,
                 kind: str, comb: Callable | None, sort: bool, block_size: int,
                 serialization: str, compression: str | None,
                 merge: Callable | None = None, reverse: bool = False):
        super().__init__(src.ctx, src)
        self._pcount = pcount
        self.map_count = len(src.parts())
        self.placement = placement
        self.key = key
        self.kind = kind
        self.comb = comb
        self.sorts = sort  # not "sort": that is the method
        self.reverse = reverse
        self.block_size = block_size
        self.serialization = serialization
        self.compression = compression
        self.merge = merge if merge is not None else Merge(kind, key, sort, reverse)

    def _make_parts(self):
        return [ShufflePartition(self, idx) for idx in range(self._pcount)]

    #: what the elements must look like ('pairs' for key-wise operations, 'comparable' for
    #: sorting), so that a writer's TypeError can tell the user what to change; None: no hint
    element_shape: str | None = None

    #: whether every output record is a pair whose key ``placement`` placed (the key-wise
    #: operations), so that ``lookup(key)`` needs only the key's partition
    partitioned_by_key = False

    #: reduce_by_key's reduction, applied map-side as the pairs are bucketed (None: none)
    map_reduce: Callable | None = None

    def map_group(self, map_idx: int) -> int:
        """Which input map partition ``map_idx`` belongs to where the read side tells inputs
        apart by map partition (cogroup and join); 0 for every other shuffle. A task that
        computes several map partitions writes them as one only within a group."""
        bounds = getattr(self.merge, "bounds", None)
        return bisect_right(bounds, map_idx) if bounds else 0

    def shuffle_writer(self) -> ShuffleWriter:
        # sorted buckets are sorted map-side only where a combiner needs sorted input: the read
        # side sorts anyway, and timsort merges already sorted runs cheaply
        writer = ShuffleWriter(self.id, self._pcount, self.placement, self.key, self.kind,
                               self.comb, self.sorts, self.block_size, self.serialization,
                               self.compression, pairs=self.element_shape == "pairs",
                               reduce=self.map_reduce)
        if self.element_shape is None:
            return writer
        return ExplainingWriter(writer, self.element_shape, f"{self!r} ({self.callsite})")


    def barrier_finish(self) -> Callable | None:
        """What the barrier makes of the writers' results (None: passes them on as a list)."""
        return None


class SortedPartition(Partition):
    def _limits(self, inputs: RangeInputs) -> tuple | None:
        dset = self.dset
        # with reverse, the first partition holds the highest range
        range_idx = dset._pcount - 1 - self.idx if dset.reverse else self.idx
        return range_limits(inputs.bounds, range_idx)

    def start_fetch(self) -> None:
        """Ask the other workers for this partition's key range now (as ShufflePartition's)."""
        inputs = shuffle_inputs().get(self.dset.id)
        if inputs is None or not isinstance(inputs, RangeInputs):
            return  # _compute says what is missing
        limits = self._limits(inputs)
        started = task_context().setdefault("started_ranges", {})
        if limits is not None and self.id not in started:
            started[self.id] = PendingRange(self.dset.id, limits, inputs)

    def _compute(self) -> Iterable:
        dset = self.dset
        inputs = shuffle_inputs().get(dset.id)
        if inputs is None or not isinstance(inputs, RangeInputs):
            raise DependenciesFailed({None: [writer_task_id(dset.id, idx)
                                             for idx in range(dset.map_count)]})
        limits = self._limits(inputs)
        if limits is None:
            return []
        pending = task_context().get("started_ranges", {}).pop(self.id, None)
        blobs = fetch_range(dset.id, limits, inputs, pending)
        return merge_range(blobs, limits, dset.key, dset.reverse, dset.serialization,
                           dset.compression)


class SortedNode(ShuffleNode):
    """A sort into ``pcount`` key ranges: map tasks sort their partition into runs, the barrier
    draws the range boundaries from the runs' samples, and output partition ``i`` merges the
    parts of every run within range ``i`` (see ``bndl_dask.worker.range_shuffle``)."""

    element_shape = "comparable"

    def __init__(self, src: DatasetCore, pcount: int, key: Callable | None, reverse: bool,
                 block_size: int, serialization: str, compression: str | None):
        super().__init__(src, pcount, ("range",), key, "sorted", None, True, block_size,
                         serialization, compression, reverse=reverse)

    def _make_parts(self):
        return [SortedPartition(self, idx) for idx in range(self._pcount)]

    def shuffle_writer(self):
        writer = SortedRunWriter(self.id, self._pcount, self.map_count, self.key,
                                 self.block_size, self.serialization, self.compression)
        return ExplainingWriter(writer, self.element_shape, f"{self!r} ({self.callsite})")

    def barrier_finish(self) -> Callable:
        return RangeBounds(self._pcount, f"{self!r} ({self.callsite})")


#: element shape -> (does this error message mean the shape was wrong?, what to do)
_SHAPE_HINTS = {
    "pairs": (("unpack", "subscriptable", "not iterable", "index out of range"),
              "key-wise operations (reduce_by_key, group_by_key, aggregate_by_key, join, "
              "cogroup, ...) need (key, value) pairs as elements: make them first with "
              "key_by(...), with_value(...) or map(lambda x: (key, value))"),
    "comparable": (("not supported between instances",),
                   "sort needs elements (or keys) that compare with each other: give "
                   "sort(key=...) returning values of one type"),
}


def explained(exc: Exception, shape: str, what: str) -> Exception:
    """A TypeError saying what to change when ``exc`` is about the elements' shape (else
    ``exc`` itself)."""
    markers, advice = _SHAPE_HINTS[shape]
    if not any(marker in str(exc) for marker in markers):
        return exc
    return TypeError(f"{what}: {advice} ({type(exc).__name__}: {exc})")


@dataclass(frozen=True, slots=True, eq=False)
class ExplainingLocal:
    """The map-side step of a key-wise operation (``for k, v in data``), with its errors about
    non-pairs explained as ``ExplainingWriter`` does."""

    local: Callable
    what: str

    def __call__(self, data):
        try:
            return self.local(data)
        except (TypeError, ValueError, IndexError) as exc:
            better = explained(exc, "pairs", self.what)
            if better is exc:
                raise
            raise better from exc


@dataclass(frozen=True, slots=True, eq=False)
class ExplainingWriter:
    """A ShuffleWriter whose errors about the elements' shape say what the user should do
    (the bare ``cannot unpack non-iterable int object`` does not)."""

    writer: ShuffleWriter
    shape: str
    what: str

    def __call__(self, map_idx: int, data):
        try:
            return self.writer(map_idx, data)
        except (TypeError, ValueError, IndexError) as exc:
            better = explained(exc, self.shape, self.what)
            if better is exc:
                raise
            raise better from exc

    def __getattr__(self, name: str):
        if name in ExplainingWriter.__slots__:
            raise AttributeError(name)
        return getattr(self.writer, name)


_first = itemgetter(0)


@dataclass(frozen=True, slots=True, eq=False)
class Merge:
    """The read side of a plain shuffle: concatenate, sort or de-duplicate the blocks."""

    kind: str
    key: Callable | None
    sort: bool
    reverse: bool = False

    def __call__(self, blocks: Iterator[tuple[int, list]]) -> Iterable:
        if self.kind == "set":
            merged: set = set()
            for _, records in blocks:
                merged.update(records)
            return list(merged)
        if self.kind == "dict":
            key = self.key
            by_key: dict = {}
            for _, records in blocks:
                records = records if isinstance(records, list) else list(records)
                if key is None:
                    by_key.update(zip(records, records))
                else:
                    by_key.update(zip(map(key, records), records))
            return list(by_key.values())
        out: list = []
        if self.sort:
            for _, records in blocks:
                out.extend(records)
        else:  # in map order, whichever holder answered first
            for _, records in sorted(blocks, key=_first):
                out.extend(records)
        if self.sort:
            sort_records(out, self.key, self.reverse)
        return out
