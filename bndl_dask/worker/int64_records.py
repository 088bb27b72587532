"""Plain ints kept as an int64 array: a sort's output partition of ints, until it is read.

A sort of plain ints merges its runs as an int64 array. Turning that array into Python ints on
the worker, pickling them for the driver and unpickling them there costs about 10 ms of CPU per
100,000 ints; the array itself travels as its raw bytes (out of band with pickle protocol 5)
and becomes Python ints in one ``tolist`` where it is read.

>>> import numpy
>>> records = Int64Records(numpy.array([3, 1, 2]))
>>> list(records), len(records), records[0], records[1:]
([3, 1, 2], 3, 3, [1, 2])
>>> type(records[0]) is int and all(type(i) is int for i in records)
True
>>> import pickle; pickle.loads(pickle.dumps(records)).tolist()
[3, 1, 2]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any


class Int64Records(Sequence):
    """A read-only sequence of Python ints stored in a one-dimensional int64 numpy array.

    Iterating, indexing and ``tolist()`` give plain ``int`` objects, never numpy scalars, so
    code downstream sees what it would see in a list.
    """

    __slots__ = ("values",)

    def __init__(self, values: Any):
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self.values[index].tolist()
        return int(self.values[index])

    def __iter__(self) -> Iterator[int]:
        return iter(self.values.tolist())

    def tolist(self) -> list[int]:
        return self.values.tolist()

    def __eq__(self, other: object) -> bool:
        # compares as the list it stands for
        if isinstance(other, Int64Records):
            other = other.tolist()
        return isinstance(other, list) and self.tolist() == other

    __hash__ = None  # type: ignore[assignment]  # equal to lists, so unhashable like them

    def __sizeof__(self) -> int:
        # what it holds on the worker (dask's memory accounting); the driver sees a list
        return object.__sizeof__(self) + self.values.nbytes

    def __reduce__(self):
        return (Int64Records, (self.values,))

    def __repr__(self) -> str:
        return f"<Int64Records of {len(self)}>"


def as_list(data: Any) -> Any:
    """``data`` itself, or the list of Python ints an ``Int64Records`` stands for."""
    return data.tolist() if type(data) is Int64Records else data
