"""Fetching final results from the workers: ahead of the consumer, but only so far ahead."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import heapq
import threading
from collections.abc import Callable, Iterator
from typing import Any

from dask.sizeof import sizeof
from dask.utils import format_bytes

from bndl_dask.execute.exceptions import ResultTooLarge, invocation_error
from bndl_dask.execute.releases import deferred_releases
from bndl_dask.worker.runtime import TaskOutcome, unshipped_failure


class LeafFetcher:
    """Fetches final results from the workers, at most ``prefetch`` ahead of the consumer.

    Results of final tasks stay on the workers until fetched. As tasks finish, up to
    ``prefetch`` of their results are fetched in the background, those first in job order first
    (the order ordered consumers read in), so that the transfer overlaps with the tasks still
    running; each consumed (``forget``-ed) result makes room for the next. A result asked for
    that is not on its way is fetched at once, with further finished ones in the same round trip
    while there is room. So the driver holds at most ``prefetch`` results ahead of the one being
    consumed (``icollect`` stays bounded).
    """

    def __init__(self, client, prefetch: int = 64):
        self.client = client
        self.prefetch = max(1, prefetch)
        self.lock = threading.Lock()
        self.unread: dict[LeafResult, None] = {}
        self.releases = deferred_releases(client)
        #: leaves being fetched in the background -> the concurrent future of their batch's
        #: outcomes and their position in it
        self.pending: dict[LeafResult, tuple[concurrent.futures.Future, int]] = {}
        self._holding = 0  # nesting depth of together(): fetches wait for its end
        self.ahead = 0  # leaves fetched in the background and not consumed yet
        #: finished leaves by rank, the next to fetch ahead first (entries of leaves read or
        #: pending meanwhile are skipped when they come up)
        self._by_rank: list[tuple[int, int, LeafResult]] = []

    def finished(self, leaf: LeafResult) -> None:
        """``leaf``'s task is done: fetch its result in the background if there is room
        (inside ``together()``: when that ends)."""
        with self.lock:
            self.unread[leaf] = None
            heapq.heappush(self._by_rank, (leaf.rank, id(leaf), leaf))
            if not self._holding:
                self._fetch_ahead()

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """Leaves finished inside this block are fetched in one round trip at its end (one
        dask gather per batch of finished tasks, not one per task)."""
        with self.lock:
            self._holding += 1
        try:
            yield
        finally:
            with self.lock:
                self._holding -= 1
                if not self._holding:
                    self._fetch_ahead()

    def consumed(self, leaf: LeafResult) -> None:
        with self.lock:
            if leaf.fetched_ahead:
                leaf.fetched_ahead = False
                self.ahead -= 1
            self._fetch_ahead()

    def _fetch_ahead(self) -> None:  # under the lock
        found = self._next_unread(self.prefetch - self.ahead)
        if not found:
            return
        try:
            batch = asyncio.run_coroutine_threadsafe(
                self.client._gather([leaf._dask_future for leaf in found]),
                self.client.loop.asyncio_loop)
        except Exception:  # the client is closing: the consumer's own fetch will tell
            for leaf in found:
                heapq.heappush(self._by_rank, (leaf.rank, id(leaf), leaf))
            return
        for position, leaf in enumerate(found):
            self.pending[leaf] = (batch, position)
            leaf.fetched_ahead = True
            self.ahead += 1

    def _next_unread(self, count: int, besides: LeafResult | None = None) -> list:
        """Up to ``count`` finished leaves, lowest rank first, neither read nor on their way
        nor ``besides`` (the one being read now); taken off the heap, under the lock."""
        found: list[LeafResult] = []
        while len(found) < count and self._by_rank:
            leaf = heapq.heappop(self._by_rank)[2]
            if leaf is not besides and leaf in self.unread and leaf not in self.pending:
                found.append(leaf)
        return found

    def fetch(self, leaf: LeafResult, timeout: float | None) -> None:
        with self.lock:
            if leaf._dask_future is None:
                return
            pending = self.pending.pop(leaf, None)
        if pending is not None:
            batch, position = pending
            try:
                outcome = batch.result(timeout)[position]
            except Exception:
                pass  # fetched again below, which raises what went wrong
            else:
                with self.lock:
                    self.unread.pop(leaf, None)
                    leaf._resolve(outcome)
                return
        with self.lock:
            if leaf._dask_future is None:
                return
            # the others come along ahead of the consumer: they count against ``prefetch``
            others = self._next_unread(max(self.prefetch - self.ahead, 0), leaf)
            batch = [leaf] + others
            try:
                outcomes = self.client.gather([item._dask_future for item in batch])
            except Exception:
                batch = [leaf]  # one of the others is in trouble: it raises when it is read
                for other in others:
                    heapq.heappush(self._by_rank, (other.rank, id(other), other))
                outcomes = [leaf._dask_future.result(timeout=timeout)]
            for item, outcome in zip(batch, outcomes):
                self.unread.pop(item, None)
                item._resolve(outcome)
                if item is not leaf:
                    item.fetched_ahead = True
                    self.ahead += 1


class LeafResult(concurrent.futures.Future):
    """A finished task's result that is fetched from its worker ahead of or when asked for."""

    _UNFETCHED = object()

    def __init__(self, dask_future, fetcher: LeafFetcher,
                 on_outcome: Callable[[TaskOutcome], None], rank: int = 0):
        super().__init__()
        self.rank = rank
        self.fetched_ahead = False
        self._dask_future = dask_future
        self._fetcher = fetcher
        self._on_outcome = on_outcome
        self.set_result(self._UNFETCHED)
        fetcher.finished(self)

    def _resolve(self, outcome: TaskOutcome) -> None:
        if unshipped_failure(outcome) is not None:  # the result could not leave its worker
            raise invocation_error(outcome.error, outcome.worker, None)
        self._on_outcome(outcome)
        self._result = outcome.value
        self._fetcher.releases.add((self._dask_future,))
        self._dask_future = None

    def result(self, timeout: float | None = None) -> Any:
        if self._dask_future is not None:
            self._fetcher.fetch(self, timeout)
        if self._result is self._CONSUMED:
            raise RuntimeError("this task's result was already consumed and released")
        return self._result

    _CONSUMED = object()

    def forget(self) -> None:
        """Drop the fetched value (the consumer is done with it)."""
        if self._dask_future is None:
            self._result = self._CONSUMED
            self._fetcher.consumed(self)


class ResultBound:
    """Counts what an action gathers to the driver against ``bndl.execute.max_result_size``.

    ``what`` names the action for the error; ``parts`` is how many partitions it gathers.

    >>> bound = ResultBound(100, 'collect of <Dataset 1>', parts=3)
    >>> bound.add(b'x' * 10)
    >>> bound.add(b'x' * 200)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bndl_dask.execute.exceptions.ResultTooLarge: collect of <Dataset 1> gathered 210 B to ...
    """

    def __init__(self, limit: int, what: str, parts: int):
        self.limit = limit
        self.what = what
        self.parts = parts
        self.size = 0
        self.arrived = 0

    def add(self, value: Any) -> None:
        self.size += sizeof(value)
        self.arrived += 1
        if self.size > self.limit:
            raise ResultTooLarge(
                f"{self.what} gathered {format_bytes(self.size)} to the driver with "
                f"{self.arrived} of {self.parts} partitions in, more than "
                f"bndl.execute.max_result_size ({format_bytes(self.limit)}) allows. Stream the "
                f"result with icollect() (the driver holds a few partitions at a time), write "
                f"it from the workers with save_as_*(), or raise the bound "
                f"(ctx.conf['bndl.execute.max_result_size'] = '8GiB'; 0 means no bound).")
