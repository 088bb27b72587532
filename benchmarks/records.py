"""The records of the key-wise workloads, in the key and value types users have (issue 15).

``--keys`` picks one or more of:

* ``int``: the integer keys of issues 5 and 15 (``i % keys``), integer values;
* ``str``: the same keys as 10-character strings (``'k000012345'``);
* ``tuple``: the same keys as pairs of ints (``(k // 1000, k % 1000)``);
* ``kb``: integer keys, values that are distinct 1 KB strings (the record number, then padding).

Every engine builds its records with the functions made here (cloudpickle ships them by value to
every engine's workers), and combines values with ``combine_values``: ``+`` for numbers, ``max``
for 1 KB strings (concatenating them would grow without bound).
"""

from __future__ import annotations

import operator
import zlib
from collections.abc import Callable
from typing import Any

KEY_TYPES = ("int", "str", "tuple", "kb")
_PAD = "x" * (1024 - 12)


def check_key_types(text: str) -> list[str]:
    """``'int,str'`` -> ``['int', 'str']``; an unknown name raises ValueError listing the known."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KEY_TYPES]
    if unknown or not kinds:
        raise ValueError(f"unknown key type(s) {', '.join(unknown) or repr(text)}; "
                         f"choose from {', '.join(KEY_TYPES)}")
    return list(dict.fromkeys(kinds))


def key_unit(keys: int, kind: str) -> Callable[[int], tuple]:
    """``i -> (key of i % keys, 1)``: W2's records (for ``kb``: the 1 KB string of ``i``).

    One tight function per type rather than a general one, so the ``int`` records cost what
    they did before the variants existed (a call per record is a large share of serial W2).
    """
    if kind == "str":
        return lambda i: (f"k{i % keys:09d}", 1)
    if kind == "tuple":
        return lambda i: (divmod(i % keys, 1000), 1)
    if kind == "kb":
        return lambda i: (i % keys, f"{i:012d}{_PAD}")
    return lambda i: (i % keys, 1)


def key_value(keys: int, kind: str) -> Callable[[int], tuple]:
    """``i -> (key of i % keys, i)``: W3's records and the left side of the joins (for ``kb``
    the value is a 1 KB string that starts with ``i``)."""
    if kind == "str":
        return lambda i: (f"k{i % keys:09d}", i)
    if kind == "tuple":
        return lambda i: (divmod(i % keys, 1000), i)
    if kind == "kb":
        return lambda i: (i % keys, f"{i:012d}{_PAD}")
    return lambda i: (i % keys, i)


def key_name(kind: str, step: int = 1) -> Callable[[int], tuple]:
    """``k -> (key of step * k, str(step * k))``: the right side of the joins (``step`` 2 leaves
    every other left key without a match)."""
    if kind == "str":
        return lambda k: (f"k{k * step:09d}", str(k * step))
    if kind == "tuple":
        return lambda k: (divmod(k * step, 1000), str(k * step))
    if step == 1:
        return lambda k: (k, str(k))
    return lambda k: (k * step, str(k * step))


def combine_values(kind: str):
    """How W2 combines the values of a key: ``operator.add`` (what users pass to
    ``reduce_by_key``, and what the serial loop's ``+`` does), ``max`` for 1 KB strings."""
    return max if kind == "kb" else operator.add


def summary(value: Any) -> Any:
    """What a result keeps of a value: a 1 KB string's leading record number, else the value."""
    return value[:12] if isinstance(value, str) and len(value) > 100 else value


def bucket(key: Any, m: int) -> int:
    """The reducer of ``key`` among ``m``, the same in every process (``hash`` of a str is
    salted per process, so the hand-written dask graphs cannot use it)."""
    if isinstance(key, int):
        return key % m
    if isinstance(key, str):
        return zlib.crc32(key.encode()) % m
    return (key[0] * 1000003 + key[1]) % m
