"""``ComputeContext``: the driver's handle on a dask cluster."""

from __future__ import annotations

import atexit
import dataclasses
import logging
import time
import warnings
import weakref
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import dask.config
from distributed import Client
from distributed.deploy import Cluster

from bndl_dask.api.accumulator import Accumulator, apply_updates
from bndl_dask.api.cluster import (
    check_count,
    check_port,
    quiet_logs,
)
from bndl_dask.api.dashboard import jobs_page_link, register_dashboard
from bndl_dask.api.executor import Executor, served_dashboard_link
from bndl_dask.api.progress import context_html, job_reporter
from bndl_dask.datasets.core import ActionInTaskError
from bndl_dask.datasets.files import FilesContextMixin
from bndl_dask.datasets.interop_sources import InteropContextMixin
from bndl_dask.datasets.sources import SourcesMixin
from bndl_dask.execute.context import ExecutionContext
from bndl_dask.execute.job import Job, Task
from bndl_dask.execute.placement import task_slots
from bndl_dask.execute.runner import JobRunner
from bndl_dask.util import config
from bndl_dask.util.config import Conf
from bndl_dask.worker.identity import WorkerHandle, process_identity
from bndl_dask.worker.plugin import PLUGIN_NAME, BndlWorkerPlugin
from bndl_dask.worker.runtime import in_task

logger = logging.getLogger(__name__)

_live_contexts: weakref.WeakSet[ComputeContext] = weakref.WeakSet()

if TYPE_CHECKING:
    from bndl_dask.api.broadcast import BroadcastValue
    from bndl_dask.api.profiling import CpuProfiling, MemoryProfiling


#: how many finished jobs ``ctx.jobs`` keeps. BNDL keeps every job; a driver that runs jobs for
#: days would grow without end (a few KiB per job), so the oldest are dropped beyond this.
JOBS_KEPT = 1000


class RecentJobs(list):
    """``ctx.jobs``: a list of the jobs run so far, the oldest dropped beyond ``JOBS_KEPT``."""

    def append(self, job: Job) -> None:
        super().append(job)
        if len(self) > JOBS_KEPT:
            del self[:len(self) - JOBS_KEPT]


