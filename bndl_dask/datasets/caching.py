"""Caching partitions on the workers that computed them."""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from bndl_dask.planning.cluster_calls import run_on_workers
from bndl_dask.planning.tasks import materialize, note_cached
from bndl_dask.util import serialization
from bndl_dask.worker.fetch import fetch_from_holders
from bndl_dask.worker.runtime import current_runtime
from bndl_dask.worker.services import services_for

if TYPE_CHECKING:
    from bndl_dask.datasets.core import DatasetCore, Partition

logger = logging.getLogger(__name__)

LOCATIONS = ("memory", "disk")
#: seconds to wait for workers to drop cached partitions when no timeout is given
DROP_TIMEOUT = 30.0


def cache(dset: DatasetCore, location: str | None, serialization_name: str | None,
          compression: str | None, provider: Any) -> DatasetCore:
    if provider is not None:
        raise NotImplementedError("custom cache providers are not supported by bndl_dask")
    if not location:
        dset.uncache()
        return dset
    if location not in LOCATIONS:
        raise ValueError(f"cache location must be one of {LOCATIONS}, not {location!r}")
    if location == "disk" and serialization_name is None:
        serialization_name = "pickle"
    if serialization_name is not None and serialization_name not in serialization.SERIALIZATIONS:
        raise ValueError(f"Unsupported serialization {serialization_name!r}; use one of "
                         f"{serialization.SERIALIZATIONS}")
    if compression is not None:
        if compression not in serialization.COMPRESSIONS:
            raise ValueError(f"Unsupported compression {compression!r}; use one of "
                             f"{serialization.COMPRESSIONS}")
        if serialization_name is None:
            raise ValueError("compression needs a serialization (e.g. serialization='pickle')")
    if dset.ctx is None:
        raise RuntimeError("cache() can only be called on the driver")
    dset._cache_options = {"location": location, "serialization": serialization_name,
                           "compression": compression}
    weak_finalizer(dset, _drop_when_collected, dset.ctx, dset.id)
    return dset


def weak_finalizer(dset: DatasetCore, func: Callable, *args: Any) -> None:
    """Call ``func(*args)`` when ``dset`` is garbage collected (e.g. to uncache it)."""
    if dset._finalizer is None:
        dset._finalizer = weakref.finalize(dset, func, *args)
        dset._finalizer.atexit = False


def uncache(dset: DatasetCore, block: bool = False, timeout: float | None = None):
    if dset._cache_options is None:
        return None
    dset._cache_options = None
    dset._cache_locations.clear()
    if dset._finalizer is not None:
        dset._finalizer.detach()
        dset._finalizer = None
    _drop_everywhere(dset.ctx, dset.id, wait=block, timeout=timeout)
    return dset


def _drop_local(dask_worker, dset_id: str) -> int:
    return services_for(dask_worker).drop(lambda key: key[:2] == ("cache", dset_id))


async def _drop_local_soon(dask_worker, dset_id: str) -> int:
    # client.run(..., wait=False) only accepts coroutine functions
    return _drop_local(dask_worker, dset_id)


def _drop_when_collected(ctx, dset_id: str) -> None:
    """The finalizer of a cached dataset. Garbage collection may run it on any thread, also on
    the client's event loop, where a blocking call to the cluster cannot work: there the drop
    is left to a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # an ordinary thread: drop now
        _drop_everywhere(ctx, dset_id)
        return
    threading.Thread(target=_drop_everywhere, args=(ctx, dset_id),
                     name=f"bndl-uncache-{dset_id}", daemon=True).start()


def _drop_everywhere(ctx, dset_id: str, wait: bool = True, timeout: float | None = None) -> None:
    if ctx is None or ctx.stopped:
        return
    try:
        # bounded: an unresponsive worker must not hang uncache() or garbage collection
        run_on_workers(ctx, _drop_local if wait else _drop_local_soon, wait=wait,
                       timeout=timeout or DROP_TIMEOUT, dset_id=dset_id)
    except Exception:
        logger.debug("dropping cached partitions of %s failed", dset_id, exc_info=True)


def cache_entries(dask_worker, dset_id: str) -> int:
    """How many partitions of ``dset_id`` this worker caches (for ``client.run``)."""
    services = services_for(dask_worker)
    keys = list(services.objects) + services.blocks.keys()
    return sum(1 for key in keys if key[:2] == ("cache", dset_id))


# -- worker side --------------------------------------------------------------------------------

def cached_compute(part: Partition) -> Iterable:
    """A cached partition's data: local copy, else the holder's copy, else computed and stored."""
    runtime = current_runtime()
    services = services_for(runtime.dask_worker)
    options = part.dset._cache_options
    key = ("cache", part.dset.id, part.idx)
    local = _read(services, key, options)
    if local is not None:
        return local
    location = part.cache_location
    if location and location != runtime.dask_worker.address:
        remote = _read_remote(runtime.dask_worker, location, key, options)
        if remote is not None:
            return remote  # read where it lives; not cached again here
    data = materialize(part._compute())
    _write(services, key, data, options)
    note_cached(part.dset.id, part.idx)
    return data


def _read(services, key, options) -> Any:
    if key in services.objects:
        return services.objects[key].data
    if key in services.blocks:
        return _decode(services.blocks.get(key), options)
    return None


def _write(services, key, data, options) -> None:
    if options["serialization"] is None:
        # kept as objects, wrapped so that a remote read ships the partition as one pickled
        # block: dask would serialize a bare list element by element (orders of magnitude slower)
        services.objects[key] = serialization.Block(data)
        return
    blob = serialization.dumps(data, options["serialization"])
    services.blocks.put(key, serialization.compress(blob, options["compression"]))


def _decode(blob: bytes, options) -> Any:
    raw = serialization.decompress(blob, options["compression"])
    return serialization.loads(raw, options["serialization"] or "pickle")


def _read_remote(dask_worker, address: str, key, options) -> Any:
    """The holder's copy of a cached partition, or None when it can't be had (then the caller
    recomputes it)."""
    answers = fetch_from_holders(dask_worker,
                                 {address: {"op": "bndl_get_object", "key": list(key)}})
    reply, error = answers[address]
    if error is not None:
        logger.info("cached partition %s not readable from %s (%s); recomputing", key, address,
                    error)
        return None
    if not reply.get("found"):
        return None
    if "value" in reply:
        value = reply["value"]
        return value.data if isinstance(value, serialization.Block) else value
    return _decode(reply["blob"], options)
