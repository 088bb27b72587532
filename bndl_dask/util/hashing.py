"""A hash that is the same in every process.

Python salts ``hash()`` of ``str`` and ``bytes`` per process, so keys hashed by two worker processes
would land in different partitions. ``portable_hash`` keeps ``hash()`` where it is not salted
(ints, bools, floats: so ``False`` lands in partition 0 and small ints in ``value % pcount``) and
uses a keyed-free stable digest for strings and bytes.

It runs once per record in a shuffle, so the common key types (int, str, tuples of them) are
dispatched on their exact type first, without the ``isinstance`` chain or recursive calls; every
fast path gives exactly the value of the general one (``_general_hash``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

_MASK = (1 << 61) - 1
_crc32 = zlib.crc32
_adler32 = zlib.adler32


def _mix(h: int, item_hash: int) -> int:
    # FNV-style combination, kept within 61 bits like CPython's tuple hash
    return ((h ^ item_hash) * 1099511628211) & _MASK


def _digest(data) -> int:
    return _crc32(data) | (_adler32(data) << 32)


def _str_hash(value: str) -> int:
    try:
        # the default codec is faster than naming one; it gives the same bytes for every str
        # that has no lone surrogates (those fail, and take the named codec below)
        data = value.encode()
    except UnicodeEncodeError:
        data = value.encode("utf-8", "surrogatepass")
    return _crc32(data) | (_adler32(data) << 32)


def _tuple_hash(value: tuple) -> int:
    if len(value) == 2:  # a pair of ints (e.g. a grid cell or a (year, month)): unrolled
        first, second = value
        if type(first) is int and type(second) is int:
            h = ((0x345678 ^ hash(first)) * 1099511628211) & _MASK
            return (((h ^ hash(second)) * 1099511628211) & _MASK) ^ 2
    # _general_hash's loop with its ints and strs hashed inline (no call per item)
    h = 0x345678
    for item in value:
        kind = type(item)
        if kind is int:
            item_hash = hash(item)
        elif kind is str:
            item_hash = _str_hash(item)
        else:
            item_hash = portable_hash(item)
        h = ((h ^ item_hash) * 1099511628211) & _MASK
    return h ^ len(value)


#: exact types whose portable hash has a direct function (subclasses take the general path)
_BY_TYPE: dict[type, Callable[[Any], int]] = {
    int: hash, float: hash, bool: hash, str: _str_hash, tuple: _tuple_hash, bytes: _digest}


def portable_hash(value: Any) -> int:
    """Hash ``value`` identically in every process.

    >>> portable_hash('spam') == portable_hash('spam')
    True
    >>> portable_hash(None), portable_hash(False), portable_hash(7)
    (0, 0, 7)
    """
    kind = type(value)
    if kind is str:  # the commonest key after ints (which the shuffle writer hashes itself)
        try:
            data = value.encode()
        except UnicodeEncodeError:
            data = value.encode("utf-8", "surrogatepass")
        return _crc32(data) | (_adler32(data) << 32)
    fast = _BY_TYPE.get(kind)
    if fast is not None:
        return fast(value)
    return _general_hash(value)


def _general_hash(value: Any) -> int:
    """``portable_hash`` by ``isinstance``: the definition the fast paths must agree with."""
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
