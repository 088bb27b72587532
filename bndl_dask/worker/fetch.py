"""Fetching from the workers that hold blocks: the one way bndl reads data another worker holds.

Shuffle reads, sort reads, reads of cached partitions and of broadcast values all send each
holder one request (a comm message naming one of the handlers ``WorkerServices`` installs) and
wait for its answer. A holder counts as lost, and its answer is an error, when

- the scheduler no longer lists it (asked 50 ms into the fetch and then every half second until
  the holder answers, so a dead address is given up at once instead of retried for the whole
  connect timeout, and a frozen holder as soon as the scheduler drops it),
- it cannot be reached within ``bndl.worker.connect_timeout`` seconds, or
- it does not answer within ``bndl.worker.fetch_timeout`` seconds.

Connections come from the worker's own pool (``dask_worker.rpc``), so they use the cluster's
comm security (TLS) and are reused between fetches.

>>> fetch_from_holders(None, {})
{}
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Mapping

from distributed.core import send_recv

from bndl_dask.util import config

#: seconds between asking the scheduler whether the holders not yet answered are still listed
WATCH_INTERVAL = 0.5
#: seconds before the first such question
FIRST_CHECK = 0.05

#: ``address -> (answer, error)``: ``error`` is None when the holder answered
Answers = dict[str, tuple]


def fetch_timeouts() -> tuple[float, float]:
    """``(connect, answer)`` timeouts in seconds, from ``bndl.worker`` in the settings."""
    return (float(config.get("bndl.worker.connect_timeout")),
            float(config.get("bndl.worker.fetch_timeout")))


def start_fetch(dask_worker, requests: dict[str, dict]) -> concurrent.futures.Future:
    """``ask_holders`` from a task thread, in the background: a future of its answers."""
    return asyncio.run_coroutine_threadsafe(ask_holders(dask_worker, requests),
                                            dask_worker.loop.asyncio_loop)


def fetch_from_holders(dask_worker, requests: dict[str, dict]) -> Answers:
    """``ask_holders`` from a task thread, waiting for every answer."""
    if not requests:
        return {}
    return start_fetch(dask_worker, requests).result()


async def ask_holders(dask_worker, requests: dict[str, dict]) -> Answers:
    """Send each holder its request (a comm message) at once; ``address -> (answer, error)``,
    with ``error`` set when the holder could not be reached, failed to answer, or left the
    cluster (the scheduler stopped listing it) while it was being asked."""
    if not requests:
        return {}
    connect_timeout, fetch_timeout = fetch_timeouts()
    pool = dask_worker.rpc
    asking = {address: asyncio.ensure_future(
                  _ask_one(pool, address, message, connect_timeout, fetch_timeout))
              for address, message in requests.items()}
    watcher = asyncio.ensure_future(_give_up_on_the_unlisted(dask_worker.scheduler, asking))
    try:
        await asyncio.wait(asking.values())
    finally:
        watcher.cancel()
        for question in asking.values():
            question.cancel()  # the reader gave up: no request outlives it
    return {address: (None, ConnectionError(f"holder {address} has left the cluster"))
            if question.cancelled() else question.result()
            for address, question in asking.items()}


async def _ask_one(pool, address: str, message: dict, connect_timeout: float,
                   fetch_timeout: float) -> tuple:
    try:
        comm = await pool.connect(address, timeout=connect_timeout)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return None, exc
    try:
        return await asyncio.wait_for(send_recv(comm, **message), fetch_timeout), None
    except BaseException as exc:  # the holder died, broke the connection, or left the cluster
        comm.abort()
        if isinstance(exc, asyncio.CancelledError):
            raise
        return None, exc
    finally:
        pool.reuse(address, comm)


async def _give_up_on_the_unlisted(scheduler, asking: Mapping[str, asyncio.Future]) -> None:
    """Cancel the questions to holders the scheduler no longer lists, checking after
    ``FIRST_CHECK`` seconds and then every ``WATCH_INTERVAL`` seconds while any is unanswered.
    dask's connect would retry a dead holder's address until the connect timeout, and a frozen
    holder (SIGSTOP) accepts the connection and never answers: the scheduler knows sooner (a
    closed stream, or a stalled worker retired, see execute/stalls.py)."""
    # most answers come within milliseconds: they cost the scheduler no question at all
    await asyncio.sleep(FIRST_CHECK)
    while True:
        waiting = [address for address, question in asking.items() if not question.done()]
        if not waiting:
            return
        try:
            listed = await scheduler.ncores(workers=waiting)
        except asyncio.CancelledError:
            raise
        except Exception:  # the scheduler is unreachable: go by the holders themselves
            listed = waiting
        for address in waiting:
            if address not in listed:
                asking[address].cancel()
        await asyncio.sleep(WATCH_INTERVAL)
