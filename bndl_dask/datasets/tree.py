"""Tree aggregations: partial results combined on the workers in shuffle rounds, so the
driver receives a few partials instead of one per partition."""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bndl_dask.datasets.actions import EMPTY
from bndl_dask.datasets.core import DatasetCore, T, U, check_callable


@dataclass(frozen=True, slots=True, eq=False)
class _TreeKey:
    """Tree aggregation: ``(partition index % target, local(partition))``."""

    local: Any
    target: Any

    def __call__(self, idx, data):
        return [(idx % self.target, self.local(iter(data if data is not None else ())))]


@dataclass(frozen=True, slots=True, eq=False)
class _Rekey:
    target: Any

    def __call__(self, pair):
        return (pair[0] % self.target, pair[1])


@dataclass(frozen=True, slots=True, eq=False)
class _FoldLocal:
    """combine's per-partition fold, as a ``local`` for tree_aggregate."""

    zero: Any
    merge_value: Any

    def __call__(self, values):
        return functools.reduce(self.merge_value, values, copy.deepcopy(self.zero))


@dataclass(frozen=True, slots=True, eq=False)
class _ReduceAll:
    func: Any

    def __call__(self, values):
        values = [v for v in values if v is not EMPTY]
        if not values:
            return EMPTY
        return functools.reduce(self.func, values)


@dataclass(frozen=True, slots=True, eq=False)
class _ReducePart:
    func: Any

    def __call__(self, values):
        iterator = iter(values)
        try:
            first = next(iterator)
        except StopIteration:
            return EMPTY
        return functools.reduce(self.func, iterator, first)


@dataclass(frozen=True, slots=True, eq=False)
class _ReduceComb:
    func: Any

    def __call__(self, values):
        return self.func(list(values))


class TreeMixin(DatasetCore[T]):
    def tree_aggregate(self, local: Callable[[Iterable[T]], U],
                       comb: Callable[[Iterable[U]], U] | None = None, depth: int = 2,
                       scale: int | None = None, **shuffle_opts: Any) -> U:
        """Like ``aggregate``, but partials are combined on the workers in up to ``depth``
        shuffle rounds first.

        Action: runs a job; partial results are combined on the workers in shuffle rounds,
        the last few on the driver.

        >>> ctx.range(1000, pcount=100).tree_aggregate(sum)
        499500
        """
        check_callable(local, "local")
        check_callable(comb, "comb", optional=True)
        comb = comb or local
        depth = 16 if depth is None else depth
        if depth < 2:
            return self.aggregate(local, comb)
        pcount = self.pcount
        scale = scale or max(math.ceil(pcount ** (1 / depth)), 2)
        target = round(pcount / scale)
        if target < 2:
            return self.aggregate(local, comb)
        shuffle_opts.setdefault("sort", False)
        dset = self.map_partitions_with_index(_TreeKey(local, target))
        while True:
            dset = dset.aggregate_by_key(comb, pcount=target, **shuffle_opts)
            target = round(target / scale)
            if target < scale:
                break
            dset = dset.map(_Rekey(target))
        try:
            return comb(iter(dset.values().collect()))
        except StopIteration:
            raise ValueError("dataset is empty") from None

    def tree_combine(self, zero: U, merge_value: Callable[[U, T], U],
                     merge_combs: Callable[[U, U], U], **kwargs: Any) -> U:
        """``combine`` with partial results merged on the workers in rounds.

        Action: runs a job; partial results are combined on the workers in shuffle rounds,
        the last few on the driver.

        >>> letters = ctx.collection('abcab', pcount=8)
        >>> letters.tree_combine(set(), lambda s, c: s | {c}, set.union) == set('abc')
        True
        """
        check_callable(merge_value, "merge_value")
        check_callable(merge_combs, "merge_combs")
        return self.tree_aggregate(_FoldLocal(zero, merge_value),
                                   _ReduceComb(functools.partial(functools.reduce, merge_combs)),
                                   **kwargs)

    def tree_reduce(self, reduction: Callable[[T, T], T], **kwargs: Any) -> T:
        """``reduce`` with partial results merged on the workers in rounds.

        Action: runs a job; partial results are combined on the workers in shuffle rounds,
        the last few on the driver.

        >>> ctx.range(1, 6, pcount=4).tree_reduce(lambda a, b: a * b)
        120
        """
        check_callable(reduction, "reduction")
        result = self.tree_aggregate(_ReducePart(reduction), _ReduceAll(reduction), **kwargs)
        if result is EMPTY:
            raise ValueError("dataset is empty")
        return result
