"""The default context that libraries share (``set_context`` / ``get_context``)."""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_current: Any = None


def set_context(ctx: Any) -> None:
    """Make ``ctx`` the context ``get_context()`` and ``bndl_dask.ctx`` return."""
    global _current
    with _lock:
        _current = ctx


def get_context(create: bool = True) -> Any:
    """The shared context; created on first use (from ``bndl.net.scheduler`` when set, else an
    embedded local cluster) and again after it was stopped."""
    global _current
    with _lock:
        if (_current is None or _current.stopped) and create:
            from bndl_dask.api.context import ComputeContext

            _current = ComputeContext()
        return _current


class LazyContext:
    """``bndl_dask.ctx``: behaves as the shared context, created on first attribute access.

    ``from bndl_dask import ctx`` gives it; ``set_context`` chooses the context it stands for.

    >>> import bndl_dask
    >>> previous = get_context(create=False)
    >>> set_context(ctx)
    >>> bndl_dask.ctx.range(100).count()
    100
    >>> set_context(previous)
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(get_context(), name)

    def __dir__(self):
        return dir(get_context())

    def __repr__(self) -> str:
        current = get_context(create=False)
        return repr(current) if current is not None else "<lazy ComputeContext (not started)>"