def _switch_interval(conf: Conf) -> float | None:
    value = conf.get("bndl.execute.switch_interval")
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if not 0 < seconds <= 1:
        raise ValueError(f"setting 'bndl.execute.switch_interval' must be a number of seconds "
                         f"in (0, 1] or null, got {value!r}")
    return seconds


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class ComputeContext(SourcesMixin, FilesContextMixin, InteropContextMixin, ExecutionContext):
    """The driver's handle on a cluster: makes datasets, runs jobs, broadcasts, profiles.

    ``ComputeContext()`` starts an embedded local cluster of worker processes (one per core, or
    ``worker_count``) listening on 127.0.0.1; ``ComputeContext('host:8786')`` joins a running
    dask scheduler; a dask ``Cluster`` or ``Client`` object is used as is.

    A context is a context manager that stops it (and the cluster it started) on exit::

        from bndl_dask import ComputeContext
        with ComputeContext(worker_count=2) as ctx:
            print(ctx.range(10).map(lambda x: x * 2).sum())

    >>> ctx.range(10).map(lambda x: x * 2).sum()
    90
    """

    def __init__(self, address: str | Cluster | Client | None = None, *, ip: str | None = None,
                 port: int | None = None, worker_count: int | None = None,
                 spawn_workers: int | None = None, threads_per_worker: int | None = None,
                 memory_limit: Any = None, dashboard: bool | None = None, security: Any = None,
                 connect_timeout: float | None = None, conf: dict | None = None,
                 **cluster_kwargs: Any):
        if in_task():
            raise RuntimeError("A ComputeContext cannot be created inside a task")
        config.check_settings()  # a misspelt key fails here, before a cluster starts
        self.conf = Conf(conf)
        switch_interval = _switch_interval(self.conf)  # checked before a cluster starts
        self.jobs: list[Job] = RecentJobs()  # the last JOBS_KEPT jobs
        self._stopped = False
        self._owns_client = True
        worker_count = check_count("worker_count", worker_count)
        spawn_workers = check_count("spawn_workers", spawn_workers)
        if spawn_workers is not None:
            if worker_count is not None and worker_count != spawn_workers:
                raise ValueError("give worker_count or spawn_workers, not both")
            worker_count = spawn_workers
        if ip is not None or port is not None:
            if address is not None:
                raise ValueError("give an address or ip= and port=, not both")
            address = f"{ip or '127.0.0.1'}:{check_port(port if port is not None else 8786)}"
        if address is None:
            address = config.get("bndl.net.scheduler") or dask.config.get(
                "scheduler-address", None)
        timeout = connect_timeout or config.get("bndl.net.connect_timeout")
        if isinstance(address, Client):
            if worker_count is not None:
                raise ValueError("worker_count only applies to an embedded cluster")
            self.client = address
            self._owns_client = False
        elif address is None or isinstance(address, (str, Cluster)):
            if address is not None and worker_count is not None:
                raise ValueError("worker_count only applies to an embedded cluster")
            self.client = Executor(
                address, security=security, worker_count=worker_count,
                threads_per_worker=threads_per_worker, memory_limit=memory_limit,
                dashboard=dashboard, connect_timeout=timeout, **cluster_kwargs)
        else:
            raise TypeError(
                "ComputeContext takes a scheduler address ('host:8786'), a dask Cluster or a "
                f"dask Client, not {type(address).__name__}")
        try:
            self.client.register_plugin(
                BndlWorkerPlugin(switch_interval=switch_interval,
                                 dask_profiler=bool(self.conf.get("bndl.execute.dask_profiler"))),
                name=PLUGIN_NAME)
            self._dashboard_feed = register_dashboard(self.client, self.conf)
        except BaseException:
            self.stop()
            raise
        self._known_workers: dict[str, float] = {}
        #: runs this context's jobs (ctx.execute and every action)
        self.runner = JobRunner(
            self.client, self.conf, job_workers=self._job_workers,
            check_running=self._check_running, record=self.jobs.append,
            observe=lambda job: job_reporter(self, job), apply_updates=apply_updates,
            feed=self._dashboard_feed)
        _live_contexts.add(self)

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the context can run jobs (it was not stopped).

        >>> ctx.running, ctx.stopped
        (True, False)
        """
        return not self._stopped

    @property
    def stopped(self) -> bool:
        """Whether ``stop()`` was called (the opposite of ``running``)."""
        return self._stopped

    def stop(self) -> None:
        """Disconnect; an embedded cluster is shut down with it."""
        if self._stopped:
            return
        self._stopped = True
        _live_contexts.discard(self)
        feed = getattr(self, "_dashboard_feed", None)
        if feed is not None:
            feed.stop()
        if self._owns_client:
            with quiet_logs():
                try:
                    self.client.close()
                except Exception:
                    logger.debug("closing the client failed", exc_info=True)

    close = stop

    def __enter__(self) -> ComputeContext:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _check_running(self) -> None:
        if self._stopped:
            raise RuntimeError("This ComputeContext is stopped; create a new one")
        client = getattr(self, "client", None)
        if getattr(client, "status", None) == "closed":  # dask gave up reconnecting
            address = getattr(client.scheduler, "address", "")
            raise ConnectionError(
                f"This ComputeContext lost its dask scheduler {address}"
                f" and dask gave up reconnecting; start a new ComputeContext when a scheduler "
                f"is running there again")

    def __getstate__(self):
        raise ActionInTaskError(
            "A ComputeContext cannot be sent to workers: actions (collect, count, ...) can only "
            "be started on the driver, not inside a task")

    # -- the cluster -----------------------------------------------------------------------------

    @property
    def executor(self) -> Client:
        """dask's futures API (submit, map, gather, scatter, ...) on the same connection.

        >>> ctx.executor.submit(abs, -1).result()
        1
        """
        return self.client

    @property
    def dashboard_link(self) -> str | None:
        """The "BNDL jobs" page of the dask dashboard (this context's jobs, their stages and
        tasks; dask's own pages are a click away), or None when no dashboard is served.
        ``ctx.executor.dashboard_link`` is dask's status page.

        >>> ctx.dashboard_link is None   # the session cluster runs without a dashboard
        True
        """
        link = jobs_page_link(self)
        if link is not None:
            return link
        try:
            return served_dashboard_link(self.client)
        except Exception:
            return None

    @property
    def workers(self) -> list[WorkerHandle]:
        """The workers connected now, sorted by name.

        >>> [worker.host for worker in ctx.workers]
        ['127.0.0.1', '127.0.0.1']
        """
        self._check_running()
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        handles = [WorkerHandle.from_info(address, w) for address, w in info.items()]
        return sorted(self._with_pids(handles))

    def _worker_snapshot(self, max_age: float = 1.0) -> list[WorkerHandle]:
        """``workers`` as seen at most ``max_age`` seconds ago: saves a scheduler round trip
        per job. Jobs notice workers that leave on their own (the scheduler's liveness check)."""
        now = time.monotonic()
        taken, workers = self.__dict__.get("_snapshot", (0.0, None))
        if workers is None or now - taken > max_age:
            workers = self.workers
            self._snapshot = (now, workers)
        return workers

    def _with_pids(self, handles: list[WorkerHandle]) -> list[WorkerHandle]:
        """Fill in worker pids (dask's scheduler_info has none): asked once per worker, with
        whether its hash seed is the others' (``_check_hash_seeds``)."""
        pids = self.__dict__.setdefault("_worker_pids", {})
        new = [h.address for h in handles if h.pid is None and h.address not in pids]
        if new:
            answers = self.client.run(process_identity, workers=new, on_error="return")
            identities = {a: i for a, i in answers.items() if isinstance(i, tuple)}
            pids.update({a: pid for a, (pid, _) in identities.items()})
            self._check_hash_seeds({a: probe for a, (_, probe) in identities.items()})
        return [h if h.pid is not None or h.address not in pids
                else dataclasses.replace(h, pid=pids[h.address]) for h in handles]

    def _check_hash_seeds(self, probes: dict[str, int]) -> None:
        """Warn (once) when workers hash strings differently: keys of classes whose ``hash()``
        uses strings would then be placed differently by different workers."""
        seen = self.__dict__.setdefault("_hash_seed_probes", {})
        seen.update(probes)
        if len(set(seen.values())) > 1 and not self.__dict__.get("_hash_seeds_warned"):
            self._hash_seeds_warned = True
            warnings.warn(
                "The workers hash strings differently (they run with different PYTHONHASHSEED "
                "values, or without a dask nanny, which sets one). Shuffles place numbers, "
                "strings, bytes, dates, times, enums, paths and tuples of them alike on every "
                "worker, but keys of your own classes whose hash() uses strings (a dataclass "
                "of str fields, say) would be split between partitions: start every worker "
                "with the same PYTHONHASHSEED.", RuntimeWarning, stacklevel=3)

    @property
    def worker_count(self) -> int:
        """How many workers are connected (waits for workers when there are none yet).

        >>> ctx.worker_count
        2
        """
        count = len(self.workers)
        return count if count else self.await_workers()

    def await_workers(self, worker_count: int | None = None,
                      connect_timeout: float | timedelta = 5,
                      stable_timeout: float | timedelta = 60) -> int:
        """Wait for workers to connect and their number to settle; returns that number.

        Returns at once when exactly ``worker_count`` workers are connected. Raises RuntimeError
        when no worker connects within ``connect_timeout`` seconds (also when the context
        started no workers: ``bndl.compute.worker_count`` 0); warns and returns the count when
        it has not settled within ``stable_timeout`` seconds.

        As in BNDL, ``worker_count`` only lets the wait end early: when fewer workers than that
        are connected and their number has settled, that smaller number is returned, with a
        warning saying so (compare the result when the job needs them all).

        Settled means, as in BNDL: no worker joined recently (workers present when this context
        first looked count as old), or one joined more than ``connect_timeout`` ago, or the
        time since the last join exceeds twice the largest gap between recent joins. BNDL's
        check that workers see each other has no counterpart: dask workers connect on demand.

        >>> ctx.await_workers(2)
        2
        """
        self._check_running()
        connect_timeout = _seconds(connect_timeout)
        stable_timeout = _seconds(stable_timeout)
        start = time.monotonic()
        delay = 0.1
        while True:
            now = time.monotonic()
            names = [w.name for w in self.workers]
            # Workers already there when this context first looks count as long connected.
            seen_at = now if self._known_workers else 0.0
            for name in names:
                self._known_workers.setdefault(name, seen_at)
            count = len(names)
            if worker_count is not None and count == worker_count:
                return count
            if count == 0:
                if now - start > connect_timeout:
                    raise RuntimeError(
                        f"no workers available: none connected to scheduler "
                        f"{self.client.scheduler.address} within {connect_timeout:g} s "
                        f"(start some with `dworker <scheduler address>`, or let the context "
                        f"start them: bndl.compute.worker_count)")
            elif self._membership_stable(names, now, connect_timeout, stable_timeout):
                if worker_count is not None and count < worker_count:
                    warnings.warn(f"{worker_count} workers awaited, but only {count} connected "
                                  f"and their number settled; returning {count}", stacklevel=2)
                return count
            if now - start > stable_timeout:
                warnings.warn(f"Worker count not stable after {stable_timeout} s", stacklevel=2)
                return count
            time.sleep(delay)
            # BNDL grows the poll interval x1.5 up to connect_timeout; capped at 1 s here so a
            # wait for an exact worker_count ends soon after the last one registers.
            delay = min(delay * 1.5, connect_timeout, 1.0)

    def _membership_stable(self, names: list[str], now: float, connect_timeout: float,
                           stable_timeout: float) -> bool:
        recent = sorted(t for n, t in self._known_workers.items()
                        if n in names and now - t < stable_timeout and t > 0)
        if not recent:
            return True
        if len(recent) == 1:
            return now - recent[0] > connect_timeout
        largest_gap = max(b - a for a, b in zip(recent, recent[1:]))
        return now - recent[-1] > 2 * largest_gap

    @property
    def default_pcount(self) -> int:
        """``bndl.compute.pcount`` when set, else the tasks the cluster runs at once: the
        workers' threads, or workers x ``bndl.execute.concurrency`` when that is set.

        >>> import dask
        >>> with dask.config.set({'bndl.compute.pcount': 3}):
        ...     ctx.default_pcount, ctx.range(10).pcount
        (3, 3)
        """
        pcount = self.conf.get("bndl.compute.pcount")
        if pcount:
            return int(pcount)
        workers = self.workers
        if not workers:
            self.await_workers()
            workers = self.workers
        return task_slots(workers, self.runner.concurrency())

    # -- accumulators and broadcasts -------------------------------------------------------------

    def accumulator(self, initial: Any) -> Accumulator:
        """A value on the driver that tasks can add to (see ``Accumulator``).

        >>> total = ctx.accumulator(0)
        >>> def add(i):
        ...     global total
        ...     total += i
        >>> ctx.range(5).map(add).execute()
        >>> total.value
        10
        """
        return Accumulator(initial, host="driver")

    def broadcast(self, value: Any, serialization: str | None = "auto",
                  deserialization: Any = None) -> BroadcastValue:
        """Ship ``value`` once to every worker; tasks read it as ``.value``.

        >>> names = ctx.broadcast(['zero', 'one'])
        >>> ctx.range(2).map(lambda i: names.value[i]).collect()
        ['zero', 'one']
        >>> names.unpersist()
        """
        from bndl_dask.api.broadcast import broadcast

        return broadcast(self, value, serialization, deserialization)

    # -- profiling -------------------------------------------------------------------------------

    @property
    def cpu_profiling(self) -> CpuProfiling:
        """yappi on every worker, started and stopped together (see docs/profiling.rst)."""
        from bndl_dask.api.profiling import CpuProfiling

        return CpuProfiling(self)

    @property
    def memory_profiling(self) -> MemoryProfiling:
        """tracemalloc on every worker, started and stopped together (see docs/profiling.rst)."""
        from bndl_dask.api.profiling import MemoryProfiling

        return MemoryProfiling(self)

    # -- running jobs ----------------------------------------------------------------------------

    def execute(self, job: Job, workers: Sequence[WorkerHandle] | None = None,
                order_results: bool = True, concurrency: int | None = None,
                attempts: int | None = None) -> Iterator[Task]:
        """Run ``job`` and yield its tasks as they finish (read ``task.result()``).

        A generator: nothing runs until it is iterated, and closing it cancels the job. With
        ``order_results`` tasks come in job order, each as soon as it and all before it are done.
        """
        return self.runner.run(job, workers, order_results, concurrency, attempts)

    def _job_workers(self) -> list[WorkerHandle]:
        """The workers a job on the whole cluster starts with."""
        workers = self._worker_snapshot()
        if not workers or any(w.name not in self._known_workers for w in workers):
            self.await_workers()  # first job, or the cluster changed: let it settle
            workers = self.workers
        return workers

    def _repr_html_(self) -> str:
        return context_html(self)

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else f"scheduler {self.client.scheduler.address}"
        return f"<ComputeContext {state}>"


@atexit.register
def _stop_all() -> None:
    """Shut embedded clusters down quietly before distributed's own exit handlers run."""
    for context in list(_live_contexts):
        try:
            context.stop()
        except Exception:
            pass
