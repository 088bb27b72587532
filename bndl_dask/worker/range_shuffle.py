"""The worker side of sorting: sorted runs, read back by key range.

A map task sorts its partition in runs (of at most ``RUN_RECORDS`` records, so its memory stays
bounded) and stores each run as consecutive blocks in the worker's ``BlockStore``, under keys
``("shuffle", shuffle_id, map_idx, run, seq)``. Next to them it stores the run's *fences*, the
first key of every block, and it returns a ``Manifest`` carrying an evenly spaced sample of its
keys. The barrier turns the samples of all map tasks into ``pcount - 1`` range boundaries
(``RangeBounds``). Output partition ``i`` then asks every holder for the blocks of range ``i``
(``bndl_get_range``): the holder picks them by their fences, the reader trims the one or two
blocks at the edges of each run and merges the runs, which timsort does in linear time.

So the data is read from its source once, sorted once (in pieces, on the map side), and each
block crosses the network once, apart from blocks straddling a boundary (cut small for that:
at least ``BLOCKS_PER_RANGE`` blocks per run and output partition).
"""

from __future__ import annotations

import itertools
import math
from array import array
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any

from distributed import get_worker

from bndl_dask.util.gc_pause import gc_paused
from bndl_dask.util.serialization import decompress, dumps
from bndl_dask.worker.blocks import (
    decode_raw,
    encode_block,
    encode_int64_block,
    int64_array,
    int64_values,
    numpy,
)
from bndl_dask.worker.exceptions import DependenciesFailed
from bndl_dask.worker.fetch import start_fetch
from bndl_dask.worker.int64_records import Int64Records
from bndl_dask.worker.manifest import Manifest, writer_task_id
from bndl_dask.worker.range_serving import fences_key, serve_range
from bndl_dask.worker.runtime import current_worker
from bndl_dask.worker.services import local_blocks, services_for

#: records sorted at a time on the map side (a partition larger than this makes several runs)
RUN_RECORDS = 1_000_000
#: blocks per run and output partition, at least: the smaller the blocks, the less a reader
#: fetches beyond its range (at most one block per run at each of its two ends)
BLOCKS_PER_RANGE = 8
#: the smallest block cut from a run (records)
MIN_BLOCK_RECORDS = 64
#: keys sampled per output partition over the whole shuffle (spread over the map tasks)
SAMPLES_PER_RANGE = 40


class SortedRunWriter:
    """The map side of a sort: ``writer(map_idx, data) -> Manifest`` (runs on a worker)."""

    def __init__(self, shuffle_id: str, pcount: int, map_count: int, key: Callable | None,
                 block_size: int = 8 * 2**20, serialization: str = "pickle",
                 compression: str | None = "lz4", run_records: int = RUN_RECORDS):
        self.shuffle_id = shuffle_id
        self.run_records = run_records
        self.pcount = pcount
        self.map_count = max(map_count, 1)
        self.key = key
        self.block_size = block_size
        self.serialization = serialization
        self.compression = compression

    def __call__(self, map_idx: int, data: Any) -> Manifest:
        worker = current_worker()
        counts, sample = self.write(local_blocks(), map_idx, data)
        return Manifest(worker.name, worker.address, map_idx, counts, sample)

    def write(self, store, map_idx: int, data: Any) -> tuple[array, tuple[list, list]]:
        """Sort ``data`` into runs in ``store``: blocks per run, and the sample."""
        counts = array("I")
        fences: list[list] = []
        sample_keys: list = []
        sample_weights: list[float] = []
        per_task = max(math.ceil(SAMPLES_PER_RANGE * self.pcount / self.map_count), 2)
        iterator = iter(() if data is None else data)
        with gc_paused():
            while True:
                run = list(itertools.islice(iterator, self.run_records))
                if not run:
                    break
                values = int64_array(run) if self._typed else None
                if values is not None:  # plain ints: sorted and stored as an int64 array
                    del run
                    values.sort(kind="stable")  # a radix sort for int64
                    run = values
                else:
                    run.sort(key=self.key)
                fences.append(self._write_run(store, map_idx, len(counts), run, counts))
                self._sample(run, per_task, sample_keys, sample_weights)
        store.put(fences_key(self.shuffle_id, map_idx), dumps(fences, "cloudpickle"))
        return counts, (sample_keys, sample_weights)

    @property
    def _typed(self) -> bool:
        """Whether runs of plain ints may be kept as int64 arrays (with numpy, sorting by the
        elements themselves, with the default serialization)."""
        return self.key is None and self.serialization == "pickle"

    def _keys_at(self, run, positions: list[int]) -> list:
        if not isinstance(run, list):  # an int64 array: its values as Python ints
            return run[positions].tolist()
        if self.key is None:
            return [run[i] for i in positions]
        return [self.key(run[i]) for i in positions]

    def _write_run(self, store, map_idx: int, run_idx: int, run, counts: array) -> list:
        """Store the sorted ``run`` (a list or an int64 array) as blocks; its fences (every
        block's first key) are returned."""
        typed = not isinstance(run, list)
        by_count = max(math.ceil(len(run) / (BLOCKS_PER_RANGE * self.pcount)), MIN_BLOCK_RECORDS)
        per_block = by_count
        starts = []
        start = seq = 0
        while start < len(run):
            block = run[start:start + per_block]
            if typed:
                blob = encode_int64_block(block, self.compression)
            else:
                blob = encode_block(block, self.serialization, self.compression)
            store.put(("shuffle", self.shuffle_id, map_idx, run_idx, seq), blob)
            starts.append(start)
            start += len(block)
            seq += 1
            # blocks also stay under the shuffle's block size
            record_bytes = max(len(blob) / len(block), 1.0)
            per_block = min(by_count, max(int(self.block_size / record_bytes), MIN_BLOCK_RECORDS))
        counts.append(seq)
        return self._keys_at(run, starts)

    def _sample(self, run, size: int, keys: list, weights: list) -> None:
        """Evenly spaced keys of the sorted ``run``, each weighing the records it stands for."""
        size = min(size, len(run))
        step = len(run) / size
        keys.extend(self._keys_at(run, [int(step * (i + 0.5)) for i in range(size)]))
        weights.extend(itertools.repeat(step, size))

    def __reduce__(self):
        return (SortedRunWriter, (self.shuffle_id, self.pcount, self.map_count, self.key,
                                  self.block_size, self.serialization, self.compression,
                                  self.run_records))


