"""Stalled workers: processes that are still connected but stopped answering.

A frozen worker (SIGSTOP, a host swapped out, a network partition that keeps sockets open) is
not dead to dask's comms: the scheduler keeps it, and the tasks it runs and the blocks it holds,
until ``distributed.scheduler.worker-ttl`` (five minutes by default) runs out. A job cannot wait
that long, so the driver watches the workers' heartbeats itself: a worker whose ``last_seen``
(the scheduler's time of its last heartbeat) has not moved for ``bndl.execute.stall_timeout``
seconds of the driver's clock is retired the way dask retires a worker past its TTL: its nanny
kills and restarts it, a worker without a nanny is removed from the scheduler (and shuts itself
down when it wakes up and hears it is unknown). Either way dask re-runs its tasks elsewhere,
readers of its blocks give up on it (worker/fetch.py), and a late answer from it is never used.

Heartbeats are compared with earlier heartbeats of the same worker, never with the driver's
clock: the scheduler may run on another host with a skewed clock.

>>> watch = StallWatch(timeout=30.0)
>>> watch.stalled({'tcp://w:1': {'last_seen': 100.0}}, now=0.0)
[]
>>> watch.stalled({'tcp://w:1': {'last_seen': 100.0}}, now=31.0)   # no heartbeat for 31 s
['tcp://w:1']
>>> watch.stalled({'tcp://w:1': {'last_seen': 131.5}}, now=32.0)   # it answered again
[]
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

logger = logging.getLogger(__name__)


class StallWatch:
    """Remembers when each worker's heartbeat last moved; see the module's docstring."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        #: address -> (last_seen as the scheduler reported it, driver time it was first seen)
        self._heartbeats: dict[str, tuple[Any, float]] = {}
        self._retired: set[str] = set()
        self._lock = threading.Lock()

    def stalled(self, info: Mapping[str, Mapping[str, Any]],
                now: float | None = None) -> list[str]:
        """The addresses in ``info`` (``scheduler_info()['workers']``) whose heartbeat has
        not moved for ``timeout`` seconds, except those already retired."""
        now = time.monotonic() if now is None else now
        with self._lock:
            for address in list(self._heartbeats):
                if address not in info:
                    del self._heartbeats[address]
            stalled = []
            for address, worker in info.items():
                beat = worker.get("last_seen")
                known = self._heartbeats.get(address)
                if known is None or known[0] != beat:
                    self._heartbeats[address] = (beat, now)
                elif now - known[1] > self.timeout and address not in self._retired:
                    stalled.append(address)
            return sorted(stalled)

    def retire(self, client, addresses: Sequence[str]) -> None:
        """Have the scheduler restart (nanny) or remove (no nanny) ``addresses``, in the
        background: killing a stopped process takes the nanny a few seconds."""
        with self._lock:
            addresses = [a for a in addresses if a not in self._retired]
            self._retired.update(addresses)
        if not addresses:
            return
        logger.warning("workers %s sent no heartbeat for %.0f s: retiring them (their tasks "
                       "and blocks are recomputed elsewhere; see bndl.execute.stall_timeout)",
                       ", ".join(addresses), self.timeout)
        threading.Thread(target=_restart, args=(client, list(addresses)), daemon=True,
                         name="bndl-retire-stalled").start()


def _restart(client, addresses: list[str]) -> None:
    try:
        client.sync(client.scheduler.restart_workers, workers=addresses,
                    wait_for_workers=False, on_error="return",
                    stimulus_id=f"bndl-stall-timeout-{time.time()}")
    except Exception:  # the worker may have left meanwhile; liveness notices either way
        logger.warning("retiring stalled workers %s failed", addresses, exc_info=True)


#: one watch per client and timeout: heartbeats seen by one job count for the next
_watches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_watches_lock = threading.Lock()


def stall_watch(client, timeout: float) -> StallWatch:
    """The ``StallWatch`` of ``client`` for ``timeout`` (shared by the client's jobs)."""
    with _watches_lock:
        per_timeout = _watches.setdefault(client, {})
        if timeout not in per_timeout:
            per_timeout[timeout] = StallWatch(timeout)
        return per_timeout[timeout]
