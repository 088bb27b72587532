"""The Dataset and Partition base classes: identity, lineage, caching, locality and running.

A dataset is a lazy, immutable, partitioned collection. Each ``Partition`` knows how to compute
its data on a worker from its source partitions, so a chain of narrow transformations is one
function call per partition, inside one task. Planning (``bndl_dask.planning``) turns a dataset
and its lineage into a job; ``_run`` executes that job and streams partition results back.
"""

from __future__ import annotations

import os
import random
import socket
import string
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import cloudpickle

from bndl_dask.datasets import caching
from bndl_dask.planning.jobs import run_dataset
from bndl_dask.worker.identity import WorkerHandle

if TYPE_CHECKING:
    from bndl_dask.api.context import ComputeContext
    from bndl_dask.datasets.dataset import Dataset

#: the type parameters of ``Dataset[T]`` and its operations: elements, results, keys, values
T = TypeVar("T")
U = TypeVar("U")
K = TypeVar("K")
V = TypeVar("V")
W = TypeVar("W")

_ID_CHARS = string.ascii_lowercase + string.digits
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _new_id() -> str:
    return "".join(random.choices(_ID_CHARS, k=8))


def user_callsite() -> str:
    """``file.py:line`` of the first frame outside bndl_dask (where the user called us)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_PACKAGE_DIR) and "importlib" not in filename:
            return f"{os.path.basename(filename)}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"


class ArgumentError(ValueError, AssertionError):
    """A bad argument value. Also an AssertionError, which is what BNDL raised (with a bare
    ``assert``) for some of these checks, so code written for BNDL catches it still.

    >>> issubclass(ArgumentError, ValueError) and issubclass(ArgumentError, AssertionError)
    True
    """


def check_callable(func: Any, what: str = "func", optional: bool = False) -> None:
    if func is None and optional:
        return
    if not callable(func):
        raise TypeError(f"{what} must be callable, got {type(func).__name__} {func!r:.60}")


class Partition:
    """One partition of a dataset; ``compute()`` runs on a worker and returns an iterable."""

    def __init__(self, dset: Dataset, idx: int, src: Partition | Sequence[Partition] | None = None):
        self.dset = dset
        self.idx = idx
        self.src = src
        # set by the planner for cached datasets: where the cached copy was last stored
        self.cache_location: str | None = None

    @property
    def id(self) -> tuple[str, int]:
        return (self.dset.id, self.idx)

    def compute(self) -> Iterable:
        """The partition's data, from the worker's cache when the dataset is cached."""
        if self.dset._cache_options is not None:
            return caching.cached_compute(self)
        data = self._compute()
        return [] if data is None else data  # a function may return None for "no elements"

    def _compute(self) -> Iterable:
        raise NotImplementedError

    def source_partitions(self) -> list[Partition]:
        if self.src is None:
            return []
        if isinstance(self.src, Partition):
            return [self.src]
        return list(self.src)

    def locality(self, workers: Sequence[WorkerHandle]) -> dict[str, int]:
        """Worker name -> locality for this partition (-1 forbidden, 1+ preferred)."""
        result: dict[str, int] = {}
        sources = self.source_partitions()
        for source in sources:
            for name, value in source.locality(workers).items():
                if value < 0:
                    result[name] = -1
                elif result.get(name, 0) >= 0:
                    result[name] = result.get(name, 0) + value / len(sources)
        allowed = self.dset._allowed_workers(workers)
        if allowed is not None:
            for worker in workers:
                if worker.name not in allowed:
                    result[worker.name] = -1
        if self.cache_location is not None:
            for worker in workers:
                if worker.address == self.cache_location and result.get(worker.name, 0) >= 0:
                    result[worker.name] = 5
        return {name: int(round(v)) if v > 0 else int(v) for name, v in result.items() if v}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.dset.id}.{self.idx}>"


class DatasetCore(Generic[T]):
    """Identity, lineage, caching, locality and running; the methods users call are mixed in
    by ``bndl_dask.datasets.dataset.Dataset``."""

    #: attributes that stay on the driver when a partition (and so its dataset) goes to a worker
    _TRANSIENT = ("ctx", "src", "_parts", "_cache_locations", "_worker_filter", "__weakref__",
                  "_finalizer")

    def __init__(self, ctx: ComputeContext, src: Dataset | Sequence[Dataset] | None = None,
                 dset_id: str | None = None):
        self.ctx = ctx
        self.src = src
        self.id = dset_id or _new_id()
        self.callsite = user_callsite()
        self._parts: list[Partition] | None = None
        self._pcount: int | None = None
        self._cache_options: dict | None = None
        self._cache_locations: dict[int, str] = {}
        self._worker_filter: Callable | None = None
        self._finalizer = None

    # -- identity --------------------------------------------------------------------------------

    #: a name given by ``set_name``, shown in the repr (and so in task descriptions and errors)
    name: str | None = None

    def __repr__(self) -> str:
        if self.name is not None:
            return f"<{type(self).__name__} {self.id} {self.name!r}>"
        return f"<{type(self).__name__} {self.id}>"

    def set_name(self, name: str | None) -> Dataset[T]:
        """Name this dataset (None: no name); returns ``self``, as Spark's ``setName`` does.

        Lazy and free: the name shows in the dataset's repr, and so in progress bars, task
        descriptions and error messages of the jobs that compute it.

        >>> ctx.range(3).set_name('numbers').name
        'numbers'
        """
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {type(name).__name__}")
        self.name = name
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatasetCore) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for name in self._TRANSIENT:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.ctx = None
        self.src = None
        self._parts = None
        self._cache_locations = {}
        self._worker_filter = None
        self._finalizer = None

    # -- partitions ------------------------------------------------------------------------------

    @property
    def sources(self) -> tuple[Dataset, ...]:
        """The datasets this one is derived from (empty for a source such as ``ctx.range``).

        >>> evens = ctx.range(10).filter(lambda i: i % 2 == 0)
        >>> [type(src).__name__ for src in evens.sources]
        ['RangeDataset']
        """
        if self.src is None:
            return ()
        if isinstance(self.src, DatasetCore):
            return (self.src,)
        return tuple(self.src)

    def parts(self) -> list[Partition]:
        """The partitions (planned, not computed).

        Free: runs no job.

        >>> [part.idx for part in ctx.range(10, pcount=3).parts()]
        [0, 1, 2]
        """
        if self._parts is None:
            self._parts = list(self._make_parts())
        return self._parts

    def _make_parts(self) -> Iterable[Partition]:
        raise NotImplementedError

    @property
    def pcount(self) -> int:
        """The number of partitions.

        >>> ctx.range(10, pcount=3).pcount
        3
        """
        if self._pcount is None:
            self._pcount = len(self.parts())
        return self._pcount

    @pcount.setter
    def pcount(self, value: int) -> None:
        self._pcount = value

    #: whether computing this dataset needs all partitions of its source first (a shuffle)
    sync_required = False

    # -- locality --------------------------------------------------------------------------------

    def _allowed_workers(self, workers: Sequence[WorkerHandle]) -> set[str] | None:
        if self._worker_filter is None:
            return None
        return {w.name for w in self._worker_filter(list(workers))}

    def _clone(self) -> Dataset[T]:
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.id = _new_id()
        clone._parts = None
        clone._cache_options = None
        clone._cache_locations = {}
        clone._finalizer = None
        return clone

    def require_workers(self, workers_required: Callable[[list[WorkerHandle]], Iterable],
                        ) -> Dataset[T]:
        """A copy whose partitions only run on the workers ``workers_required(workers)`` returns.

        Free: runs no job.

        >>> from distributed import get_worker
        >>> on_one = ctx.range(10, pcount=4).require_workers(lambda workers: workers[:1])
        >>> len(set(on_one.map(lambda i: get_worker().address).collect()))
        1
        """
        check_callable(workers_required, "workers_required")
        clone = self._clone()
        clone._worker_filter = workers_required
        return clone

    def require_local_workers(self) -> Dataset[T]:
        """A copy that only runs on workers on the driver's machine.

        Free: runs no job.

        >>> ctx.range(10).require_local_workers().count()
        10
        """
        local = {"127.0.0.1", "localhost", "::1", socket.gethostname()}
        try:
            local.add(socket.gethostbyname(socket.gethostname()))
        except OSError:
            pass
        return self.require_workers(lambda workers: [w for w in workers if w.host in local])

    def allow_all_workers(self) -> Dataset[T]:
        """A copy without worker requirements (``self`` when there are none).

        Free: runs no job.

        >>> on_one = ctx.range(10).require_workers(lambda workers: workers[:1])
        >>> on_one.allow_all_workers().count()
        10
        """
        if self._worker_filter is None:
            return self
        clone = self._clone()
        clone._worker_filter = None
        return clone

    # -- caching ---------------------------------------------------------------------------------

    @property
    def cached(self) -> bool:
        """Whether ``cache()`` was called (and not undone by ``uncache()``).

        >>> ctx.range(3).cached
        False
        """
        return self._cache_options is not None

    def cache(self, location: str | None = "memory", serialization: str | None = None,
              compression: str | None = None, provider: Any = None) -> Dataset[T]:
        """Keep computed partitions on the workers that computed them; returns ``self``.

        Free: marks the dataset; the next action computes and keeps its partitions.

        ``location``: 'memory' or 'disk' (None uncaches); ``serialization`` and
        ``compression`` store the partitions encoded.

        >>> squares = ctx.range(4).map(lambda i: i * i).cache()
        >>> squares.cached
        True
        >>> squares.sum(), squares.collect()   # the second action reads the cached partitions
        (14, [0, 1, 4, 9])
        >>> squares.uncache(block=True).cached
        False
        """
        return caching.cache(self, location, serialization, compression, provider)

    def uncache(self, block: bool = False, timeout: float | None = None) -> Dataset[T] | None:
        """Drop the cached partitions from the workers (waiting for it with ``block``); returns
        ``self``, or None when it was not cached (see ``cache``).

        Free for a dataset that is not cached; else drops the blocks on the workers.

        >>> print(ctx.range(3).uncache())
        None
        """
        return caching.uncache(self, block, timeout)

    # -- running ---------------------------------------------------------------------------------

    def _run(self, parts: Sequence[int] | None = None, ordered: bool = True,
             name: str = "collect", transform: Callable | None = None, gather: bool = False,
             ) -> Iterator[tuple[int, Any]]:
        """Run a job computing ``parts`` (all by default) and yield ``(index, data)``.

        ``transform(partition_index, iterable)`` runs on the worker at the end of each partition
        (an action's per-partition step: counting, summing, ...); by default data are
        materialised into a list. ``gather``: the caller keeps all of it (collect, not
        icollect), bounded by ``bndl.execute.max_result_size``.
        """
        try:
            yield from run_dataset(self, parts=parts, ordered=ordered, name=name,
                                   transform=transform, gather=gather)
        except TypeError as exc:
            if "cannot be pickled" not in str(exc):
                raise
            cause = exc.__cause__
            while cause is not None and not isinstance(cause, ActionInTaskError):
                cause = cause.__cause__
            if cause is not None:  # a function captured the context: a nested action
                raise ActionInTaskError(
                    f"{name} of {self!r} ({self.callsite}) uses the ComputeContext inside a "
                    "task, but actions (collect, count, ...) and new datasets can only be made "
                    "on the driver. Compute what the task needs first and pass it in (or as "
                    "ctx.broadcast(...)), or use a join / zip instead of a nested action."
                ) from None
            culprit = find_unpicklable(self, transform)
            if culprit is None:
                raise
            raise TypeError(f"{culprit}; {name} of {self!r} ({self.callsite}) cannot be sent "
                            "to the workers. Define the function at module level or avoid "
                            "capturing objects such as locks, sockets or open files."
                            ) from exc.__cause__ or exc


class ActionInTaskError(RuntimeError):
    """An action or a ComputeContext was used inside a task, where only the driver can
    start jobs."""


def _describe_callable(func: Any) -> str:
    """The user's function inside our wrappers, by name and definition site."""
    seen = 0
    while not hasattr(func, "__code__") and hasattr(func, "func") and seen < 10:
        func, seen = func.func, seen + 1
    name = getattr(func, "__qualname__", None) or type(func).__qualname__
    code = getattr(func, "__code__", None)
    where = f" (defined at {os.path.basename(code.co_filename)}:{code.co_firstlineno})" \
        if code is not None else ""
    return f"{name}{where}"


def find_unpicklable(dset: DatasetCore, transform: Callable | None = None) -> str | None:
    """Which function or value of ``dset``'s lineage (or the action's ``transform``) fails to
    pickle, and why; None when everything pickles."""
    def failure(value: Any) -> str | None:
        try:
            cloudpickle.dumps(value)
        except Exception as exc:  # pickling raises all sorts (TypeError, PicklingError, ...)
            return f"{type(exc).__name__}: {exc}"
        return None

    stack, seen = [dset], set()
    while stack:
        current = stack.pop()
        if current.id in seen:
            continue
        seen.add(current.id)
        for attr, value in current.__getstate__().items():
            why = failure(value)
            if why is None:
                continue
            if callable(value):
                return f"function {_describe_callable(value)} of {current!r} cannot be " \
                       f"pickled ({why})"
            return f"{attr} of {current!r} cannot be pickled ({why})"
        for part in current.parts():
            why = failure(part)
            if why is not None:
                return f"partition {part.idx} of {current!r} cannot be pickled ({why})"
            break  # one partition shows whether the data pickles; the rest are alike
        stack.extend(current.sources)
    if transform is not None:
        why = failure(transform)
        if why is not None:
            return f"function {_describe_callable(transform)} cannot be pickled ({why})"
    return None


def check_datasets(operation: str, *others: Any) -> None:
    """Combining a dataset with a list (say) fails late and obscurely: say so at once."""
    for other in others:
        if not isinstance(other, DatasetCore):
            raise TypeError(
                f"{operation} combines datasets, got {type(other).__name__}; make one with "
                f"ctx.collection(...) first")
