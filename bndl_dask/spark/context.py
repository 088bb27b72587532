"""``SparkContext`` and ``SparkConf``: PySpark's entry point over a bndl_dask ComputeContext.

``SparkContext()`` starts an embedded cluster of worker processes (``'local[4]'``: four of
them), ``SparkContext('dask://host:8786')`` joins a dask scheduler and ``SparkContext(ctx)``
uses a running ComputeContext (which ``stop()`` then leaves running).

>>> sc = SparkContext(ctx)
>>> sc.parallelize([1, 2, 3]).map(lambda x: x * x).sum()
14
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from distributed import Client
from distributed.deploy import Cluster

import bndl_dask.spark.functions as fn
from bndl_dask.api.accumulator import Accumulator as BndlAccumulator
from bndl_dask.api.context import ComputeContext
from bndl_dask.spark.rdd import RDD
from bndl_dask.spark.unsupported import CONTEXT_ALTERNATIVES, no_attribute, not_supported
from bndl_dask.worker.accumulators import AccumulatorProxy

#: the version of PySpark's API this module follows
SPARK_API_VERSION = "3.5.0"

_LOCAL = re.compile(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?")


class SparkConf:
    """Spark settings as key/value strings; ``spark.master`` and ``spark.app.name`` are used.

    >>> conf = SparkConf().setMaster('local[2]').setAppName('demo').set('spark.x', '1')
    >>> conf.get('spark.master'), conf.get('spark.y', 'none'), conf.contains('spark.x')
    ('local[2]', 'none', True)
    """

    def __init__(self, loadDefaults: bool = True):
        self._settings: dict[str, str] = {}

    def set(self, key: str, value: Any) -> SparkConf:
        self._settings[key] = str(value)
        return self

    def setIfMissing(self, key: str, value: Any) -> SparkConf:
        self._settings.setdefault(key, str(value))
        return self

    def setMaster(self, value: str) -> SparkConf:
        return self.set("spark.master", value)

    def setAppName(self, value: str) -> SparkConf:
        return self.set("spark.app.name", value)

    def setAll(self, pairs: Iterable[tuple[str, Any]]) -> SparkConf:
        for key, value in pairs:
            self.set(key, value)
        return self

    def get(self, key: str, defaultValue: str | None = None) -> str | None:
        return self._settings.get(key, defaultValue)

    def getAll(self) -> list[tuple[str, str]]:
        return list(self._settings.items())

    def contains(self, key: str) -> bool:
        return key in self._settings

    def toDebugString(self) -> str:
        return "\n".join(f"{key}={value}" for key, value in self._settings.items())


class Accumulator(BndlAccumulator):
    """PySpark's accumulator: ``acc.add(x)`` or ``acc += x`` in tasks, ``acc.value`` on the
    driver (a bndl_dask Accumulator that also has ``add``).

    >>> sc = SparkContext(ctx)
    >>> total = sc.accumulator(0)
    >>> sc.range(4).foreach(lambda x: total.add(x))
    >>> total += 10
    >>> total.value
    16
    """

    def add(self, term: Any) -> None:
        self.update("+", term)

    def __reduce__(self):
        return (TaskAccumulator, (self.id,))


class TaskAccumulator(AccumulatorProxy):
    """An accumulator inside a task: ``add`` as well as ``+=``."""

    __slots__ = ()

    def add(self, term: Any) -> None:
        self.update("+", term)

    def __reduce__(self):
        return (TaskAccumulator, (self.id,))


def _cluster_args(master: Any) -> tuple[Any, dict]:
    """The ComputeContext address and keyword arguments for a Spark master."""
    if master is None or isinstance(master, (Cluster, Client)):
        return master, {}
    if not isinstance(master, str):
        raise TypeError(f"SparkContext takes a master URL ('local[4]', 'dask://host:8786'), a "
                        f"ComputeContext or a dask Client, not {type(master).__name__}")
    local = _LOCAL.fullmatch(master)
    if local:
        threads = local.group(1)
        if threads is None:
            return None, {"worker_count": 1}
        return None, {} if threads == "*" else {"worker_count": max(1, int(threads))}
    if master.startswith("dask://"):
        return master[len("dask://"):], {}
    if master.startswith(("spark://", "yarn", "mesos://", "k8s://")):
        raise ValueError(f"bndl_dask runs on dask, not on a Spark cluster manager ({master!r}); "
                         f"give 'local[N]' or the dask scheduler as 'dask://host:8786'")
    return master, {}


class SparkContext:
    """PySpark's SparkContext over a bndl_dask ComputeContext (``sc.compute_context``).

    A context manager: ``with SparkContext('local[2]') as sc: ...`` stops it on exit.

    >>> with SparkContext(ctx) as sc:
    ...     sc.range(5).sum(), sc.defaultParallelism == ctx.default_pcount
    (10, True)
    >>> ctx.running  # a context it was given is left running
    True
    """

    _active: SparkContext | None = None
    _lock = threading.Lock()

    def __init__(self, master: Any = None, appName: str | None = None,
                 sparkHome: str | None = None, pyFiles: Sequence[str] | None = None,
                 environment: dict | None = None, batchSize: int = 0, serializer: Any = None,
                 conf: SparkConf | None = None, **context_kwargs: Any):
        self._conf = conf or SparkConf()
        if master is None:
            master = self._conf.get("spark.master")
        self.master = master if isinstance(master, str) else "dask"
        self.appName = appName or self._conf.get("spark.app.name") or "bndl_dask"
        self.environment = dict(environment or {})
        if isinstance(master, ComputeContext):
            if context_kwargs:
                raise ValueError("ComputeContext arguments apply only to a context started "
                                 "by the SparkContext")
            self.compute_context = master
            self._owns_context = False
        else:
            address, kwargs = _cluster_args(master)
            self.compute_context = ComputeContext(address, **{**kwargs, **context_kwargs})
            self._owns_context = True
        for path in pyFiles or ():
            self.addPyFile(path)
        with SparkContext._lock:
            SparkContext._active = self

    @classmethod
    def getOrCreate(cls, conf: SparkConf | None = None) -> SparkContext:
        """The running SparkContext, or a new one made with ``conf``.

        >>> sc = SparkContext(ctx)
        >>> SparkContext.getOrCreate() is sc
        True
        """
        with cls._lock:
            active = cls._active
        if active is not None and active.compute_context.running:
            return active
        return cls(conf=conf)

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the context, and its cluster if it started one."""
        with SparkContext._lock:
            if SparkContext._active is self:
                SparkContext._active = None
        if self._owns_context:
            self.compute_context.stop()

    def __enter__(self) -> SparkContext:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<SparkContext master={self.master} appName={self.appName}>"

    # -- information -------------------------------------------------------------------------

    @property
    def defaultParallelism(self) -> int:
        """The default partition count: the cluster's task slots."""
        return self.compute_context.default_pcount

    @property
    def defaultMinPartitions(self) -> int:
        return min(self.defaultParallelism, 2)

    @property
    def version(self) -> str:
        return SPARK_API_VERSION

    @property
    def uiWebUrl(self) -> str | None:
        """The dask dashboard's address."""
        return self.compute_context.dashboard_link

    @property
    def applicationId(self) -> str:
        return str(self.compute_context.client.id)

    @property
    def executor(self) -> Any:
        """dask's futures API on the same cluster (``submit``, ``map``, ``gather``)."""
        return self.compute_context.executor

    def getConf(self) -> SparkConf:
        return SparkConf().setAll(self._conf.getAll())

    def setLogLevel(self, logLevel: str) -> None:
        """Set the log level of bndl_dask and distributed ('WARN', 'INFO', 'DEBUG', ...)."""
        level = {"WARN": "WARNING", "ALL": "DEBUG", "OFF": "CRITICAL",
                 "FATAL": "CRITICAL", "TRACE": "DEBUG"}.get(logLevel.upper(), logLevel.upper())
        for name in ("bndl_dask", "distributed"):
            logging.getLogger(name).setLevel(level)

    def addPyFile(self, path: str) -> None:
        """Send a .py, .zip or .egg file to every worker and put it on their import path."""
        self.compute_context.client.upload_file(path)

    # -- making RDDs -------------------------------------------------------------------------

    def _rdd(self, dataset: Any) -> RDD:
        return RDD(dataset, self)

    def parallelize(self, c: Iterable, numSlices: int | None = None) -> RDD:
        """An RDD of a local collection, cut into ``numSlices`` contiguous slices as Spark
        cuts it (slice i is ``c[i * n // numSlices:(i + 1) * n // numSlices]``); a ``range``
        is cut into ranges, without listing its numbers.

        >>> sc = SparkContext(ctx)
        >>> sc.parallelize([1, 2, 3, 4, 5], 3).glom().collect()
        [[1], [2, 3], [4, 5]]
        """
        slices = _check_slices("numSlices", numSlices) or self.defaultParallelism
        if not isinstance(c, range):
            c = list(c)
        n = len(c)
        chunks = [c[i * n // slices:(i + 1) * n // slices] for i in range(slices)]
        return self._rdd(self.compute_context.collection(chunks, pcount=slices).flatmap())

    def range(self, start: int, end: int | None = None, step: int = 1,
              numSlices: int | None = None) -> RDD:
        """The ints of ``range(start, end, step)`` (``range(n)``: 0..n-1).

        >>> sc = SparkContext(ctx)
        >>> sc.range(1, 7, 2).collect()
        [1, 3, 5]
        """
        if end is None:
            start, end = 0, start
        return self.parallelize(range(start, end, step), numSlices)

    def emptyRDD(self) -> RDD:
        """An RDD without partitions or elements.

        >>> sc = SparkContext(ctx)
        >>> sc.emptyRDD().collect()
        []
        """
        return self._rdd(self.compute_context.collection([], psize=1))  # no partitions

    def union(self, rdds: Sequence[RDD]) -> RDD:
        """The partitions of all ``rdds``, one after the other.

        >>> sc = SparkContext(ctx)
        >>> sc.union([sc.parallelize([1]), sc.parallelize([2, 3])]).collect()
        [1, 2, 3]
        """
        rdds = list(rdds)
        if not rdds:
            raise ValueError("union needs at least one RDD")
        first, *others = rdds
        if not others:
            return first
        return self._rdd(first.dataset.union(*(rdd.dataset for rdd in others)))

    def textFile(self, name: str, minPartitions: int | None = None,
                 use_unicode: bool = True) -> RDD:
        """The lines (without line ends) of a file, a directory's files, a glob pattern or a
        comma-separated list of those; large files are read in parallel.

        >>> import pathlib, tempfile
        >>> sc = SparkContext(ctx)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = pathlib.Path(tmp, 'a.txt').write_text('x\\ny\\n')
        ...     sc.textFile(tmp).collect()
        ['x', 'y']
        """
        files = self._files(name, minPartitions)
        return self._rdd(files.lines("utf-8" if use_unicode else None, keepends=False))

    def wholeTextFiles(self, path: str, minPartitions: int | None = None,
                       use_unicode: bool = True) -> RDD:
        """``(file name, contents)`` for every file (bytes contents if not ``use_unicode``).

        >>> import os, pathlib, tempfile
        >>> sc = SparkContext(ctx)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = pathlib.Path(tmp, 'a.txt').write_text('x\\ny\\n')
        ...     [(os.path.basename(f), text) for f, text in sc.wholeTextFiles(tmp).collect()]
        [('a.txt', 'x\\ny\\n')]
        """
        files = self._files(path, minPartitions, split=False)
        return self._rdd(files.decode() if use_unicode else files)

    def binaryFiles(self, path: str, minPartitions: int | None = None) -> RDD:
        """``(file name, bytes)`` for every file."""
        return self._rdd(self._files(path, minPartitions, split=False))

    def pickleFile(self, name: str, minPartitions: int | None = None) -> RDD:
        """The elements ``saveAsPickleFile`` wrote to directory ``name``, in order."""
        return self._rdd(self._files(name, minPartitions, split=False)
                         .flatmap(fn.pickled_elements))

    def _files(self, name: str, min_partitions: int | None, **options: Any) -> Any:
        paths = [path for path in str(name).split(",") if path]
        if not paths:
            raise ValueError(f"no path given to read: {name!r}")
        files = self.compute_context.files(paths[0] if len(paths) == 1 else paths,
                                           ffilter=_not_hidden, **options)
        if min_partitions and files.pcount < min_partitions and files.size:
            psize = max(1, -(-files.size // min_partitions))
            files = self.compute_context.files(paths[0] if len(paths) == 1 else paths,
                                               ffilter=_not_hidden, psize_bytes=psize,
                                               **options)
        return files

    # -- shared variables --------------------------------------------------------------------

    def broadcast(self, value: Any) -> Any:
        """A read-only value sent to each worker once; tasks read ``b.value``.

        >>> sc = SparkContext(ctx)
        >>> lookup = sc.broadcast({1: 'one'})
        >>> sc.parallelize([1]).map(lambda k: lookup.value[k]).collect()
        ['one']
        """
        return self.compute_context.broadcast(value)

    def accumulator(self, value: Any, accum_param: Any = None) -> Accumulator:
        """A value tasks add to (``acc.add(x)`` or ``acc += x``), read on the driver."""
        if accum_param is not None:
            raise NotImplementedError(
                "custom AccumulatorParams are not supported: accumulate with '+' on a value "
                "that supports it (a number, list, Counter, ...)")
        return Accumulator(value, host="driver")

    def __getattr__(self, name: str) -> Any:
        raise no_attribute(type(self).__name__, name, ComputeContext)


def _not_hidden(path: str) -> bool:
    # as Hadoop's input formats, skip _SUCCESS markers and hidden files
    return not os.path.basename(path).startswith(("_", "."))


def _check_slices(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


for _name, _alternative in CONTEXT_ALTERNATIVES.items():
    setattr(SparkContext, _name, not_supported("SparkContext", _name, _alternative))