class RangeInputs(list):
    """The barrier's result for a sort: the map tasks' results plus the range boundaries.

    Output partition ``i`` holds the keys in ``(bounds[i - 1], bounds[i]]`` (open-ended at
    both ends of the key space).
    """

    def __init__(self, results: Sequence[Any], bounds: list):
        super().__init__(results)
        self.bounds = bounds

    def __reduce__(self):
        return (RangeInputs, (list(self), self.bounds))


class RangeBounds:
    """Runs in the barrier: ``pcount - 1`` boundaries splitting the sampled keys into ranges of
    equal weight. ``what`` names the sort in the error about keys that do not compare."""

    __slots__ = ("pcount", "what")

    def __init__(self, pcount: int, what: str = "sort"):
        self.pcount, self.what = pcount, what

    def __call__(self, *results: Any) -> RangeInputs:
        pairs = []
        for result in results:
            manifest = getattr(result, "value", result)
            pairs.extend(zip(*manifest.sample))
        try:
            pairs.sort(key=_first)
        except TypeError as exc:
            raise TypeError(
                f"{self.what}: sort needs elements (or keys) that compare with each other: give "
                f"sort(key=...) returning values of one type ({exc})") from None
        total = sum(weight for _, weight in pairs)
        bounds: list = []
        reached = 0.0
        for key, weight in pairs:
            reached += weight
            while len(bounds) < self.pcount - 1 and reached >= total * (len(bounds) + 1) / \
                    self.pcount:
                bounds.append(key)
        if pairs:  # should rounding have left the last boundaries out
            bounds.extend(itertools.repeat(pairs[-1][0], self.pcount - 1 - len(bounds)))
        return RangeInputs(results, bounds)

    def __reduce__(self):
        return (RangeBounds, (self.pcount, self.what))


def _first(pair: tuple) -> Any:
    return pair[0]


def range_limits(bounds: list, range_idx: int) -> tuple[bool, Any, bool, Any] | None:
    """``(has_low, low, has_high, high)`` of range ``range_idx``: keys in ``(low, high]``;
    None when the range is empty for want of boundaries (an empty dataset has none)."""
    if not bounds:
        return (False, None, False, None) if range_idx == 0 else None
    has_low, has_high = range_idx > 0, range_idx < len(bounds)
    return (has_low, bounds[range_idx - 1] if has_low else None,
            has_high, bounds[range_idx] if has_high else None)


# -- reading a range (on the reader) --------------------------------------------------------------


