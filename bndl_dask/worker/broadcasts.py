"""What a broadcast value is on a worker: a handle that reads the value once per process.

The driver scatters a broadcast's serialized bytes to every worker as one block
(``client.scatter(blob, broadcast=True)``) and asks each worker to keep a reference in its
``WorkerServices`` (dask's active memory manager may later drop the replicas it sees no use for).
The first ``.value`` in a worker process deserializes those bytes and caches the object in
``services.broadcasts``; concurrent first reads by several task threads wait for one of them.
A worker that joined after the broadcast fetches the block from a worker that holds it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from distributed import Worker, get_worker

from bndl_dask.util import serialization as _serialization
from bndl_dask.worker.fetch import ask_holders
from bndl_dask.worker.runtime import current_runtime
from bndl_dask.worker.services import services_for

logger = logging.getLogger(__name__)

#: the driver's broadcast values by id, held weakly: dropping the last reference unpersists
_driver_values: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


def register_driver_value(broadcast_id: str, value: Any) -> None:
    """Let a ``WorkerBroadcast`` read on the driver find the ``BroadcastValue`` it stands for."""
    _driver_values[broadcast_id] = value


def driver_value(broadcast_id: str) -> Any | None:
    """The driver's BroadcastValue with this id, if it is still alive in this process."""
    return _driver_values.get(broadcast_id)


class BroadcastUnpersisted(RuntimeError):
    """Raised when a task reads a broadcast value after ``unpersist()``."""


class _Unpersisted:
    def __repr__(self) -> str:
        return "<unpersisted>"


UNPERSISTED = _Unpersisted()
_UNSET = object()


class _Entry:
    """A worker's copy of one broadcast: the block until first read, then the value."""

    __slots__ = ("blob", "value", "lock", "loads")

    def __init__(self, blob: Any = None):
        self.blob = blob
        self.value = _UNSET
        self.lock = threading.Lock()
        self.loads = 0  # how often the block was deserialized here (once is the goal)


def decode(blob: bytes, serialization: str | None, deserialization: Callable | None) -> Any:
    """The broadcast object from its serialized block."""
    if deserialization is not None:
        return deserialization(blob)
    if serialization == "binary":
        return bytes(blob)
    if serialization == "text":
        return bytes(blob).decode("utf-8")
    if serialization == "json":
        return json.loads(bytes(blob))
    return _serialization.loads(blob, serialization)


def _dask_worker():
    runtime = current_runtime()
    if runtime is not None:
        return runtime.dask_worker
    try:
        return get_worker()
    except ValueError:
        pass
    workers = list(Worker._instances)
    if len(workers) == 1:  # a thread started by a task, in a worker process
        return workers[0]
    if workers:
        raise RuntimeError(
            "Can't tell which worker this thread belongs to: read broadcast values in the "
            "task's own thread (or read .value there first and pass the object on)")
    return None


async def keep_block(dask_worker, broadcast_id: str, key: str) -> bool:
    """Keep a reference to the scattered block (run on every worker by ``client.run``).

    dask's active memory manager may drop a replica it sees no use for before this runs; such a
    worker fetches its copy from a peer right away, so every worker holds the block from the
    start.
    """
    services = services_for(dask_worker)
    blob = dask_worker.data.get(key) if key in dask_worker.data else None
    if blob is None:
        try:
            blob = await _fetch_async(dask_worker, key, broadcast_id)
        except Exception:
            logger.info("broadcast %s: block not fetched yet; fetching on first read",
                        broadcast_id, exc_info=True)
            return False
    with services.broadcast_lock:
        entry = services.broadcasts.get(broadcast_id)
        if entry is None:
            services.broadcasts[broadcast_id] = _Entry(blob)
        elif isinstance(entry, _Entry) and entry.blob is None and entry.value is _UNSET:
            entry.blob = blob
    return True


def forget(dask_worker, broadcast_id: str) -> bool:
    """Drop a broadcast's block and value; later reads fail (run by ``client.run``)."""
    services = services_for(dask_worker)
    with services.broadcast_lock:
        had = isinstance(services.broadcasts.get(broadcast_id), _Entry)
        services.broadcasts[broadcast_id] = UNPERSISTED
    return had


