"""Fetching from the workers that hold blocks: the one way bndl reads data another worker holds.

Shuffle reads, sort reads, reads of cached partitions and of broadcast values all send each
holder one request (a comm message naming one of the handlers ``WorkerServices`` installs) and
wait for its answer. A holder counts as lost, and its answer is an error, when

- the scheduler no longer lists it (asked alongside the connect, so a dead address is given up
  at once instead of retried for the whole connect timeout),
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

from distributed.core import send_recv

from bndl_dask.util import config

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
    with ``error`` set when the holder could not be reached or failed to answer."""
    connect_timeout, fetch_timeout = fetch_timeouts()
    pool = dask_worker.rpc
    # asked alongside the connects, not before them: a holder the scheduler no longer lists
    # is given up at once, where dask's connect would retry its dead address until the connect
    # timeout; a live holder costs no extra round trip
    listed = asyncio.ensure_future(dask_worker.scheduler.ncores(workers=list(requests)))

    async def gone(address: str) -> bool:
        try:
            return address not in await listed
        except Exception:  # the scheduler is unreachable: go by the holder itself
            return False

    async def one(address: str, message: dict):
        connecting = asyncio.ensure_future(pool.connect(address, timeout=connect_timeout))
        await asyncio.wait({connecting, listed}, return_when=asyncio.FIRST_COMPLETED)
        if not connecting.done() and await gone(address):
            connecting.cancel()
            return address, (None, ConnectionError(f"holder {address} has left the cluster"))
        try:
            comm = await connecting
        except Exception as exc:
            return address, (None, exc)
        try:
            response = await asyncio.wait_for(send_recv(comm, **message), fetch_timeout)
            return address, (response, None)
        except Exception as exc:  # the holder died or broke the connection meanwhile
            comm.abort()
            return address, (None, exc)
        finally:
            pool.reuse(address, comm)

    try:
        pairs = await asyncio.gather(*(one(a, m) for a, m in requests.items()))
    finally:
        if not listed.done():
            listed.cancel()
    return dict(pairs)
