"""The map side of a shuffle: bucketing a partition's records into blocks.

A map-side task splits its partition into ``pcount`` buckets, serializes each bucket (in
batches, so memory stays bounded) into blocks in the worker's block store under keys
``("shuffle", shuffle_id, map_idx, bucket_idx, seq)`` and returns a small ``Manifest`` saying
how many blocks each bucket has and on which worker they are (``shuffle_fetch`` reads them).
"""

from __future__ import annotations

import itertools
import operator
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from distributed import get_worker

from bndl_dask.util.gc_pause import gc_paused
from bndl_dask.util.hashing import portable_hash
from bndl_dask.util.serialization import compress
from bndl_dask.worker.blocks import encode_block, encode_pairs, encode_raw, join_segments
from bndl_dask.worker.manifest import Manifest
from bndl_dask.worker.runtime import current_worker
from bndl_dask.worker.services import local_blocks
from bndl_dask.worker.sorting import sort_records

#: bucket kinds: what a bucket is while it fills on the map side
KINDS = ("list", "sorted", "set", "dict")
#: records bucketed between checks of the buckets' sizes (sets, dicts and combined buckets)
_CHUNK = 65536
#: records bucketed at a time before each bucket's share is encoded (plain buckets)
_SEGMENT = 8192
#: records a map task holds before it writes all its buckets out (well compressible records
#: would otherwise make "a few blocks' worth" very many records)
_MAX_BUFFERED = 1_000_000
#: share of a task slot's part of its worker's memory limit that reduce_by_key's map-side
#: combine may fill before it writes its pairs out
COMBINE_MEMORY_SHARE = 1 / 8
_MISSING = object()