def _unpersisted_error(broadcast_id: str) -> BroadcastUnpersisted:
    return BroadcastUnpersisted(
        f"Broadcast value {broadcast_id} was unpersisted; it can no longer be read. Keep the "
        "BroadcastValue (and don't call unpersist()) while jobs still use it.")


def _missing(broadcast_id: str) -> RuntimeError:
    return RuntimeError(
        f"The data of broadcast value {broadcast_id} is no longer available on any worker "
        "(was it unpersisted, or were all workers holding it lost?)")


async def _fetch_async(dask_worker, key: str, broadcast_id: str) -> Any:
    """The block from a worker that holds it, asking one holder after the other."""
    who_has = await dask_worker.scheduler.who_has(keys=[key])
    holders = [a for a in who_has.get(key) or () if a != dask_worker.address]
    for address in holders:
        answers = await ask_holders(dask_worker,
                                    {address: {"op": "bndl_get_broadcast", "key": key}})
        answer, error = answers[address]
        if error is None and answer.get("found"):
            return answer["blob"]
    raise _missing(broadcast_id)


def _fetch(dask_worker, key: str, broadcast_id: str) -> Any:
    """``_fetch_async`` from a task thread."""
    return asyncio.run_coroutine_threadsafe(_fetch_async(dask_worker, key, broadcast_id),
                                            dask_worker.loop.asyncio_loop).result()


class WorkerBroadcast:
    """A broadcast value as tasks see it; read it as ``.value``.

    This is what a ``BroadcastValue`` captured in a task's function becomes on the worker.
    """

    __slots__ = ("id", "key", "serialization", "deserialization", "unpersisted")

    def __init__(self, broadcast_id: str, key: str, serialization: str | None,
                 deserialization: Callable | None, unpersisted: bool = False):
        self.id = broadcast_id
        self.key = key
        self.serialization = serialization
        self.deserialization = deserialization
        self.unpersisted = unpersisted

    @property
    def value(self) -> Any:
        if self.unpersisted:
            raise _unpersisted_error(self.id)
        dask_worker = _dask_worker()
        if dask_worker is None:
            return self._driver_value()
        services = services_for(dask_worker)
        with services.broadcast_lock:
            entry = services.broadcasts.get(self.id)
            if entry is None:
                entry = services.broadcasts[self.id] = _Entry()
        if entry is UNPERSISTED:
            raise _unpersisted_error(self.id)
        if entry.value is not _UNSET:
            return entry.value
        with entry.lock:  # one thread per process loads it; the others wait and reuse it
            if entry.value is _UNSET:
                blob = entry.blob
                if blob is None:
                    blob = dask_worker.data.get(self.key) if self.key in dask_worker.data \
                        else None
                if blob is None:
                    blob = _fetch(dask_worker, self.key, self.id)
                entry.value = decode(blob, self.serialization, self.deserialization)
                entry.blob = None  # the object replaces its bytes
                entry.loads += 1
        return entry.value

    def _driver_value(self) -> Any:
        original = driver_value(self.id)
        if original is None:
            raise RuntimeError(
                f"Broadcast value {self.id} can be read inside tasks and on the driver that "
                "made it, not here")
        return original.value

    def __reduce__(self):
        return (WorkerBroadcast, (self.id, self.key, self.serialization, self.deserialization,
                                  self.unpersisted))

    def __repr__(self) -> str:
        return f"<WorkerBroadcast {self.id}>"


def state_of(dask_worker, broadcast_id: str) -> str:
    """'absent', 'block', 'value' or 'unpersisted': what this worker holds (for ``client.run``)."""
    entry = services_for(dask_worker).broadcasts.get(broadcast_id)
    if entry is None:
        return "absent"
    if entry is UNPERSISTED:
        return "unpersisted"
    return "value" if entry.value is not _UNSET else ("block" if entry.blob is not None
                                                      else "absent")


def loads_of(dask_worker, broadcast_id: str) -> int:
    """How many times this worker deserialized ``broadcast_id`` (for ``client.run``)."""
    entry = services_for(dask_worker).broadcasts.get(broadcast_id)
    return entry.loads if isinstance(entry, _Entry) else 0
