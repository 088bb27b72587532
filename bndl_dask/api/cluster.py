"""Finding a dask cluster: parsing addresses, starting an embedded one, connecting quietly."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import dask.config
from distributed import LocalCluster

from bndl_dask.util import config
from bndl_dask.util.checks import positive_int as check_count  # also used by api.context

#: tasks a worker thread holds (running and waiting) under dask's root-task queueing
WORKER_SATURATION = 4.0

_NOISY_LOGGERS = (
    "distributed",
    "distributed.worker",
    "distributed.nanny",
    "distributed.scheduler",
    "distributed.core",
    "distributed.comm",
    "distributed.batched",
    "distributed.client",
    "tornado",
)


def normalize_address(address: str) -> str:
    """``'host:8786'`` or ``'tcp://host:8786'`` -> ``'tcp://host:8786'``, checking the port.

    >>> normalize_address('127.0.0.1:8786')
    'tcp://127.0.0.1:8786'
    >>> normalize_address('tls://example.org:8786')
    'tls://example.org:8786'
    """
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"A scheduler address looks like 'host:8786', got {address!r}")
    text = address.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    if scheme not in ("tcp", "tls", "inproc", "ucx", "ws", "wss"):
        raise ValueError(f"Unknown protocol {scheme!r} in scheduler address {address!r}")
    if scheme == "inproc":
        return text
    host, colon, port_text = rest.rpartition(":")
    if not colon or not host or "/" in port_text:
        raise ValueError(f"A scheduler address looks like 'host:8786', got {address!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"The port in scheduler address {address!r} is not a number") from None
    check_port(port)
    return f"{scheme}://{host}:{port}"


def check_port(port: Any) -> int:
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, got {type(port).__name__}")
    if not 0 < port < 65536:
        raise ValueError(f"port must be between 1 and 65535, got {port}")
    return port


def check_reachable(address: str, timeout: float) -> None:
    """Fail fast with a ConnectionError naming the address when nothing listens there."""
    scheme, _, rest = address.partition("://")
    if scheme not in ("tcp", "tls"):
        return
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ConnectionError(
            f"Could not reach a dask scheduler at {address} ({exc.strerror or exc}). Is "
            f"`dscheduler` (or `dask scheduler`) running there, and the address right?"
        ) from None


@contextlib.contextmanager
def quiet_logs(level: int = logging.CRITICAL) -> Iterator[None]:
    """Silence distributed's shutdown chatter (closed streams, heartbeats) for a moment."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(level)
    try:
        yield
    finally:
        for lg, lvl in zip(loggers, levels):
            lg.setLevel(lvl)


def start_local_cluster(worker_count: int | None = None, threads_per_worker: int | None = None,
                        memory_limit: Any = None, dashboard: bool | None = None,
                        host: str | None = None, security: Any = None,
                        **kwargs: Any) -> EmbeddedCluster | LocalCluster:
    """An embedded cluster on 127.0.0.1 (``bndl.net.host``): a scheduler in this process and
    ``worker_count`` worker processes.

    The workers are started by a ``dworker`` child process, not with ``multiprocessing``, so a
    script may create a context at module level without an ``if __name__ == '__main__'`` guard
    (``multiprocessing``'s spawn would re-run the script in every worker). With ``security``
    (TLS) or extra ``LocalCluster`` options, dask's own ``LocalCluster`` is used instead.
    """
    worker_count = check_count("worker_count", worker_count)
    if worker_count is None:
        worker_count = configured_worker_count()
    threads_per_worker = check_count("threads_per_worker", threads_per_worker) or \
        config.get("bndl.compute.threads_per_worker") or 1
    if memory_limit is None:
        memory_limit = config.get("bndl.compute.memory_limit")
    if dashboard is None:
        dashboard = config.get("bndl.net.dashboard")
    host = host or config.get("bndl.net.host")
    from bndl_dask.worker.slots import SLOT_RESOURCE, SLOTS

    options: dict[str, Any] = dict(
        n_workers=worker_count,
        threads_per_worker=threads_per_worker,
        processes=True,
        host=host,
        # dask serves /health and metrics over HTTP even without a dashboard: keep that on
        # `host` too (dask would otherwise listen on every interface, port 8787)
        dashboard_address=f"{host}:0",
        scheduler_kwargs={"dashboard": bool(dashboard)},
        memory_limit=memory_limit,
        silence_logs=logging.ERROR,
        resources={SLOT_RESOURCE: SLOTS},
    )
    if security is not None:
        options["security"] = security
        options["protocol"] = "tls://"
    use_dworker = security is None and not kwargs
    options.update(kwargs)
    # Root-task queueing on (distributed.scheduler.worker-saturation finite), but deep: with it
    # off, dask hands each worker a contiguous run of a stage's tasks up front, and a stage whose
    # partitions differ in size (a join's two sides) leaves one worker idle; at dask's default
    # (1.1) a single-thread worker holds only two tasks, and tiny futures wait a scheduler round
    # trip each (5,000 took twice as long)
    with dask.config.set({"distributed.scheduler.worker-saturation": WORKER_SATURATION}):
        if not use_dworker:
            return LocalCluster(**options)
        options["n_workers"] = 0
        scheduler = LocalCluster(**options)
    if worker_count == 0:  # a scheduler that workers started elsewhere join
        return scheduler
    try:
        return EmbeddedCluster(scheduler, worker_count, threads_per_worker, memory_limit, host)
    except BaseException:
        with quiet_logs():
            scheduler.close()
        raise