class ShuffleWriter:
    """The map side of one shuffle: ``writer(map_idx, data) -> Manifest`` (runs on a worker).

    ``placement`` is ``("hash",)`` (portable hash of the key) or ``("func", partitioner)``
    (sorts have their own writer: ``range_shuffle.SortedRunWriter``). ``key`` is a callable or
    None (the element). With ``pairs``, records are ``(key, value)`` pairs (``key`` is then
    not called) and plain buckets are stored as a column of keys and one of values.

    ``reduce(v1, v2)`` (with ``pairs``): the values of a key are reduced map-side as they are
    bucketed (reduce_by_key's combine, fused with the bucketing: one dict operation per record,
    and a bucket's dict is small enough to stay in the CPU's cache). A bucket's dict is written
    out when it grows past its share of the buffer, so memory stays bounded however many keys
    a partition has; the read side merges the partial reductions.
    """

    #: several map partitions computed by one task may be written as one (one manifest)
    merges_partitions = True

    def __init__(self, shuffle_id: str, pcount: int, placement: tuple, key: Callable | None,
                 kind: str = "list", comb: Callable | None = None, sort: bool = False,
                 block_size: int = 8 * 2**20, serialization: str = "pickle",
                 compression: str | None = "lz4", pairs: bool = False,
                 reduce: Callable | None = None):
        self.shuffle_id = shuffle_id
        self.pcount = pcount
        self.placement = placement
        self.key = key
        self.kind = kind
        self.comb = comb
        self.sort = sort
        self.block_size = block_size
        self.serialization = serialization
        self.compression = compression
        self.pairs = pairs  # records are (key, value) pairs, placed by their key
        self.reduce = reduce

    def __call__(self, map_idx: int, data: Any) -> Manifest:
        worker = current_worker()
        store = local_blocks()
        counts = array("I", bytes(4 * self.pcount))
        iterator = iter(() if data is None else data)
        if self.reduce is not None:
            with gc_paused():
                self._write_reduced(iterator, _WriteState(self, store, map_idx, counts))
            return Manifest(worker.name, worker.address, map_idx, counts)
        n = self.pcount
        if self.kind == "set":
            buckets: list = [set() for _ in range(n)]
            adders = [b.add for b in buckets]
        elif self.kind == "dict":
            buckets = [{} for _ in range(n)]
            adders = [b.__setitem__ for b in buckets]
        else:
            buckets = [[] for _ in range(n)]
            adders = [b.append for b in buckets]
        with gc_paused():
            if self.kind in ("set", "dict") or self.comb is not None:
                # buckets that de-duplicate or combine work best filled as far as they go
                state = _WriteState(self, store, map_idx, counts)
                while True:
                    chunk = list(itertools.islice(iterator, _CHUNK))
                    if not chunk:
                        break
                    self._place(chunk, adders)
                    state.buffered += len(chunk)
                    state.check(buckets)
                state.flush_all(buckets)
            else:
                out = _SegmentedOutput(self, store, map_idx, counts)
                segment = max(_SEGMENT, 4 * n)
                values = [[] for _ in range(n)] if self.pairs else None
                value_adders = [b.append for b in values] if values is not None else None
                while True:
                    # placed straight from the iterator: a list of the chunk first costs more
                    # than the placing loop saves
                    chunk = itertools.islice(iterator, segment)
                    if values is None:
                        self._place(chunk, adders)
                    else:
                        self._place_pairs(chunk, adders, value_adders)
                    placed = sum(map(len, buckets))
                    out.add(buckets, values)
                    if placed < segment:
                        break
                out.close()
        return Manifest(worker.name, worker.address, map_idx, counts)

    def _write_reduced(self, iterator: Iterator, state: _WriteState) -> None:
        """reduce_by_key's map side: reduce the values of every key into one dict, then bucket
        the keys it holds and write them out, whenever it holds its share of the buffer (so
        memory stays bounded however many keys the partition has) and at the end.

        Reducing first and bucketing each distinct key once is about twice as fast as bucketing
        every record (no hash, modulo and bucket lookup per record, one dict in the CPU's cache
        instead of many) and no slower when every key is distinct.
        """
        acc: dict = {}
        capacity = None
        while True:
            reduce_pairs(itertools.islice(iterator, _CHUNK), self.reduce, acc)
            # one record decides whether the iterator is exhausted (the loop keeps no count)
            following = next(iterator, _MISSING)
            if following is _MISSING:
                break
            reduce_pairs((following,), self.reduce, acc)
            if capacity is None:
                capacity = combine_capacity(acc)
            if len(acc) >= max(state.buffer_limit, capacity):
                self._flush_reduced(acc, state)
        self._flush_reduced(acc, state)

    def _flush_reduced(self, acc: dict, state: _WriteState) -> None:
        """Bucket the reduced pairs of ``acc`` by key, write each bucket as blocks of two
        columns (keys, values) and empty ``acc``."""
        if not acc:
            return
        n = self.pcount
        keys: list[list] = [[] for _ in range(n)]
        values: list[list] = [[] for _ in range(n)]
        self._place_pairs(acc.items(), [b.append for b in keys], [b.append for b in values])
        acc.clear()
        for idx in range(n):
            state.put_pairs(idx, keys[idx], values[idx])

    def _place_pairs(self, chunk: Iterable, key_adders: list, value_adders: list) -> None:
        """Add the key and the value of every pair of ``chunk`` to its bucket's columns."""
        n = self.pcount
        how = self.placement[0]
        if how == "hash":
            ph = portable_hash
            for k, v in chunk:
                idx = (hash(k) if type(k) is int else ph(k)) % n
                key_adders[idx](k)
                value_adders[idx](v)
        elif how == "func":
            partitioner = self.placement[1]
            for k, v in chunk:
                idx = partitioner(k) % n
                key_adders[idx](k)
                value_adders[idx](v)
        else:
            raise ValueError(f"unknown placement {how!r}")

    def _place(self, chunk: Iterable, adders: list) -> None:
        """Add every element of ``chunk`` to its bucket (the hot loop: kept flat)."""
        n = self.pcount
        key = self.key
        how = self.placement[0]
        by_key = self.kind == "dict"
        if n == 1 and not by_key:
            add = adders[0]
            for e in chunk:
                add(e)
            return
        if how == "hash":
            ph = portable_hash
            if key is None:
                if by_key:
                    for e in chunk:
                        adders[(hash(e) if type(e) is int else ph(e)) % n](e, e)
                else:
                    for e in chunk:
                        adders[(hash(e) if type(e) is int else ph(e)) % n](e)
            elif by_key:
                for e in chunk:
                    k = key(e)
                    adders[(hash(k) if type(k) is int else ph(k)) % n](k, e)
            else:
                for e in chunk:
                    k = key(e)
                    adders[(hash(k) if type(k) is int else ph(k)) % n](e)
        elif how == "func":
            partitioner = self.placement[1]
            if by_key:
                for e in chunk:
                    k = key(e) if key is not None else e
                    adders[partitioner(k) % n](k, e)
            elif key is None:
                for e in chunk:
                    adders[partitioner(e) % n](e)
            else:
                for e in chunk:
                    adders[partitioner(key(e)) % n](e)
        else:
            raise ValueError(f"unknown placement {how!r}")


