"""The worker side of a shuffle: bucketing map output into blocks, and fetching a bucket.

A map-side task splits its partition into ``pcount`` buckets, serializes each bucket (in
batches, so memory stays bounded) into blocks in the worker's ``BlockStore`` under keys
``("shuffle", shuffle_id, map_idx, bucket_idx, seq)`` and returns a small ``Manifest`` saying
how many blocks each bucket has and on which worker they are. A reduce-side task pulls block
``bucket_idx`` of every manifest: from its own store when it holds them, else with one
``bndl_get_blocks`` request per holding worker over dask's comms. When a holder is gone or has
lost blocks, the reader raises ``DependenciesFailed`` naming the writers to re-run.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import marshal
import pickle
import sys
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

try:  # optional: with it, sorts of ints sort and move int64 arrays rather than int objects
    import numpy
except ImportError:  # pragma: no cover - numpy is in the test extra
    numpy = None

from bndl_dask.util.hashing import portable_hash
from bndl_dask.util.serialization import compress, decompress, dumps, loads
from bndl_dask.worker.exceptions import DependenciesFailed

#: the int64 layout of ``N`` blocks (explicitly little-endian: blocks move between machines)
_INT64 = "<i8"
#: bucket kinds: what a bucket is while it fills on the map side
KINDS = ("list", "sorted", "set", "dict")
#: records bucketed between checks of the buckets' sizes (sets, dicts and combined buckets)
_CHUNK = 65536
#: records bucketed at a time before each bucket's share is encoded (plain buckets)
_SEGMENT = 8192
#: records a map task holds before it writes all its buckets out (well compressible records
#: would otherwise make "a few blocks' worth" very many records)
_MAX_BUFFERED = 1_000_000
#: how long a reducer waits for one holder before counting it as lost (seconds)
FETCH_TIMEOUT = 120
#: how long a reducer tries to connect to a holder before counting it as lost (seconds)
CONNECT_TIMEOUT = 5


class Manifest:
    """What one map task wrote: where (worker name and address), blocks per bucket (per run,
    for a sort) and, for a sort, a sample of its keys as ``(keys, weights)``."""

    __slots__ = ("worker", "address", "map_idx", "counts", "sample")

    def __init__(self, worker: str, address: str, map_idx: int, counts: array,
                 sample: tuple | None = None):
        self.worker = worker
        self.address = address
        self.map_idx = map_idx
        self.counts = counts
        self.sample = sample

    def __reduce__(self):
        return (Manifest, (self.worker, self.address, self.map_idx, self.counts, self.sample))

    def __repr__(self) -> str:
        return f"<Manifest {self.map_idx} on {self.worker}: {sum(self.counts)} blocks>"


_gc_lock = threading.Lock()
_gc_state = {"holders": 0, "was_enabled": True}


@contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while many containers are built at once.

    Unpickling or grouping hundreds of thousands of tuples and lists otherwise triggers a
    collection every few hundred allocations, each scanning the growing heap: that costs more
    than the work itself. Nested and concurrent users (tasks in threads) are counted; the
    collector is enabled again (if it was) when the last one leaves.
    """
    with _gc_lock:
        if _gc_state["holders"] == 0:
            _gc_state["was_enabled"] = gc.isenabled()
            gc.disable()
        _gc_state["holders"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_state["holders"] -= 1
            if _gc_state["holders"] == 0 and _gc_state["was_enabled"]:
                gc.enable()


def encode_raw(records: list, serialization: str) -> bytes:
    """The uncompressed bytes of ``records``: a tag byte, then the body. With 'pickle',
    records made only of exact builtin types (ints, floats, strs, bytes, tuples, lists, dicts,
    sets, None, bools) are marshalled (tag ``M``): several times faster than pickle for
    tuples, and exact for those types; anything else is pickled (``P``).

    (Packing ints into an ``array`` is no faster: it needs a second pass to check the types,
    and a pass over boxed ints in sorted order costs mostly cache misses.)
    """
    if serialization == "pickle":
        try:
            return b"M" + marshal.dumps(records, 2)  # version 2: no back-references, faster
        except ValueError:
            return b"P" + pickle.dumps(records, protocol=5)
    return b"S" + dumps(records, serialization)


def encode_pairs(keys: list, values: list, serialization: str) -> bytes:
    """The uncompressed bytes of the pairs ``zip(keys, values)``, as two columns where the
    serialization allows (tag ``K``: marshalled, ``Q``: pickled). Columns of ints decode in
    about half the time of a list of pairs (no tuple per pair) and take a third less room."""
    if serialization == "pickle":
        try:
            return b"K" + marshal.dumps((keys, values), 2)
        except ValueError:
            return b"Q" + pickle.dumps((keys, values), protocol=5)
    return encode_raw(list(zip(keys, values)), serialization)


def encode_block(records: list, serialization: str, compression: str | None) -> bytes:
    """One block's bytes: ``records`` encoded (``encode_raw``), then compressed."""
    return compress(encode_raw(records, serialization), compression)


def join_segments(segments: list[bytes]) -> bytes:
    """One raw block made of several encoded segments (``encode_raw``, ``encode_pairs``; tag
    ``C``): their count and lengths (little-endian uint32), then the segments."""
    if len(segments) == 1:
        return segments[0]
    lengths = array("I", map(len, segments))
    if sys.byteorder != "little":  # pragma: no cover - blocks move between machines
        lengths.byteswap()
    return b"".join((b"C", len(segments).to_bytes(4, "little"), lengths.tobytes(), *segments))


def _split_segments(raw) -> Iterator[memoryview]:
    view = memoryview(raw)
    count = int.from_bytes(view[1:5], "little")
    lengths = array("I")
    lengths.frombytes(view[5:5 + 4 * count])
    if sys.byteorder != "little":  # pragma: no cover
        lengths.byteswap()
    pos = 5 + 4 * count
    for length in lengths:
        yield view[pos:pos + length]
        pos += length


def int64_array(records: list):
    """``records`` as a numpy int64 array when numpy is installed and every record is an exact
    int that fits in 64 bits (bools and int subclasses would come back as plain ints); else
    None. Cheapest before sorting, while the int objects still lie in memory in order."""
    if numpy is None or not records or type(records[0]) is not int:
        return None
    if set(map(type, records)) != {int}:
        return None
    try:
        return numpy.fromiter(records, dtype=_INT64, count=len(records))
    except OverflowError:
        return None


def encode_int64_block(values, compression: str | None) -> bytes:
    """A block of an int64 array: its raw bytes (tag ``N``)."""
    return compress(b"N" + values.tobytes(), compression)


def int64_values(raw: bytes):
    """The int64 array of a decompressed ``N`` block; None for a block of another kind."""
    if bytes(raw[:1]) != b"N":
        return None
    if numpy is None:
        raise RuntimeError("a worker with numpy wrote this block of ints: install numpy on "
                           "every worker (or on none)")
    return numpy.frombuffer(raw, dtype=_INT64, offset=1)


def decode_block(blob: bytes, serialization: str, compression: str | None) -> Iterable:
    """The records of a block: a list, or an iterable of pairs for a block of pairs."""
    return decode_records(decompress(blob, compression), serialization)


def decode_records(raw, serialization: str) -> Iterable:
    """The records of a decompressed block; pairs stored as columns come as a lazy ``zip``
    (no tuple is made for a pair that is unpacked at once), a block of segments as a chain
    that decodes one segment at a time."""
    tag = bytes(raw[:1])
    if tag == b"C":
        segments = _split_segments(raw)
        return itertools.chain.from_iterable(
            decode_records(segment, serialization) for segment in segments)
    if tag == b"K":
        return zip(*marshal.loads(memoryview(raw)[1:]))
    if tag == b"Q":
        return zip(*pickle.loads(memoryview(raw)[1:]))
    return decode_raw(raw, serialization)


def decode_raw(raw, serialization: str) -> list:
    """The records of a decompressed block (bytes or a memoryview of them), as a list."""
    tag = bytes(raw[:1])
    if tag in (b"C", b"K", b"Q"):
        return list(decode_records(raw, serialization))
    if tag == b"N":
        return int64_values(raw).tolist()
    body = memoryview(raw)[1:]
    if tag == b"M":
        return marshal.loads(body)
    if tag == b"P":
        return pickle.loads(body)
    return loads(bytes(body), serialization)


def writer_task_id(shuffle_id: str, map_idx: int) -> tuple[str, int]:
    """The id the planner gives the writer of map partition ``map_idx``."""
    return (shuffle_id + ".w", map_idx)


def local_blocks():
    """Inside a task: this worker's BlockStore."""
    from distributed import get_worker

    from bndl_dask.worker.services import services_for

    return services_for(get_worker()).blocks


class ShuffleWriter:
    """The map side of one shuffle: ``writer(map_idx, data) -> Manifest`` (runs on a worker).

    ``placement`` is ``("hash",)`` (portable hash of the key) or ``("func", partitioner)``
    (sorts have their own writer: ``range_shuffle.SortedRunWriter``). ``key`` is a callable or
    None (the element). With ``pairs``, records are ``(key, value)`` pairs (``key`` is then
    not called) and plain buckets are stored as a column of keys and one of values.
    """

    def __init__(self, shuffle_id: str, pcount: int, placement: tuple, key: Callable | None,
                 kind: str = "list", comb: Callable | None = None, sort: bool = False,
                 block_size: int = 8 * 2**20, serialization: str = "pickle",
                 compression: str | None = "lz4", pairs: bool = False):
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

    def __call__(self, map_idx: int, data: Any) -> Manifest:
        from bndl_dask.worker.runtime import current_worker

        worker = current_worker()
        store = local_blocks()
        counts = array("I", bytes(4 * self.pcount))
        data = () if data is None else data
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
        iterator = iter(data)
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

    def check(self, buckets: list) -> None:
        per_block = self.block_records
        # bound the memory the buffered records take: a few blocks' worth in all buckets
        if self.buffered >= min(max(4 * per_block, 2 * _CHUNK), _MAX_BUFFERED):
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
            _sort_records(records, writer.key)
        if writer.comb is not None:
            records = writer.comb(records)
            records = list(records) if records is not None else []
        if records:
            blob = encode_block(records, writer.serialization, writer.compression)
            self.record_bytes = max(len(blob) / len(records), 1.0)
            seq = self.counts[idx]
            key = ("shuffle", writer.shuffle_id, self.map_idx, idx, seq)
            self.store.put(key, blob)
            self.counts[idx] = seq + 1
        self.buffered -= len(bucket)
        bucket.clear()  # in place: the adders stay bound to it


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


def _sort_records(records: list, key: Callable | None, reverse: bool = False) -> None:
    """Sort in place by ``key``; keys of mixed types are ordered by type name first."""
    try:
        records.sort(key=key, reverse=reverse)
    except TypeError:
        base = key if key is not None else (lambda e: e)
        try:
            records.sort(key=lambda e: _type_order(base(e)), reverse=reverse)
        except TypeError:
            pass  # keys that cannot be ordered at all stay in arrival order


def _type_order(value: Any) -> tuple:
    if value is None:
        return ("", 0)
    if isinstance(value, (bool, int, float)):
        return ("0", value)
    return (type(value).__name__, value)


sort_records = _sort_records


# -- reading --------------------------------------------------------------------------------------


def fetch_bucket(shuffle_id: str, bucket_idx: int, manifests: Sequence[Any],
                 ) -> Iterator[tuple[int, bytes]]:
    """``(map_idx, blob)`` for every block of bucket ``bucket_idx``: this worker's own blocks
    first, read while the other holders' blocks are on their way (one request per holder, all
    sent at once), then those. Blocks of one map task come in order.

    ``manifests`` are the barrier's results (``Computed`` objects whose ``value`` is a
    ``Manifest``, or Manifests). Raises ``DependenciesFailed`` naming the writers whose blocks
    could not be had, once every block that could be had was yielded.
    """
    from distributed import get_worker

    from bndl_dask.worker.services import services_for

    dask_worker = get_worker()
    services = services_for(dask_worker)
    local_address = dask_worker.address
    by_holder: dict[str, list] = {}
    names: dict[str, str] = {}
    for item in manifests:
        manifest = item.value if not isinstance(item, Manifest) else item
        count = manifest.counts[bucket_idx]
        if not count:
            continue
        names[manifest.address] = manifest.worker
        keys = by_holder.setdefault(manifest.address, [])
        for seq in range(count):
            keys.append(("shuffle", shuffle_id, manifest.map_idx, bucket_idx, seq))
    lost: dict[str, set[int]] = {}
    local_keys = by_holder.pop(local_address, None)
    remote = start_fetch(dask_worker, {
        address: {"op": "bndl_get_blocks", "keys": keys}
        for address, keys in by_holder.items()}) if by_holder else None
    try:
        for key in local_keys or ():
            try:
                blob = services.blocks.get(key)
            except (KeyError, FileNotFoundError):
                lost.setdefault(names[local_address], set()).add(key[2])
            else:
                yield key[2], blob
        answers = remote.result() if remote is not None else {}
    finally:
        if remote is not None and not remote.done():
            remote.cancel()  # the reader gave up (an error, or the task was cancelled)
    for address, (found, error) in answers.items():
        keys = by_holder[address]
        if error is not None:
            lost.setdefault(names[address], set()).update(key[2] for key in keys)
            continue
        missing = {tuple(key) for key in found["missing"]}
        blocks = iter(found["blocks"])
        for key in keys:
            if key in missing:
                lost.setdefault(names[address], set()).add(key[2])
            else:
                yield key[2], next(blocks)
    if lost:
        raise DependenciesFailed({
            name: [writer_task_id(shuffle_id, idx) for idx in sorted(indices)]
            for name, indices in lost.items()})


def start_fetch(dask_worker, requests: dict[str, dict]):
    """``fetch_from_holders`` in the background: a ``concurrent.futures.Future``."""
    return asyncio.run_coroutine_threadsafe(_ask_holders(dask_worker, requests),
                                            dask_worker.loop.asyncio_loop)


def fetch_from_holders(dask_worker, requests: dict[str, dict]) -> dict[str, tuple]:
    """Send each holder its request (a comm message) at once; ``address -> (answer, error)``,
    with ``error`` set when the holder could not be reached or failed to answer."""
    if not requests:
        return {}
    return start_fetch(dask_worker, requests).result()


async def _ask_holders(dask_worker, requests: dict[str, dict]) -> dict[str, tuple]:
    from distributed.core import send_recv

    pool = dask_worker.rpc
    # asked alongside the connects, not before them: a holder the scheduler no longer lists
    # is given up at once, where dask's connect would retry its dead address until the connect
    # timeout; a live holder costs no extra round trip
    listed = asyncio.ensure_future(dask_worker.scheduler.ncores(workers=list(requests)))

    async def gone(address: str) -> bool:
        try:
            return address not in await listed
        except Exception:  # the scheduler is unreachable: go by the holder itself
            return False

    async def one(address: str, message: dict):
        connecting = asyncio.ensure_future(pool.connect(address, timeout=CONNECT_TIMEOUT))
        await asyncio.wait({connecting, listed}, return_when=asyncio.FIRST_COMPLETED)
        if not connecting.done() and await gone(address):
            connecting.cancel()
            return address, (None, ConnectionError(f"holder {address} has left the cluster"))
        try:
            comm = await connecting
        except Exception as exc:
            return address, (None, exc)
        try:
            response = await asyncio.wait_for(send_recv(comm, **message), FETCH_TIMEOUT)
            return address, (response, None)
        except Exception as exc:  # the holder died or broke the connection meanwhile
            comm.abort()
            return address, (None, exc)
        finally:
            pool.reuse(address, comm)

    try:
        pairs = await asyncio.gather(*(one(a, m) for a, m in requests.items()))
    finally:
        if not listed.done():
            listed.cancel()
    return dict(pairs)


def decode_blocks(blobs: Sequence[tuple[int, bytes]], serialization: str,
                  compression: str | None) -> Iterator[tuple[int, Iterable]]:
    """``(map_idx, records)`` per block, decoded lazily (one block in memory at a time);
    ``records`` is a list, or an iterable of pairs for the blocks of a key-wise shuffle."""
    for map_idx, blob in blobs:
        yield map_idx, decode_block(blob, serialization, compression)
