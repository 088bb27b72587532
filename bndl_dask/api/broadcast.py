"""Broadcast values: a read-only value shipped once to every worker instead of with every task.

``ctx.broadcast(value)`` serializes the value once on the driver and scatters the bytes to all
workers as one block each (``client.scatter(..., broadcast=True)``); each worker keeps a reference
in its bndl services. A ``BroadcastValue`` captured in a task's function travels as a small handle;
``.value`` in a task deserializes the block on first use in that worker process and caches the
object there.

>>> table = ctx.broadcast({0: 'a', 1: 'b'})
>>> ctx.range(2).map(lambda i: table.value[i]).collect()
['a', 'b']
>>> table.unpersist()
"""

from __future__ import annotations

import json
import logging
import marshal
import threading
import uuid
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cloudpickle

from bndl_dask.worker import broadcasts as worker_side

if TYPE_CHECKING:
    from bndl_dask.api.context import ComputeContext

logger = logging.getLogger(__name__)

SERIALIZATIONS = ("auto", "pickle", "marshal", "json", "text", "binary")

_MARSHAL_SCALARS = (type(None), bool, int, float, complex, str, bytes)
_MARSHAL_CONTAINERS = (list, tuple, set, frozenset)


def _marshallable(value: Any, depth: int = 0) -> bool:
    """Whether marshal reproduces ``value`` (it also writes any buffer, e.g. an ndarray, as
    plain bytes, which would not come back as the same type)."""
    kind = type(value)
    if kind in _MARSHAL_SCALARS:
        return True
    if depth > 50:
        return False
    if kind in _MARSHAL_CONTAINERS:
        return all(_marshallable(item, depth + 1) for item in value)
    if kind is dict:
        return all(_marshallable(k, depth + 1) and _marshallable(v, depth + 1)
                   for k, v in value.items())
    return False


def _serialize(value: Any, serialization: str) -> tuple[bytes, str]:
    """``value`` as bytes, and the name of the serialization that reads it back."""
    if serialization == "auto":
        if _marshallable(value):
            return marshal.dumps(value), "marshal"
        return cloudpickle.dumps(value, protocol=5), "pickle"
    if serialization == "pickle":
        return cloudpickle.dumps(value, protocol=5), "pickle"
    if serialization == "marshal":
        return marshal.dumps(value), "marshal"
    if serialization == "json":
        return json.dumps(value).encode("utf-8"), "json"
    if serialization == "text":
        if not isinstance(value, str):
            raise TypeError(f"serialization 'text' needs a str, got {type(value).__name__}")
        return value.encode("utf-8"), "text"
    if serialization == "binary":
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"serialization 'binary' needs bytes, got {type(value).__name__}")
        return bytes(value), "binary"
    raise ValueError(f"Unsupported serialization {serialization!r}; use one of {SERIALIZATIONS} "
                     "or give a deserialization function")


def broadcast(ctx: ComputeContext, value: Any, serialization: str | None = "auto",
              deserialization: Callable[[bytes], Any] | None = None) -> BroadcastValue:
    """Ship ``value`` once to every worker; see ``ComputeContext.broadcast``."""
    if deserialization is not None:
        if serialization not in (None, "auto"):
            raise ValueError("Can't specify both serialization and deserialization")
        if not callable(deserialization):
            raise TypeError("deserialization must be callable (bytes -> object)")
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise ValueError("With a deserialization function the value must be bytes, "
                             f"bytearray or memoryview, not {type(value).__name__}")
        blob, serialization = bytes(value), None
    elif serialization is None:
        raise ValueError("Must specify either serialization or deserialization")
    else:
        blob, serialization = _serialize(value, serialization)
    ctx._check_running()
    return BroadcastValue(ctx, blob, serialization, deserialization)


class BroadcastValue:
    """A value shipped once to every worker; read it as ``.value`` in tasks or on the driver.

    ``unpersist()`` drops it everywhere (tasks reading it afterwards fail); dropping the last
    reference to it on the driver does the same.
    """

    def __init__(self, ctx: ComputeContext, blob: bytes, serialization: str | None,
                 deserialization: Callable | None):
        self.id = uuid.uuid4().hex[:8]
        self.serialization = serialization
        self.deserialization = deserialization
        self._ctx = weakref.ref(ctx)
        self._blob: bytes | None = blob
        self._value: Any = None
        self._loaded = False
        self._lock = threading.Lock()
        self._unpersisted = False
        client = ctx.client
        self._future = client.scatter(blob, broadcast=True, hash=False)
        self.key = self._future.key
        try:  # a reference per worker, so dask's memory manager can't drop the replicas
            client.run(worker_side.keep_block, broadcast_id=self.id, key=self.key,
                       callback_timeout=_DROP_TIMEOUT)
        except Exception:
            logger.debug("pinning broadcast %s on the workers failed", self.id, exc_info=True)
        self._finalizer = weakref.finalize(self, _drop, self._ctx, self.id, self._future)
        self._finalizer.atexit = False
        worker_side.register_driver_value(self.id, self)

    @property
    def value(self) -> Any:
        """The value (deserialized once, then cached)."""
        if self._unpersisted:
            raise worker_side._unpersisted_error(self.id)
        with self._lock:
            if not self._loaded:
                self._value = worker_side.decode(self._blob, self.serialization,
                                                 self.deserialization)
                self._loaded = True
            return self._value

    @property
    def unpersisted(self) -> bool:
        return self._unpersisted

    def unpersist(self, block: bool = False, timeout: float | None = None) -> None:
        """Drop the value on the driver and every worker; later reads in tasks fail.

        ``block=True`` waits until every worker dropped it (each at most ``timeout`` seconds).
        """
        if self._unpersisted:
            return
        self._unpersisted = True
        self._blob = None
        self._value = None
        self._finalizer.detach()
        _drop(self._ctx, self.id, self._future, wait=block, timeout=timeout)
        self._future = None

    def __reduce__(self):
        # captured in a task's function, the value travels as a handle that reads it on the worker
        return (worker_side.WorkerBroadcast, (self.id, self.key, self.serialization,
                                              self.deserialization, self._unpersisted))

    def __repr__(self) -> str:
        state = " unpersisted" if self._unpersisted else ""
        return f"<BroadcastValue {self.id}{state}>"


_pending_drops: list[threading.Thread] = []
_DROP_TIMEOUT = 30.0


def _drop(ctx_ref, broadcast_id: str, future, wait: bool = False,
          timeout: float | None = None) -> None:
    """Release the scattered block and tell every worker to forget the value."""
    ctx = ctx_ref()
    if ctx is None or ctx.stopped:
        return

    def run() -> None:
        try:
            if future is not None:
                future.release()
            ctx.client.run(worker_side.forget, broadcast_id=broadcast_id,
                           callback_timeout=timeout or _DROP_TIMEOUT)
        except Exception:
            logger.debug("unpersisting broadcast %s failed", broadcast_id, exc_info=True)

    if wait:
        run()
        return
    # in a thread: garbage collection may call this on the client's event loop thread, where a
    # blocking call to the cluster would deadlock; tasks started later fail anyway, because the
    # handle they get says the value was unpersisted
    thread = threading.Thread(target=run, name=f"bndl-unpersist-{broadcast_id}", daemon=True)
    _pending_drops[:] = [t for t in _pending_drops if t.is_alive()] + [thread]
    thread.start()


def wait_for_drops(timeout: float | None = None) -> None:
    """Wait until the workers dropped every broadcast unpersisted in the background so far."""
    for thread in list(_pending_drops):
        thread.join(timeout)
