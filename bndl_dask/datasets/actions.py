"""Actions: run a job and bring a result to the driver."""

from __future__ import annotations

import copy
import functools
import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from bndl_dask.datasets.callables import getter
from bndl_dask.datasets.core import DatasetCore, T, U, check_callable


def _count(_idx: int, data: Iterable) -> int:
    if data is None:
        return 0
    if hasattr(data, "__len__") and not isinstance(data, (Iterator,)):
        try:
            return len(data)
        except TypeError:
            pass
    return sum(1 for _ in data)


def _as_dict(_idx: int, data: Iterable) -> dict:
    # a dict pickles and unpickles without a tuple per pair: the driver's share of
    # collect_as_map of 100 k int pairs fell from 26 ms to 11 ms
    return dict(data)


def _sum(_idx: int, data: Iterable) -> Any:
    return sum(_nonnull(data))


@dataclass(frozen=True, slots=True, eq=False)
class _Local:
    """Runs an aggregation's local step on a partition (module level: pickles by reference)."""

    func: Callable

    def __call__(self, _idx: int, data: Iterable) -> Any:
        return self.func(iter(data if data is not None else ()))


@dataclass(frozen=True, slots=True, eq=False)
class _Take:
    num: int

    def __call__(self, _idx: int, data: Iterable) -> list:
        return list(itertools.islice(data if data is not None else (), self.num))


class EmptyDatasetError(ValueError, StopIteration):
    """An action that needs an element ran on an empty dataset.

    A ValueError, as in Spark; also a StopIteration, which is what BNDL's ``first()`` raised, so
    code written for BNDL catches it still.

    >>> issubclass(EmptyDatasetError, ValueError) and issubclass(EmptyDatasetError, StopIteration)
    True
    """


