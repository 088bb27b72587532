"""Releasing finished jobs' dask futures without holding up the next job's submission."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import weakref
from collections.abc import Iterable
from typing import Any

from bndl_dask.execute.settings import release_delay


class DeferredReleases:
    """Releases of a job's dask futures, held back to travel with the next job's graph.

    dask's client batches its messages to the scheduler: after it sent one, the next waits up
    to 10 ms. Released futures sent at the end of a job would so hold up the next job's
    submission; sent in the same message as that submission they cost nothing (``submit``).
    A client that stays idle releases them after ``bndl.execute.release_delay`` seconds (the
    results stay on the workers until then).
    """

    def __init__(self, client):
        self.client = client
        self.delay = release_delay()
        self.lock = threading.Lock()
        self.futures: list = []
        self.epoch = 0

    def add(self, futures: Iterable) -> None:
        with self.lock:
            self.futures.extend(futures)
            epoch = self.epoch
        try:
            self.client.loop.add_callback(self._later, epoch)
        except Exception:  # the client is closing: release now
            self.flush()

    def _later(self, epoch: int) -> None:  # on the client's event loop
        self.client.loop.call_later(self.delay, self._flush_if_idle, epoch)

    def _flush_if_idle(self, epoch: int) -> None:
        if epoch == self.epoch:
            self.flush()

    def submit(self, dsk: dict, keys: list) -> Any:
        """``client.get(dsk, keys, sync=False)`` with the held-back releases in the same message.

        Both are handed to the client in one turn of its event loop, releases first: the
        releases' messages then join the graph's in the batched stream's buffer before it next
        sends. From another thread the releases could leave alone just before the graph (or just
        after it), and the graph (or the next job's) would wait out the 10 ms interval: a tiny
        job took 17 ms instead of 14 (W6, alternated with the previous code).
        """
        client = self.client
        if client.status != "running":
            return client.get(dsk, keys, sync=False)  # raises what dask raises when closed

        async def releases_then_graph():
            self.flush()
            return client.get(dsk, keys, sync=False)

        submitted = asyncio.run_coroutine_threadsafe(releases_then_graph(),
                                                     client.loop.asyncio_loop)
        while True:
            try:
                return submitted.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                if client.status != "running":  # its event loop may never run the submission
                    submitted.cancel()
                    return client.get(dsk, keys, sync=False)

    def flush(self) -> None:
        with self.lock:
            futures, self.futures = self.futures, []
            self.epoch += 1
        for future in futures:
            try:
                future.release()
            except Exception:
                pass


_deferred: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_deferred_lock = threading.Lock()


def deferred_releases(client) -> DeferredReleases:
    """The one ``DeferredReleases`` of ``client``."""
    with _deferred_lock:
        releases = _deferred.get(client)
        if releases is None:
            releases = _deferred[client] = DeferredReleases(client)
        return releases
