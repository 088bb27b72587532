"""Per-worker bndl state: running tasks, cached partitions, shuffle buckets, broadcast values.

One ``WorkerServices`` lives in ``worker.extensions['bndl']``. The worker plugin creates it when
the context registers the plugin, and tasks create it on first use on a worker that somehow
missed the plugin. Its comm handlers (``bndl_get_blocks``, ``bndl_get_range``, ``bndl_get_object``,
``bndl_get_broadcast``) answer the requests of ``worker.fetch`` from other workers: shuffle, sort,
cache and broadcast reads, over dask's own connections.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

import dask.config
import psutil
from distributed import get_worker
from distributed.protocol import to_serialize

from bndl_dask.util import config
from bndl_dask.worker.blockstore import BlockStore
from bndl_dask.worker.identity import WorkerHandle
from bndl_dask.worker.range_serving import serve_range

EXTENSION_NAME = "bndl"
#: how many cancelled job tokens a worker remembers (a job's tokens are never reused)
_CANCELLED_JOBS_KEPT = 4096
#: seconds a cancelled task's thread is watched for a safe moment to raise TaskCancelled in
_INTERRUPT_PATIENCE = 120.0
_create_lock = threading.Lock()


class WorkerServices:
    def __init__(self, worker):
        self.worker = worker
        self.handle = WorkerHandle.from_info(
            worker.address,
            {
                "name": worker.name,
                "host": worker.ip,
                "pid": os.getpid(),
                "nthreads": worker.state.nthreads,
                "memory_limit": worker.memory_manager.memory_limit,
            },
        )
        limit_pct = float(config.get("bndl.compute.memory.limit", 50))
        memory_limit = worker.memory_manager.memory_limit or 4 * 2**30
        budget = int(memory_limit * limit_pct / 100)
        directory = getattr(worker, "local_directory", None)
        self.blocks = BlockStore(budget, directory, memory_pressure(worker))
        # cached partitions kept as Python objects (cache() without serialization)
        self.objects: dict[Hashable, Any] = {}
        self.broadcasts: dict[str, Any] = {}
        self.broadcast_lock = threading.Lock()
        self._running: dict[str, tuple[int, str]] = {}  # key -> (thread ident, job token)
        self._cancelled_jobs: dict[str, None] = {}  # insertion-ordered, bounded
        self._lock = threading.Lock()
        worker.handlers["bndl_get_blocks"] = self.get_blocks
        worker.handlers["bndl_get_object"] = self.get_object
        worker.handlers["bndl_get_range"] = self.get_range
        worker.handlers["bndl_get_broadcast"] = self.get_broadcast

    # -- running tasks and cancellation -------------------------------------------------------

    def task_started(self, key: str, ident: int, job: str = "") -> bool:
        """Register ``key`` as running in thread ``ident``; False if its job was cancelled."""
        with self._lock:
            if job and job in self._cancelled_jobs:
                return False
            self._running[key] = (ident, job)
            return True

    def task_stopped(self, key: str) -> None:
        with self._lock:
            self._running.pop(key, None)

    def cancel_job(self, job: str, raise_in_thread: Callable[[int], bool] | None = None
                   ) -> list[str]:
        """Start no more tasks of ``job`` here; with ``raise_in_thread``, also interrupt the
        running ones. ``raise_in_thread(ident)`` returns False when the thread is at a point
        where an exception must not land (inside dask's or threading's code): it is retried
        there shortly, in the background, until the task has stopped."""
        if not job:
            return []
        with self._lock:
            self._cancelled_jobs[job] = None
            while len(self._cancelled_jobs) > _CANCELLED_JOBS_KEPT:
                del self._cancelled_jobs[next(iter(self._cancelled_jobs))]
            running = [key for key, (_, running_job) in self._running.items()
                       if running_job == job]
        if raise_in_thread is not None and running:
            self._interrupt(list(running), raise_in_thread)
        return running

    def interrupt(self, keys: list, raise_in_thread: Callable[[int], bool]) -> None:
        """Interrupt the threads running the task attempts ``keys`` (those that still run)."""
        self._interrupt(list(keys), raise_in_thread)

    def _interrupt(self, keys: list[str], raise_in_thread: Callable[[int], bool]) -> None:
        def attempt() -> bool:
            # under the lock: a thread that has finished its task is never interrupted
            with self._lock:
                for key in list(keys):
                    entry = self._running.get(key)
                    if entry is None or raise_in_thread(entry[0]):
                        keys.remove(key)
            return not keys

        def retry() -> None:
            deadline = time.monotonic() + _INTERRUPT_PATIENCE
            while time.monotonic() < deadline and not attempt():
                time.sleep(0.002)

        if not attempt():
            threading.Thread(target=retry, name="bndl-cancel", daemon=True).start()

    # -- blocks served to other workers -------------------------------------------------------

    def get_blocks(self, keys: list) -> dict:
        """Comm handler: the blocks this worker holds among ``keys`` and the ones it lacks."""
        found, missing = [], []
        for key in keys:
            key = tuple(key) if isinstance(key, list) else key
            try:
                found.append(self.blocks.get(key))
            except KeyError:
                missing.append(key)
        return {"blocks": found, "missing": missing}

    def get_range(self, shuffle_id: str, map_indices: list, limits_blob: bytes) -> dict:
        """Comm handler: the blocks of a sort's map tasks that may hold one key range."""
        return serve_range(self.blocks, shuffle_id, map_indices, limits_blob)

    def get_object(self, key) -> dict:
        key = tuple(key) if isinstance(key, list) else key
        if key in self.objects:
            return {"found": True, "value": to_serialize(self.objects[key])}
        if key in self.blocks:
            return {"found": True, "blob": self.blocks.get(key)}
        return {"found": False}

    def get_broadcast(self, key: str) -> dict:
        """Comm handler: the scattered block of a broadcast value, if this worker holds it."""
        data = self.worker.data
        if key in data:
            return {"found": True, "blob": data[key]}
        return {"found": False}

    def drop(self, predicate: Callable[[Hashable], bool]) -> int:
        count = self.blocks.drop(predicate)
        for key in [k for k in self.objects if predicate(k)]:
            del self.objects[key]
            count += 1
        return count

    def close(self) -> None:
        self.blocks.close()
        self.objects.clear()
        self.broadcasts.clear()


def services_for(worker) -> WorkerServices:
    """The worker's ``WorkerServices``, created on first use."""
    services = worker.extensions.get(EXTENSION_NAME)
    if services is None:
        with _create_lock:
            services = worker.extensions.get(EXTENSION_NAME)
            if services is None:
                services = WorkerServices(worker)
                worker.extensions[EXTENSION_NAME] = services
    return services


def local_blocks() -> BlockStore:
    """Inside a task: the block store of the worker it runs on."""
    return services_for(get_worker()).blocks


def memory_pressure(worker) -> Callable[[], int] | None:
    """For a worker with a memory limit: a function giving how many bytes its process is above
    the share of the limit at which dask starts spilling its own data
    (``distributed.worker.memory.spill``, else ``target``, else 70%); None without a limit.
    The block store moves that many bytes of blocks to disk when asked."""
    limit = worker.memory_manager.memory_limit
    if not limit:
        return None
    fraction = next((f for f in (dask.config.get("distributed.worker.memory.spill", None),
                                 dask.config.get("distributed.worker.memory.target", None))
                     if f), 0.7)
    threshold = int(limit * float(fraction))
    process = psutil.Process()

    def excess() -> int:
        return max(process.memory_info().rss - threshold, 0)

    return excess
