"""A hash that is the same in every process.

Python salts ``hash()`` of ``str`` and ``bytes`` per process, and with them the hash of whatever
hashes through them: dates and times, enum members, paths. Worker processes started by a dask
nanny happen to share one seed, but the driver does not (it computes placements too, for
``lookup``), nor do workers started without a nanny; keys hashed in two such processes would land
in different partitions. ``portable_hash`` is defined per kind of key:

* ``None``: 0;
* ``str`` and bytes-like: a fixed digest of their (UTF-8) bytes;
* numbers (int, float, complex and their subclasses, such as bool and IntEnum): Python's numeric
  hash, which is not salted, so ``1``, ``1.0`` and ``True`` land together, ``False`` in
  partition 0 and small ints in ``value % pcount``;
* ``date``, ``datetime`` and ``time``: their fields (aware ones at their UTC value, as they
  compare); enum members (other than int and str ones): their value; pure paths: their text;
* tuples and lists: Python's own tuple hash when every item hashes by ``hash()`` (numbers and
  other objects), otherwise a fixed combination of their items' portable hashes; frozensets:
  the XOR of their items';
* any other object: its own ``hash()``. That is portable when the class hashes fields that are
  (ints, floats, ...), not when it hashes strings (a dataclass of ``str`` fields, say).

It runs once per record in a shuffle, so the common key types (int, str, tuples of ints) are
dispatched on their exact type first, without the ``isinstance`` chain or recursive calls; every
fast path gives exactly the value of the general one (``_general_hash``).
"""

from __future__ import annotations

import datetime
import enum
import numbers
import zlib
from collections.abc import Callable
from pathlib import PurePath, PureWindowsPath
from typing import Any

_MASK = (1 << 61) - 1
_crc32 = zlib.crc32
_adler32 = zlib.adler32
_DAY_SECONDS = 86400
#: kinds with a portable hash of their own (``_general_hash``): tuples holding one of these
#: cannot take Python's tuple hash
_OWN_RULE = (str, bytes, bytearray, memoryview, tuple, list, frozenset, datetime.date,
             datetime.time, enum.Enum, PurePath)


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


def _hashes_plainly(item: Any) -> bool:
    """Whether ``_general_hash(item)`` is ``hash(item)``."""
    return isinstance(item, (int, float, complex)) or not (
        item is None or isinstance(item, _OWN_RULE))


def _tuple_hash(value: tuple) -> int:
    if len(value) == 2:  # a pair of ints (e.g. a grid cell or a (year, month))
        first, second = value
        if type(first) is int and type(second) is int:
            return hash(value)
    # _general_hash's combination with its ints and strs hashed inline (no call per item),
    # unless every item turns out to hash by hash(): then Python's tuple hash (in C)
    plain = True
    h = 0x345678
    for item in value:
        kind = type(item)
        if kind is int:
            item_hash = hash(item)
        elif kind is str:
            item_hash = _str_hash(item)
            plain = False
        else:
            item_hash = portable_hash(item)
            if plain and kind is not float:
                plain = _hashes_plainly(item)
        h = ((h ^ item_hash) * 1099511628211) & _MASK
    return hash(value) if plain else h ^ len(value)


def _clock_hash(days: int, seconds: int, microseconds: int) -> int:
    return hash((days, seconds, microseconds))


def _date_hash(value: datetime.date) -> int:
    return _clock_hash(value.toordinal(), -1, 0)  # -1: never a datetime's seconds


def _utcoffset(value: datetime.datetime | datetime.time) -> datetime.timedelta | None:
    # as Python's own hash: the offset of the first of two ambiguous wall times, so that an
    # aware value equal to another by its wall time (the same tzinfo) hashes alike
    return (value.replace(fold=0) if value.fold else value).utcoffset()


def _datetime_hash(value: datetime.datetime) -> int:
    offset = _utcoffset(value)
    if offset is not None:  # aware: equal to every datetime of the same UTC instant
        value = (value - offset).replace(tzinfo=None)
    seconds = value.hour * 3600 + value.minute * 60 + value.second
    return _clock_hash(value.toordinal(), seconds, value.microsecond)


def _time_hash(value: datetime.time) -> int:
    seconds = value.hour * 3600 + value.minute * 60 + value.second
    offset = _utcoffset(value)
    if offset is not None:  # aware: equal to every time of the same UTC value
        seconds = (seconds - int(offset.total_seconds())) % _DAY_SECONDS
    return _clock_hash(0, seconds, value.microsecond)


def _path_hash(value: PurePath) -> int:
    text = str(value)
    # Windows paths compare without regard to case
    return _str_hash(text.lower() if isinstance(value, PureWindowsPath) else text)


#: exact types whose portable hash has a direct function (subclasses take the general path)
_BY_TYPE: dict[type, Callable[[Any], int]] = {
    int: hash, float: hash, bool: hash, str: _str_hash, tuple: _tuple_hash, bytes: _digest,
    datetime.date: _date_hash, datetime.datetime: _datetime_hash}


def portable_hash(value: Any) -> int:
    """Hash ``value`` identically in every process.

    >>> portable_hash('spam') == portable_hash('spam')
    True
    >>> portable_hash(None), portable_hash(False), portable_hash(7)
    (0, 0, 7)
    >>> portable_hash((3, 4)) == hash((3, 4))  # a tuple of numbers: Python's tuple hash
    True
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
        if all(_hashes_plainly(item) for item in value):
            return hash(tuple(value))
        h = 0x345678
        for item in value:
            h = _mix(h, portable_hash(item))
        return h ^ len(value)
    if isinstance(value, frozenset):
        h = 0
        for item in value:
            h ^= portable_hash(item)
        return h
    if isinstance(value, datetime.datetime):  # before date: a datetime is a date
        return _datetime_hash(value)
    if isinstance(value, datetime.date):
        return _date_hash(value)
    if isinstance(value, datetime.time):
        return _time_hash(value)
    if isinstance(value, enum.Enum):
        return portable_hash(value.value)
    if isinstance(value, PurePath):
        return _path_hash(value)
    # Other objects: their own __hash__ (only safe when it is not salted, as for most
    # user classes that hash their fields made of ints/floats)
    return hash(value)


def hashes_portably(value: Any) -> bool:
    """Whether ``portable_hash(value)`` is the same in every process for sure: not when it
    falls back on the ``hash()`` of a class it knows nothing about (which may be salted).

    >>> hashes_portably(('a', 1, datetime.date(2024, 1, 1))), hashes_portably(object())
    (True, False)
    """
    if value is None or isinstance(value, (str, bytes, bytearray, memoryview, numbers.Number,
                                           datetime.date, datetime.time, datetime.timedelta,
                                           PurePath)):
        return True
    if isinstance(value, enum.Enum):
        return hashes_portably(value.value)
    if isinstance(value, (tuple, list, frozenset)):
        return all(hashes_portably(item) for item in value)
    return False
