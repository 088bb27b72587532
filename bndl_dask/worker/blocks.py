"""The block codec: how a batch of records becomes the bytes of one block, and back.

A block is compressed bytes whose first (uncompressed) byte says how the rest is encoded:

- ``M`` marshalled list, ``P`` pickled list, ``S`` list in a named serialization;
- ``K``/``Q`` pairs stored as a column of keys and one of values (marshalled/pickled);
- ``N`` a little-endian int64 array (the runs of a sort of plain ints);
- ``C`` several of the above, one after the other (the segments of a plain bucket).

>>> blob = encode_block([1, 'a', (2, 3)], 'pickle', 'lz4')
>>> decode_raw(decompress(blob, 'lz4'), 'pickle')
[1, 'a', (2, 3)]
>>> list(decode_records(join_segments([encode_pairs([1], ['x'], 'pickle'),
...                                    encode_raw([(2, 'y')], 'pickle')]), 'pickle'))
[(1, 'x'), (2, 'y')]
"""

from __future__ import annotations

import itertools
import marshal
import pickle
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence

try:  # optional: with it, sorts of ints sort and move int64 arrays rather than int objects
    import numpy
except ImportError:  # pragma: no cover - numpy is in the test extra
    numpy = None

from bndl_dask.util.serialization import compress, decompress, dumps, loads

#: the int64 layout of ``N`` blocks (explicitly little-endian: blocks move between machines)
_INT64 = "<i8"


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


def decode_blocks(blobs: Sequence[tuple[int, bytes]], serialization: str,
                  compression: str | None) -> Iterator[tuple[int, Iterable]]:
    """``(map_idx, records)`` per block, decoded lazily (one block in memory at a time);
    ``records`` is a list, or an iterable of pairs for the blocks of a key-wise shuffle."""
    for map_idx, blob in blobs:
        yield map_idx, decode_block(blob, serialization, compression)
