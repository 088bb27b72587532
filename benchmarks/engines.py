"""The engines a benchmark run compares, each started once and reused for every sample.

An engine's ``start()`` returns the *handle* its workload functions receive:

============  ==========================================================  ===================
engine        what runs                                                    handle
============  ==========================================================  ===================
serial        plain Python in the driver process                           ``None``
bndl_dask     ``ComputeContext(worker_count=2)`` (embedded cluster)         the ComputeContext
dask_bag      ``dask.bag`` on a default ``LocalCluster(n_workers=2)``       a ``Client``
dask_graph    hand-written dict graphs (one fused task per partition)      a ``Client``
client_map    plain ``Client.map`` / ``gather``                            a ``Client``
pyspark       ``SparkContext('local[2]')``, when pyspark is importable      the SparkContext
============  ==========================================================  ===================

The three dask engines share one ``LocalCluster`` (dask's defaults apart from the disabled
dashboard), so the run has one extra set of worker processes, not three.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
import warnings
from typing import Any

WORKERS = 2
ENGINE_NAMES = ("serial", "bndl_dask", "dask_bag", "dask_graph", "client_map", "pyspark")
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Engine:
    """Start once, hand out a handle, stop at the end; ``startup_s`` is reported, not scored."""

    name = "engine"

    def __init__(self) -> None:
        self.handle: Any = None
        self.startup_s: float | None = None
        self.info: str = ""

    def available(self) -> str | None:
        """None when the engine can run here, else why not."""
        return None

    def start(self) -> Any:
        began = time.perf_counter()
        self.handle = self._start()
        self.startup_s = time.perf_counter() - began
        return self.handle

    def _start(self) -> Any:
        return None

    def stop(self) -> None:
        pass


class SerialEngine(Engine):
    """Serial Python in a process of its own, as a plain script runs it.

    Not in the driver: the driver holds the harness, two dask schedulers and their clients,
    and the garbage collector's passes over all of that slowed down the serial references of
    container-heavy workloads (W3's dict of lists took 0.41-0.44 s there, 0.21 s in a fresh
    process), which flattered every ratio to serial time.
    """

    name = "serial"

    def _start(self) -> Any:
        import concurrent.futures
        import multiprocessing

        self.info = "plain Python in a process of its own"
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        self._pool.submit(int).result()  # started before the first sample
        return None

    def timed(self, func, sizes: dict) -> tuple[float, Any]:
        """``(seconds, result)`` of ``func(None, **sizes)``, timed in the serial process."""
        import cloudpickle

        return self._pool.submit(_timed_call, cloudpickle.dumps(func), sizes).result()

    def stop(self) -> None:
        self._pool.shutdown()


def _timed_call(func_blob: bytes, sizes: dict) -> tuple[float, Any]:
    import pickle

    func = pickle.loads(func_blob)
    began = time.perf_counter()
    result = func(None, **sizes)
    return time.perf_counter() - began, result


class BndlEngine(Engine):
    name = "bndl_dask"

    def _start(self) -> Any:
        from bndl_dask import ComputeContext

        ctx = ComputeContext(worker_count=WORKERS, dashboard=False)
        ctx.await_workers(WORKERS)
        self.info = (f"ComputeContext, {WORKERS} workers x 1 thread, worker-saturation="
                     f"{_saturation(ctx.executor)}")
        return ctx

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.stop()
            self.handle = None


class _SharedDaskCluster:
    """One default ``LocalCluster(n_workers=2)`` + ``Client`` for the dask-flavoured engines."""

    def __init__(self) -> None:
        self.cluster = None
        self.client = None
        self.users = 0

    def acquire(self):
        if self.client is None:
            from distributed import Client, LocalCluster

            # dask's defaults (1 thread per worker on this 2-core machine, worker-saturation 1.1,
            # memory limit auto); only the dashboard is off, as it is for bndl_dask here. The
            # scheduler's small HTTP server warns when another cluster holds port 8787: harmless.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Port 8787 is already in use")
                self.cluster = LocalCluster(n_workers=WORKERS, dashboard_address=None,
                                            silence_logs=logging.ERROR)
            self.client = Client(self.cluster, set_as_default=False)
            self.client.wait_for_workers(WORKERS)
        self.users += 1
        return self.client

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0 and self.client is not None:
            client, cluster = self.client, self.cluster
            self.client = self.cluster = None
            client.close()
            cluster.close()


_DASK = _SharedDaskCluster()


class DaskEngine(Engine):
    """dask_bag, dask_graph and client_map: same cluster, different ways of using it."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def _start(self) -> Any:
        client = _DASK.acquire()
        nthreads = sorted(client.nthreads().values())
        self.info = (f"default LocalCluster(n_workers={WORKERS}), threads {nthreads}, "
                     f"worker-saturation={_saturation(client)}")
        return client

    def stop(self) -> None:
        if self.handle is not None:
            self.handle = None
            _DASK.release()


class SparkEngine(Engine):
    name = "pyspark"

    def available(self) -> str | None:
        if importlib.util.find_spec("pyspark") is None:
            return "pyspark is not installed (pip install pyspark; needs Java)"
        return None

    def _start(self) -> Any:
        # Spark's Python workers import the workload functions by module name.
        paths = [_REPO_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        from pyspark import SparkConf, SparkContext

        conf = (SparkConf().setMaster(f"local[{WORKERS}]").setAppName("bndl_dask-benchmarks")
                .set("spark.ui.enabled", "false").set("spark.ui.showConsoleProgress", "false"))
        sc = SparkContext(conf=conf)
        sc.setLogLevel("ERROR")
        self.info = f"SparkContext local[{WORKERS}], Spark {sc.version}"
        return sc

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.stop()
            self.handle = None


def make_engine(name: str) -> Engine:
    if name == "serial":
        return SerialEngine()
    if name == "bndl_dask":
        return BndlEngine()
    if name in ("dask_bag", "dask_graph", "client_map"):
        return DaskEngine(name)
    if name == "pyspark":
        return SparkEngine()
    raise ValueError(f"unknown engine {name!r}; known: {', '.join(ENGINE_NAMES)}")


def _saturation(client) -> Any:
    """The scheduler's worker-saturation (queuing) setting, as it is in force."""
    try:
        return client.run_on_scheduler(_read_saturation)
    except Exception as exc:  # informational only
        return f"? ({type(exc).__name__})"


def _read_saturation(dask_scheduler=None) -> Any:
    return getattr(dask_scheduler, "WORKER_SATURATION", "?")