def reduce_pairs(pairs: Iterable, func: Callable, acc: dict) -> dict:
    """Fold every ``(k, v)`` of ``pairs`` into ``acc[k]`` with ``func``: the hot loop of
    reduce_by_key's map side and of its (and combine_by_key's) read side, kept flat.

    >>> reduce_pairs([('a', 1), ('b', 2), ('a', 3)], operator.add, {'b': 10})
    {'b': 12, 'a': 4}
    """
    get = acc.get
    missing = _MISSING
    if func is operator.add:  # the common case: ~10% cheaper without the call
        for k, v in pairs:
            old = get(k, missing)
            acc[k] = v if old is missing else old + v
    else:
        for k, v in pairs:
            old = get(k, missing)
            acc[k] = v if old is missing else func(old, v)
    return acc


def combine_capacity(acc: dict, dask_worker: Any = None) -> int:
    """How many keys reduce_by_key's map-side combine may hold, judging by the pairs in ``acc``:
    ``COMBINE_MEMORY_SHARE`` of a task slot's part of the memory limit of ``dask_worker`` (by
    default the one running the task; 0 without a limit, or outside a worker). Writing the
    pairs out sooner would combine nothing once a partition has more distinct keys than a few
    blocks hold (W2 at 10x: 1 M keys)."""
    if dask_worker is None:
        try:
            dask_worker = get_worker()
        except ValueError:
            return 0
    limit = dask_worker.memory_manager.memory_limit
    if not limit or not acc:
        return 0
    sample = list(itertools.islice(acc.items(), 64))
    # a dict entry's own slots plus its key and value objects (shallow: nested ones unseen)
    entry_bytes = 100 + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in sample) / len(sample)
    share = limit / max(dask_worker.state.nthreads, 1) * COMBINE_MEMORY_SHARE
    return int(share / entry_bytes)


