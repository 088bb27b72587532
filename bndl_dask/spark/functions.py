"""Small picklable functions the RDD methods send to the workers.

Module-level functions and classes travel by reference, so a task carries their name and
arguments only; each adapts a PySpark calling convention to a ``Dataset`` operation's.
"""

from __future__ import annotations

import copy
import functools
import pickle
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def first(pair: Any) -> Any:
    return pair[0]


def swap(pair: Any) -> tuple:
    return pair[1], pair[0]


def identity(value: Any) -> Any:
    return value


def as_list(data: Iterable) -> list:
    return [list(data)]


def pairs_of_each(pair: tuple) -> Iterator[tuple]:
    """``(k, [x, y])`` -> ``(k, x), (k, y)``: a BNDL join's per-key list as Spark's rows."""
    key, values = pair
    return ((key, value) for value in values)


class OnIterator:
    """Calls ``func(iterator)`` as PySpark does (a Dataset hands over the partition's data,
    which may be a list or a range, on which ``next()`` would fail)."""

    def __init__(self, func: Callable):
        self.func = func

    def __call__(self, data: Iterable) -> Any:
        return self.func(iter(data))


class OnIndexAndIterator:
    """``mapPartitionsWithIndex``: calls ``func(index, iterator)``."""

    def __init__(self, func: Callable):
        self.func = func

    def __call__(self, index: int, data: Iterable) -> Any:
        return self.func(index, iter(data))


class ValuesKeepingKey:
    """``flatMapValues``: ``(k, v)`` -> ``(k, x)`` for every ``x`` in ``func(v)``."""

    def __init__(self, func: Callable):
        self.func = func

    def __call__(self, pair: tuple) -> Iterator[tuple]:
        key, value = pair
        return ((key, item) for item in self.func(value))


class SeqFromZero:
    """``aggregateByKey``'s combiner: ``seq`` applied to a fresh copy of ``zero``."""

    def __init__(self, zero: Any, seq: Callable):
        self.zero, self.seq = zero, seq

    def __call__(self, value: Any) -> Any:
        return self.seq(copy.deepcopy(self.zero), value)


class RoundRobin:
    """Keys a partition's elements ``0, 1, ... (mod count)`` from an offset that differs per
    partition, so a shuffle on the key spreads every partition over all outputs."""

    def __init__(self, count: int):
        self.count = count

    def __call__(self, index: int, data: Iterable) -> Iterator[tuple]:
        count = self.count
        return (((index + position) % count, element)
                for position, element in enumerate(data))


class SortedPartition:
    """A partition of pairs sorted by ``keyfunc(key)``."""

    def __init__(self, ascending: bool, keyfunc: Callable):
        self.reverse, self.keyfunc = not ascending, keyfunc

    def __call__(self, data: Iterable) -> list:
        keyfunc = self.keyfunc
        return sorted(data, key=lambda pair: keyfunc(pair[0]), reverse=self.reverse)


class ByKeyOf:
    """``keyfunc`` applied to a pair's key (``sortByKey``'s sort key)."""

    def __init__(self, keyfunc: Callable):
        self.keyfunc = keyfunc

    def __call__(self, pair: tuple) -> Any:
        return self.keyfunc(pair[0])


class StrictZip:
    """Spark's ``zip``: partitions must hold as many elements as each other."""

    def __call__(self, left: Iterable, right: Iterable) -> Iterator[tuple]:
        left, right = list(left), list(right)
        if len(left) != len(right):
            raise ValueError(f"zip needs partitions of equal sizes, got {len(left)} and "
                             f"{len(right)} elements; use rdd.dataset.zip to pair as many "
                             f"as the shorter one has")
        return zip(left, right)


def text_line(element: Any) -> bytes:
    """``saveAsTextFile``'s line: bytes as they are, str as UTF-8, anything else as str()."""
    if not isinstance(element, (str, bytes)):
        element = str(element)
    if isinstance(element, str):
        element = element.encode("utf-8")
    return element + b"\n"


def lines_for_pipe(data: Iterable) -> Iterator[bytes]:
    return (text_line(element) for element in data)


def decoded_line(line: bytes) -> str:
    return line.decode("utf-8").rstrip("\n")


def pickled_elements(pair: tuple) -> Any:
    """The elements of one file ``saveAsPickleFile`` wrote (a pickled list per partition)."""
    return pickle.loads(pair[1])


class CombinePartition:
    """``combineByKey``'s map side: one ``(k, (partition index, combiner))`` per key."""

    def __init__(self, create: Callable, merge_value: Callable):
        self.create, self.merge_value = create, merge_value

    def __call__(self, index: int, data: Iterable) -> list[tuple]:
        create, merge_value = self.create, self.merge_value
        combiners: dict = {}
        for key, value in data:
            if key in combiners:
                combiners[key] = merge_value(combiners[key], value)
            else:
                combiners[key] = create(value)
        return [(key, (index, combiner)) for key, combiner in combiners.items()]


class MergeInOrder:
    """``combineByKey``'s read side: a key's combiners merged in partition order."""

    def __init__(self, merge_combiners: Callable):
        self.merge_combiners = merge_combiners

    def __call__(self, tagged: Iterable[tuple]) -> Any:
        ordered = sorted(tagged, key=first)
        return functools.reduce(self.merge_combiners, (combiner for _, combiner in ordered))


class FoldPartition:
    """``aggregate``'s per-partition step: the partition folded into a copy of ``zero``."""

    def __init__(self, zero: Any, seq: Callable):
        self.zero, self.seq = zero, seq

    def __call__(self, data: Iterable) -> list:
        return [functools.reduce(self.seq, data, copy.deepcopy(self.zero))]