class PendingRange:
    """A key range's blocks per holder, with the other holders already asked for theirs. Made by
    ``fetch_range`` itself, or ahead of it: a task computing several partitions of a sort asks
    for the next one's range while it merges the current one."""

    __slots__ = ("local", "by_holder", "names", "limits_blob", "remote")

    def __init__(self, shuffle_id: str, limits: tuple, inputs: RangeInputs):
        dask_worker = get_worker()
        self.limits_blob = dumps(limits, "cloudpickle")
        self.by_holder: dict[str, list[int]] = {}
        self.names: dict[str, str] = {}
        for item in inputs:
            manifest = getattr(item, "value", item)
            if len(manifest.counts):
                self.by_holder.setdefault(manifest.address, []).append(manifest.map_idx)
                self.names[manifest.address] = manifest.worker
        self.local = self.by_holder.pop(dask_worker.address, None)
        self.remote = start_fetch(dask_worker, {
            address: {"op": "bndl_get_range", "shuffle_id": shuffle_id, "map_indices": indices,
                      "limits_blob": self.limits_blob}
            for address, indices in self.by_holder.items()}) if self.by_holder else None


def fetch_range(shuffle_id: str, limits: tuple, inputs: RangeInputs,
                pending: PendingRange | None = None) -> list[tuple]:
    """``(block key, blob)`` of every block that may hold keys within ``limits``, ordered
    by map task, run and position (the remote ones asked for already when ``pending`` is
    given). Raises DependenciesFailed naming the writers whose blocks could not be had."""
    if pending is None:
        pending = PendingRange(shuffle_id, limits, inputs)
    dask_worker = get_worker()
    store = services_for(dask_worker).blocks
    answers = {}
    local = pending.local
    if local:
        answers[dask_worker.address] = (serve_range(store, shuffle_id, local,
                                                    pending.limits_blob), None)
    if pending.remote is not None:
        try:
            answers.update(pending.remote.result())
        finally:
            if not pending.remote.done():
                pending.remote.cancel()  # the reader gave up (an error, or a cancelled task)
    lost: dict[str, list] = {}
    blobs = []
    for address, (answer, error) in answers.items():
        if error is not None:
            indices = local if address == dask_worker.address else pending.by_holder[address]
            lost.setdefault(pending.names[address], []).extend(indices)
            continue
        if answer["missing"]:
            lost.setdefault(pending.names[address], []).extend(answer["missing"])
        blobs.extend(zip(map(tuple, answer["keys"]), answer["blocks"]))
    if lost:
        raise DependenciesFailed({
            name: [writer_task_id(shuffle_id, idx) for idx in sorted(indices)]
            for name, indices in lost.items()})
    blobs.sort(key=lambda pair: pair[0][2:])
    return blobs


def merge_range(blobs: list[tuple], limits: tuple, key: Callable | None, reverse: bool,
                serialization: str, compression: str | None) -> list | Int64Records:
    """The records of one range, in order: each run's blocks decoded and trimmed to the
    range, then the runs merged; when every run is an int64 array, the merged array as
    ``Int64Records`` (Python ints only where it is read)."""
    has_low, low, has_high, high = limits
    exact_ints = (not has_low or type(low) is int) and (not has_high or type(high) is int)
    runs: list = []
    with gc_paused():
        for _, run_blobs in itertools.groupby(blobs, key=lambda pair: pair[0][2:4]):
            raws = [decompress(blob, compression) for _, blob in run_blobs]
            values = _int64_run(raws) if exact_ints else None
            if values is not None:
                start = int(values.searchsorted(low, "right")) if has_low else 0
                stop = int(values.searchsorted(high, "right")) if has_high else len(values)
                runs.append(values[start:stop])
                continue
            run: list = []
            for raw in raws:
                run.extend(decode_raw(raw, serialization))
            start = bisect_right(run, low, key=key) if has_low else 0
            stop = bisect_right(run, high, key=key) if has_high else len(run)
            runs.append(run[start:stop] if start or stop < len(run) else run)
        if runs and all(not isinstance(run, list) for run in runs):
            merged = numpy.concatenate(runs)
            merged.sort(kind="stable")  # a radix sort for int64
            return Int64Records(merged[::-1] if reverse else merged)
        out: list = []
        for run in runs:
            out.extend(run if isinstance(run, list) else run.tolist())
        out.sort(key=key, reverse=reverse)  # merges the sorted runs
    return out


def _int64_run(raws: list[bytes]):
    """One run's decompressed blocks as one int64 array, when all are int64 blocks; else
    None."""
    arrays = []
    for raw in raws:
        values = int64_values(raw)
        if values is None:
            return None
        arrays.append(values)
    return arrays[0] if len(arrays) == 1 else numpy.concatenate(arrays)
