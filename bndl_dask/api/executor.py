"""``Executor``: dask's futures API (submit / map / gather / scatter) on a bndl cluster.

``Executor`` is a ``distributed.Client``: every futures feature of dask works on it unchanged.
What it adds is how it finds its cluster: ``Executor()`` starts an embedded local cluster of
worker processes on 127.0.0.1 (and closes it again), ``Executor('host:8786')`` joins a running
scheduler and fails promptly, naming the address, when nothing answers there.

The seed's ``compute(get=e.get)`` and ``dask.set_options(get=e.get)`` are spelled
``compute(scheduler=e)`` and ``dask.config.set(scheduler=e)`` in current dask, and
``dask.imperative.do`` is ``dask.delayed``.
"""

from __future__ import annotations

from typing import Any

import dask
from distributed import Client
from distributed.deploy import Cluster

from bndl_dask.api.cluster import (
    check_reachable,
    normalize_address,
    quiet_logs,
    start_local_cluster,
)
from bndl_dask.util import config


def _has_dashboard_pages(dask_scheduler) -> bool:
    # the bokeh dashboard is an application added to the scheduler's HTTP server; without
    # bokeh (or with the dashboard off) the server only answers /health, metrics and a page
    # saying "Dask needs bokeh"
    application = getattr(dask_scheduler, "http_application", None)
    return bool(getattr(application, "applications", None))


def _scheduler_serves_dashboard(client: Client) -> bool:
    try:
        return bool(client.run_on_scheduler(_has_dashboard_pages))
    except Exception:
        return True  # cannot tell (a scheduler refusing to run code): keep dask's link


def served_dashboard_link(client: Client) -> str | None:
    """``client.dashboard_link`` when the scheduler serves the dashboard's pages, else None.

    dask gives a link whenever the scheduler has an HTTP server, also when that server has no
    dashboard on it (bokeh missing, or the dashboard switched off).
    """
    if isinstance(client, ExecutorClient):
        return client.dashboard_link
    return client.dashboard_link if _scheduler_serves_dashboard(client) else None


class ExecutorClient(Client):
    """A dask ``Client`` that starts or joins a cluster the bndl way (exported as ``Executor``).

    The class name ends in ``Client`` on purpose: ``dask.compute(scheduler=e)`` and
    ``dask.config.set(scheduler=e)`` recognise a distributed client by its class name.

    >>> from bndl_dask import Executor
    >>> with Executor(worker_count=1) as e:
    ...     e.gather(e.map(abs, [-1, -2]))
    [1, 2]
    """

    def __init__(self, address: str | Cluster | None = None, *, security: Any = None,
                 worker_count: int | None = None, threads_per_worker: int | None = None,
                 memory_limit: Any = None, dashboard: bool | None = None,
                 connect_timeout: float | None = None, **kwargs: Any):
        self._owned_cluster = None
        self._serves_dashboard = True
        self._dashboard_pages: bool | None = None  # asked of the scheduler on first use
        timeout = connect_timeout or config.get("bndl.net.connect_timeout")
        if address is not None and worker_count is not None:
            raise ValueError("worker_count only applies to an embedded cluster")
        if address is None:
            self._serves_dashboard = dashboard if dashboard is not None else bool(
                config.get("bndl.net.dashboard"))
            self._owned_cluster = start_local_cluster(
                worker_count, threads_per_worker, memory_limit, dashboard, security=security)
            target: Any = getattr(self._owned_cluster, "local_cluster", self._owned_cluster)
        elif isinstance(address, str):
            target = normalize_address(address)
            check_reachable(target, timeout)
        elif isinstance(address, Cluster):
            target = address
        else:
            raise TypeError(
                f"Executor takes a scheduler address ('host:8786') or a dask Cluster, "
                f"not {type(address).__name__}")
        kwargs.setdefault("timeout", timeout)
        try:
            super().__init__(target, security=security, **kwargs)
        except BaseException:
            self._close_owned_cluster()
            raise

    def compute(self, collections: Any, *more: Any, **kwargs: Any) -> Any:
        """dask's ``Client.compute``; also takes several collections as arguments, as the seed
        writes it (``e.compute(*values)`` returns a list of futures).

        >>> import dask
        >>> futures = ctx.executor.compute(*[dask.delayed(abs)(-i) for i in range(3)])
        >>> ctx.executor.gather(futures)
        [0, 1, 2]
        """
        if more and any(dask.is_dask_collection(c) for c in more):
            return super().compute([collections, *more], **kwargs)
        return super().compute(collections, *more, **kwargs)

    @property
    def dashboard_link(self) -> str | None:
        """The dask dashboard's address; None when no dashboard is served (an embedded cluster
        started without one, or bokeh missing where the scheduler runs)."""
        if not self._serves_dashboard:
            return None
        if self._dashboard_pages is None:
            self._dashboard_pages = _scheduler_serves_dashboard(self)
        return super().dashboard_link if self._dashboard_pages else None

    def _close_owned_cluster(self) -> None:
        cluster, self._owned_cluster = self._owned_cluster, None
        if cluster is not None:
            with quiet_logs():
                cluster.close()

    def close(self, timeout: Any = None) -> None:  # type: ignore[override]
        """Disconnect, and shut down the embedded cluster if this executor started it."""
        with quiet_logs():
            if self.status not in ("closed", "closing"):
                if timeout is None:
                    super().close()
                else:
                    super().close(timeout=timeout)
            self._close_owned_cluster()

    def __repr__(self) -> str:
        return super().__repr__().replace(f"<{type(self).__name__}:", "<Executor:", 1)


#: the seed's name for dask's futures interface
Executor = ExecutorClient