class _WriteState:
    """Turns full buckets into blocks; learns the serialized size of a record as it goes."""

    def __init__(self, writer: ShuffleWriter, store, map_idx: int, counts: array):
        self.writer = writer
        self.store = store
        self.map_idx = map_idx
        self.counts = counts
        self.buffered = 0
        self.record_bytes = 48.0  # first guess, corrected by every block written

    @property
    def block_records(self) -> int:
        return max(int(self.writer.block_size / self.record_bytes), 1024)

    @property
    def buffer_limit(self) -> int:
        """Records held before all buckets are written out: a few blocks' worth in all."""
        return min(max(4 * self.block_records, 2 * _CHUNK), _MAX_BUFFERED)

    def check(self, buckets: list) -> None:
        per_block = self.block_records
        if self.buffered >= self.buffer_limit:
            self.flush_all(buckets)
            return
        for idx, bucket in enumerate(buckets):
            if len(bucket) >= per_block:
                self.flush(buckets, idx)

    def flush_all(self, buckets: list) -> None:
        for idx, bucket in enumerate(buckets):
            if bucket:
                self.flush(buckets, idx)
        self.buffered = 0

    def flush(self, buckets: list, idx: int) -> None:
        writer = self.writer
        bucket = buckets[idx]
        if writer.kind == "dict":
            records = list(bucket.values())
        elif writer.kind == "set":
            records = list(bucket)
        else:
            records = bucket
        if writer.sort and writer.comb is not None:
            sort_records(records, writer.key)
        if writer.comb is not None:
            records = writer.comb(records)
            records = list(records) if records is not None else []
        if records:
            self._put(idx, encode_block(records, writer.serialization, writer.compression),
                      len(records))
        self.buffered -= len(bucket)
        bucket.clear()  # in place: the adders stay bound to it

    def put_pairs(self, idx: int, keys: list, values: list) -> None:
        """Write the pairs ``zip(keys, values)`` to bucket ``idx`` as columns, a block's worth
        of records at a time."""
        writer = self.writer
        step = self.block_records
        for start in range(0, len(keys), step):
            if start == 0 and len(keys) <= step:
                chunk_keys, chunk_values = keys, values
            else:
                chunk_keys, chunk_values = keys[start:start + step], values[start:start + step]
            raw = encode_pairs(chunk_keys, chunk_values, writer.serialization)
            self._put(idx, compress(raw, writer.compression), len(chunk_keys))

    def _put(self, idx: int, blob: bytes, records: int) -> None:
        self.record_bytes = max(len(blob) / records, 1.0)
        seq = self.counts[idx]
        self.store.put(("shuffle", self.writer.shuffle_id, self.map_idx, idx, seq), blob)
        self.counts[idx] = seq + 1


class _SegmentedOutput:
    """Plain buckets written a segment at a time: after every ``_SEGMENT`` records, each
    bucket's share is encoded at once and kept as a segment; a bucket's segments become a block
    once they reach the block size. Buckets hold every n-th record of the chunk; encoding them
    while the chunk is still in the CPU's cache is 3-5x faster than walking a bucket of
    records strewn over a large heap later."""

    def __init__(self, writer: ShuffleWriter, store, map_idx: int, counts: array):
        self.writer = writer
        self.store = store
        self.map_idx = map_idx
        self.counts = counts
        self.segments: list[list[bytes]] = [[] for _ in range(writer.pcount)]
        self.sizes = [0] * writer.pcount
        self.pending = 0

    def add(self, buckets: list, values: list | None = None) -> None:
        """Encode every non-empty bucket as a segment and empty it (in place: the adders stay
        bound); with ``values``, ``buckets`` hold the keys of pairs and ``values`` their values."""
        serialization = self.writer.serialization
        for idx, bucket in enumerate(buckets):
            if bucket:
                if values is None:
                    self._keep(idx, encode_raw(bucket, serialization))
                else:
                    self._keep(idx, encode_pairs(bucket, values[idx], serialization))
                    values[idx].clear()
                bucket.clear()
        # bound the memory the segments take: a few blocks' worth in all buckets
        if self.pending >= 4 * self.writer.block_size:
            self.close()

    def _keep(self, idx: int, segment: bytes) -> None:
        self.segments[idx].append(segment)
        self.sizes[idx] += len(segment)
        self.pending += len(segment)
        if self.sizes[idx] >= self.writer.block_size:
            self.emit(idx)

    def emit(self, idx: int) -> None:
        writer = self.writer
        raw = join_segments(self.segments[idx])
        seq = self.counts[idx]
        self.store.put(("shuffle", writer.shuffle_id, self.map_idx, idx, seq),
                       compress(raw, writer.compression))
        self.counts[idx] = seq + 1
        self.pending -= self.sizes[idx]
        self.segments[idx] = []
        self.sizes[idx] = 0

    def close(self) -> None:
        for idx, segments in enumerate(self.segments):
            if segments:
                self.emit(idx)