class ActionsMixin(DatasetCore[T]):
    # -- collecting -------------------------------------------------------------------------------

    def collect(self, parts: bool = False, ordered: bool = True) -> list[Any]:
        """All elements as a list (``parts=True``: one entry per partition).

        Action: runs a job; the partitions' results are collected to the driver.

        >>> ctx.range(5).collect()
        [0, 1, 2, 3, 4]
        """
        if parts:
            return list(self._gathered(ordered))
        elements: list = []
        for data in self._gathered(ordered):
            elements.extend(data)  # a partition at a time, not element by element
        return elements

    def _gathered(self, ordered: bool = True) -> Iterator:
        """The partitions' data for an action that keeps all of it on the driver (bounded by
        ``bndl.execute.max_result_size``)."""
        return (data for _, data in self._run(ordered=ordered, name="collect", gather=True))

    def icollect(self, parts: bool = False, ordered: bool = True) -> Iterator[Any]:
        """Iterate over the elements while partitions are still being computed.

        Action: runs a job; partitions stream to the driver as they are read.

        The job starts at the first ``next()``; partitions are fetched from the workers as they
        are consumed, so the driver holds only a few at a time. Dropping the iterator cancels
        the rest of the job.

        >>> for element in ctx.range(3).icollect():
        ...     print(element)
        0
        1
        2
        """
        for _, data in self._run(ordered=ordered, name="collect"):
            if parts:
                yield data
            else:
                yield from data

    def collect_as_map(self, parts: bool = False) -> dict[Any, Any] | list[dict[Any, Any]]:
        """A dict of the ``(key, value)`` elements (``parts=True``: a dict per partition).

        Action: runs a job; the partitions' results are collected to the driver.

        >>> by_length = ctx.collection(['a', 'bb']).key_by(len).collect_as_map()
        >>> by_length == {1: 'a', 2: 'bb'}
        True
        """
        try:
            if parts:
                return [dict(p) for p in self.collect(parts=True)]
            result: dict = {}
            for data in self._partials(_as_dict, "collect_as_map"):
                result.update(data)
            return result
        except (TypeError, ValueError) as exc:
            if "dictionary update sequence" not in str(exc):
                raise
            raise TypeError(
                f"collect_as_map of {self!r} needs (key, value) pairs as elements ({exc}): "
                f"make them with key_by(...), with_value(...) or map(lambda x: (key, value)), "
                f"or use collect()") from exc

    def collect_as_set(self) -> set[T]:
        """The elements as a set.

        Action: runs a job; the partitions' results are collected to the driver.

        >>> ctx.collection('abba').collect_as_set() == {'a', 'b'}
        True
        """
        result: set = set()
        for data in self._gathered(ordered=False):
            result.update(data)
        return result

    def first(self) -> T:
        """The first element; EmptyDatasetError (a ValueError) on an empty dataset.

        Action: runs jobs over as few partitions as needed; those elements reach the driver.

        >>> ctx.range(5, 10).first()
        5
        """
        for element in self.itake(1):
            return element
        raise EmptyDatasetError(f"first() of {self!r}: the dataset is empty")

    def take(self, num: int) -> list[T]:
        """The first ``num`` elements, computing partitions in growing rounds (1, 2, 4, ...).

        Action: runs jobs over as few partitions as needed; those elements reach the driver.

        >>> ctx.range(100).take(3)
        [0, 1, 2]
        """
        return list(self.itake(num))

    def itake(self, num: int) -> Iterator[T]:
        """Iterate over the first ``num`` elements, computing partitions as ``take`` does.

        Action: runs jobs over as few partitions as needed; those elements reach the driver.

        >>> list(ctx.range(100).itake(3))
        [0, 1, 2]
        """
        if isinstance(num, bool) or not isinstance(num, int):
            raise TypeError(f"num must be an int, got {num!r}")
        if num < 0:
            raise ValueError("num must be >= 0")
        remaining = num
        pcount = len(self.parts())
        start, round_size = 0, 1
        while remaining > 0 and start < pcount:
            indices = list(range(start, min(start + round_size, pcount)))
            for _, data in self._run(parts=indices, name="take", transform=_Take(remaining)):
                for element in data[:remaining]:
                    yield element
                    remaining -= 1
                if remaining <= 0:
                    break
            start += round_size
            round_size *= 2

    def execute(self) -> None:
        """Compute every partition for its side effects.

        Action: runs a job; nothing but completion reaches the driver.

        >>> seen = ctx.accumulator(0)
        >>> def note(element):
        ...     global seen
        ...     seen += 1
        >>> ctx.range(10).map(note).execute()
        >>> seen.value
        10
        """
        for _ in self._run(ordered=False, name="execute", transform=_discard):
            pass

    # -- aggregating -----------------------------------------------------------------------------

    def _partials(self, transform: Callable, name: str) -> Iterator:
        return (value for _, value in self._run(ordered=False, name=name, transform=transform,
                                                gather=True))

    def aggregate(self, local: Callable[[Iterable[T]], U],
                  comb: Callable[[Iterable[U]], U] | None = None) -> U:
        """``local(partition)`` on the workers, ``comb(partials)`` on the driver.

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        >>> ctx.range(10).aggregate(sum)
        45
        """
        check_callable(local, "local")
        check_callable(comb, "comb", optional=True)
        comb = comb or local
        try:
            return comb(self._partials(_Local(local), "aggregate"))
        except StopIteration:
            raise ValueError("dataset is empty") from None

    def combine(self, zero: U, merge_value: Callable[[U, T], U],
                merge_combs: Callable[[U, U], U]) -> U:
        """Fold every partition from ``zero`` with ``merge_value``, then the folds together.

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        >>> ctx.collection('abcab').combine(set(), lambda s, c: s | {c}, set.union) == set('abc')
        True
        """
        check_callable(merge_value, "merge_value")
        check_callable(merge_combs, "merge_combs")
        local = _Fold(zero, merge_value)
        partials = list(self._partials(local, "combine"))
        if not partials:
            raise ValueError("dataset is empty")
        return functools.reduce(merge_combs, partials)

    def reduce(self, reduction: Callable[[T, T], T]) -> T:
        """``functools.reduce(reduction)`` within and then across partitions.

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        >>> ctx.range(1, 6).reduce(lambda a, b: a * b)
        120
        """
        check_callable(reduction, "reduction")
        partials = [p for p in self._partials(_Reduce(reduction), "reduce")
                    if p is not _Reduce.EMPTY]
        if not partials:
            raise ValueError("dataset is empty")
        return functools.reduce(reduction, partials)

    def count(self) -> int:
        """The number of elements.

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        >>> ctx.range(1000).count()
        1000
        """
        return sum(self._partials(_count, "count"))

    def sum(self) -> T:
        """The sum of the elements.

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        >>> ctx.range(10).sum()
        45
        """
        return sum(self._partials(_sum, "sum"))

    def max(self, key: Any = None) -> T:
        """The largest element (by ``key``: a callable or an item index).

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        >>> ctx.collection(['bb', 'a', 'ccc']).max(key=len)
        'ccc'
        """
        return self._extreme(max, key, "max")

    def min(self, key: Any = None) -> T:
        """The smallest element (by ``key``: a callable or an item index).

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        >>> ctx.collection([(1, 'z'), (2, 'a')]).min(key=1)
        (2, 'a')
        """
        return self._extreme(min, key, "min")

    def _extreme(self, pick: Callable, key: Any, name: str) -> Any:
        key_func = getter(key) if key is not None else None
        partials = [p for p in self._partials(_Extreme(pick, key_func), name)
                    if p is not _Reduce.EMPTY]
        if not partials:
            raise ValueError("dataset is empty")
        return pick(partials, key=key_func) if key_func else pick(partials)

    def mean(self) -> float:
        """The arithmetic mean of the elements.

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        >>> ctx.range(10).mean()
        4.5
        """
        total, count = 0, 0
        for part_sum, part_count in self._partials(_sum_count, "mean"):
            total += part_sum
            count += part_count
        if count == 0:
            raise ValueError("dataset is empty")
        return total / count

    def nlargest(self, num: int, key: Any = None) -> list[T]:
        """The ``num`` largest elements, largest first (``num == 1``: the element itself).

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        >>> ctx.range(10).nlargest(3)
        [9, 8, 7]
        """
        return self._top(num, key, heapq.nlargest, max, "nlargest")

    def nsmallest(self, num: int, key: Any = None) -> list[T]:
        """The ``num`` smallest elements, smallest first (``num == 1``: the element itself).

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        >>> ctx.range(10).nsmallest(3)
        [0, 1, 2]
        """
        return self._top(num, key, heapq.nsmallest, min, "nsmallest")

    def _top(self, num: int, key: Any, pick: Callable, single: Callable, name: str) -> Any:
        if isinstance(num, bool) or not isinstance(num, int) or num < 0:
            raise ValueError(f"{name} takes a number of elements >= 0, got {num!r}")
        if num == 1:
            return self._extreme(single, key, name)
        key_func = getter(key) if key is not None else None
        partials = self._partials(_Top(num, pick, key_func), name)
        return pick(num, itertools.chain.from_iterable(partials), key=key_func)

    def count_by_value(self, depth: int = 1, **shuffle_opts: Any) -> Counter[T]:
        """A Counter of element -> occurrences (``depth > 1`` merges them with
        ``tree_aggregate``).

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        >>> counts = ctx.collection('abracadabra').count_by_value()
        >>> counts['a'], counts['r'], counts['z']
        (5, 2, 0)
        """
        if depth > 1 and hasattr(self, "tree_aggregate"):
            return self.tree_aggregate(Counter, _sum_counters, depth=depth, **shuffle_opts)
        return self.aggregate(Counter, _sum_counters)

    # -- Spark's vocabulary -------------------------------------------------------------------

    def fold(self, zero: T, op: Callable[[T, T], T]) -> T:
        """Every partition folded from a copy of ``zero`` with ``op``, then those folds folded
        from ``zero`` on the driver (Spark's ``fold``); ``zero`` itself on an empty dataset.

        An action; one pass, each partition sends one value to the driver. ``zero`` should be
        the identity of ``op`` (it is used once per partition plus once on the driver).

        >>> ctx.range(1, 5).fold(0, lambda a, b: a + b)
        10
        >>> ctx.range(0).fold(0, lambda a, b: a + b)
        0
        """
        check_callable(op, "op")
        partials = self._partials(_Fold(zero, op), "fold")
        return functools.reduce(op, partials, copy.deepcopy(zero))

    def is_empty(self) -> bool:
        """Whether the dataset has no elements.

        An action that computes as little as it can: partitions in growing rounds (1, 2, 4,
        ... as ``take`` does), stopping after the round that finds an element; only a boolean
        per partition travels to the driver.

        >>> ctx.range(0).is_empty(), ctx.range(3).is_empty()
        (True, False)
        """
        pcount = len(self.parts())
        start, round_size = 0, 1
        while start < pcount:
            indices = list(range(start, min(start + round_size, pcount)))
            found = any(has for _, has in self._run(parts=indices, name="is_empty",
                                                    transform=_has_element))
            if found:
                return False
            start += round_size
            round_size *= 2
        return True