def configured_worker_count() -> int:
    """``bndl.compute.worker_count``: local worker processes to start, one per core when unset.

    0 starts none, as in BNDL: the context then waits for workers that join its scheduler, and
    ``await_workers`` raises when none does.
    """
    value = config.get("bndl.compute.worker_count")
    if value is None:
        return os.cpu_count() or 1
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit():
        raise ValueError(f"setting 'bndl.compute.worker_count' must be a whole number of at "
                         f"least 0 (or null for one per core), got {value!r}")
    return int(text)


def _child_pythonpath() -> str:
    """This process's ``sys.path`` for the worker processes, so that functions pickled by
    reference (defined in test modules or next to a script) import there too."""
    paths = [os.getcwd() if p == "" else p for p in sys.path]
    extra = os.environ.get("PYTHONPATH")
    return os.pathsep.join(dict.fromkeys(([extra] if extra else []) + paths))


class EmbeddedCluster:
    """A scheduler in this process plus one ``dworker`` child process running the workers.

    Clients connect to ``local_cluster`` (the scheduler's dask ``LocalCluster``, no workers of its
    own). ``close()`` stops the workers first, then the scheduler, so that nothing logs about
    lost connections.
    """

    def __init__(self, scheduler: LocalCluster, worker_count: int, threads_per_worker: int,
                 memory_limit: Any, host: str, start_timeout: float = 120):
        self.local_cluster = scheduler
        self.worker_count = worker_count
        env = dict(os.environ)
        env.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
        env["PYTHONPATH"] = _child_pythonpath()
        env["BNDL_DWORKER_PARENT_PID"] = str(os.getpid())  # the workers end when we do
        command = [
            sys.executable, "-m", "bndl_dask.cli.dworker", scheduler.scheduler_address,
            "--host", host, "--nworkers", str(worker_count), "--nthreads",
            str(threads_per_worker), "--memory-limit", str(memory_limit), "--no-dashboard",
            "--name", "worker", "--death-timeout", "60",
        ]
        self.process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        self._stderr: list[bytes] = []
        # Drain stderr so a chatty worker cannot block on a full pipe; keep it for error reports.
        self._reader = threading.Thread(target=self._drain, name="bndl-dworker-stderr",
                                        daemon=True)
        self._reader.start()
        _running_clusters.add(self)
        try:
            self._await_workers(start_timeout)
        except BaseException:
            self.close()
            raise

    def _drain(self) -> None:
        for line in self.process.stderr:
            self._stderr.append(line)
            del self._stderr[:-50]

    def _await_workers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        scheduler = self.local_cluster.scheduler
        while len(scheduler.workers) < self.worker_count:
            if self.process.poll() is not None:
                self._reader.join(timeout=5)
                output = b"".join(self._stderr).decode(errors="replace").strip()
                raise RuntimeError(
                    f"The local worker processes exited (code {self.process.returncode}):\n"
                    f"{output}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.worker_count} local workers did not start within {timeout} s")
            time.sleep(0.05)

    @property
    def scheduler_address(self) -> str:
        return self.local_cluster.scheduler_address

    def close(self, timeout: float = 20) -> None:
        """Stop the workers (SIGTERM, then SIGKILL after ``timeout``), then the scheduler."""
        _running_clusters.discard(self)
        process = self.process
        with quiet_logs():  # the scheduler logs each worker leaving
            if process.poll() is None:
                try:
                    process.terminate()
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                except ProcessLookupError:
                    pass
            self.local_cluster.close()

    def __repr__(self) -> str:
        return (f"<EmbeddedCluster {self.scheduler_address}, {self.worker_count} worker "
                f"processes>")


_running_clusters: weakref.WeakSet[EmbeddedCluster] = weakref.WeakSet()


@atexit.register
def _close_running_clusters() -> None:
    """Stop worker processes left running at interpreter exit (before dask's own exit handlers,
    which would close the scheduler first and leave the workers waiting for it)."""
    for cluster in list(_running_clusters):
        try:
            cluster.close()
        except Exception:
            pass
