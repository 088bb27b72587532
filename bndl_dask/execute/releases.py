"""Releasing finished jobs' dask futures without holding up the next job's submission."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable

from bndl_dask.execute.settings import release_delay


class DeferredReleases:
    """Releases of a job's dask futures, held back until the next job's graph has gone out.

    dask's client batches its messages to the scheduler: after it sent one, the next waits up
    to 10 ms. Released futures at the end of a job would so hold up the next job's submission;
    sent just after that submission they cost nothing. A client that stays idle releases them
    after ``bndl.execute.release_delay`` seconds (the results stay on the workers until then).
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