def _has_element(_idx: int, data: Iterable) -> bool:
    for _ in _nonnull(data):
        return True
    return False


def _nonnull(data: Iterable | None) -> Iterable:
    # not ``data or ()``: the truth value of a numpy array partition is an error
    return () if data is None else data


def _discard(_idx: int, data: Iterable) -> None:
    if data is not None:
        for _ in data:
            pass
    return None


def _sum_count(_idx: int, data: Iterable) -> tuple:
    total, count = 0, 0
    for element in _nonnull(data):
        total += element
        count += 1
    return total, count


def _sum_counters(counters: Iterable[Counter]) -> Counter:
    total: Counter = Counter()
    for counter in counters:
        total.update(counter)
    return total


@dataclass(frozen=True, slots=True, eq=False)
class _Fold:
    zero: Any
    merge: Any

    def __call__(self, _idx, data):
        return functools.reduce(self.merge, _nonnull(data), copy.deepcopy(self.zero))


class _EmptyPartition:
    """Marks an empty partition's partial result; unpickles to the same singleton."""

    def __reduce__(self):
        return "EMPTY"

    def __repr__(self) -> str:
        return "<empty partition>"


EMPTY = _EmptyPartition()


@dataclass(frozen=True, slots=True, eq=False)
class _Reduce:
    """functools.reduce over a partition; empty partitions give a marker the driver skips."""

    func: Any
    EMPTY = EMPTY

    def __call__(self, _idx, data):
        iterator = iter(_nonnull(data))
        try:
            first = next(iterator)
        except StopIteration:
            return self.EMPTY
        return functools.reduce(self.func, iterator, first)


@dataclass(frozen=True, slots=True, eq=False)
class _Extreme:
    pick: Any
    key: Any

    def __call__(self, _idx, data):
        if self.key is None:
            return self.pick(_nonnull(data), default=_Reduce.EMPTY)
        return self.pick(_nonnull(data), key=self.key, default=_Reduce.EMPTY)


@dataclass(frozen=True, slots=True, eq=False)
class _Top:
    num: Any
    pick: Any
    key: Any

    def __call__(self, _idx, data):
        return self.pick(self.num, _nonnull(data), key=self.key)
