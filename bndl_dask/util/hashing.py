"""A hash that is the same in every process.

Python salts ``hash()`` of ``str`` and ``bytes`` per process, so keys hashed by two worker processes
would land in different partitions. ``portable_hash`` keeps ``hash()`` where it is not salted
(ints, bools, floats: so ``False`` lands in partition 0 and small ints in ``value % pcount``) and
uses a keyed-free stable digest for strings and bytes.
"""

from __future__ import annotations

import zlib
from typing import Any

_MASK = (1 << 61) - 1


def _mix(h: int, item_hash: int) -> int:
    # FNV-style combination, kept within 61 bits like CPython's tuple hash
    return ((h ^ item_hash) * 1099511628211) & _MASK


def portable_hash(value: Any) -> int:
    """Hash ``value`` identically in every process.

    >>> portable_hash('spam') == portable_hash('spam')
    True
    >>> portable_hash(None), portable_hash(False), portable_hash(7)
    (0, 0, 7)
    """
    if value is None:
        return 0
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        return zlib.crc32(data) | (zlib.adler32(data) << 32)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return zlib.crc32(data) | (zlib.adler32(data) << 32)
    if isinstance(value, (int, float, complex)):
        return hash(value)
    if isinstance(value, (tuple, list)):
        h = 0x345678
        for item in value:
            h = _mix(h, portable_hash(item))
        return h ^ len(value)
    if isinstance(value, frozenset):
        h = 0
        for item in value:
            h ^= portable_hash(item)
        return h
    # Other objects: their own __hash__ (only safe when it is not salted, as for most
    # user classes that hash their fields made of ints/floats)
    return hash(value)
