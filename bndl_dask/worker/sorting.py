"""Sorting records in place when their keys may be of mixed types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def sort_records(records: list, key: Callable | None, reverse: bool = False) -> None:
    """Sort in place by ``key``; keys of mixed types are ordered by type name first.

    >>> records = ['b', 2, None, 'a', 1.5]
    >>> sort_records(records, None); records
    [None, 1.5, 2, 'a', 'b']
    """
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
