"""Interop with dask futures, bags and pandas dataframes.

* ``dataset.to_futures()``: one dask future per partition, holding the partition as a list. For a
  lineage of narrow transformations each partition is submitted to dask as its own task, so dask
  owns the result (and recomputes it from the task if a worker is lost). Lineages that contain a
  shuffle need bndl's job planning for the map side: they run as a job and the partitions are
  scattered from the driver.
* ``ctx.from_futures(futures)``: a dataset whose partition ``i`` is the result of ``futures[i]``;
  the task computing a partition prefers a worker that holds the future's data and otherwise
  fetches it from dask.
* ``to_bag()`` / ``ctx.from_bag(bag)``: the same through dask.bag.
* ``as_dataframe()`` / ``parse_csv()``: datasets whose partitions are pandas DataFrames.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from bndl_dask.datasets.core import Partition


def _pandas():
    try:
        import pandas
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("dataframes need pandas: pip install pandas "
                          "(or bndl_dask[all])") from exc
    return pandas


# -- datasets -> futures ---------------------------------------------------------------------------

def _as_list(_idx: int, data: Iterable | None) -> list:
    return list(data) if data is not None else []


def _partition_list(part: Partition) -> list:
    data = part.compute()
    return list(data) if data is not None else []


def _run_partition(meta, spec: bytes) -> list:
    """What a ``to_futures`` task runs: a partition inside bndl's task runtime (so
    ``current_worker()``, broadcasts and caches work), raising the user's own exception."""
    from bndl_dask.worker.runtime import TaskFailure, invoke

    try:
        return invoke(meta, spec).value
    except TaskFailure as failure:
        error = failure.error
    # raised outside the handler: an exception chained to the TaskFailure (which holds it)
    # would be a cycle that dask cannot ship and replaces by a plain Exception
    raise error


def _reads_shuffle(parts: Sequence[Partition]) -> bool:
    stack, seen = list(parts), set()
    while stack:
        part = stack.pop()
        if id(part) in seen:
            continue
        seen.add(id(part))
        if part.dset.sync_required:
            return True
        stack.extend(part.source_partitions())
    return False


def _restrictions(part: Partition, workers) -> dict:
    """dask ``submit`` options from a partition's locality."""
    locality = part.locality(workers)
    by_name = {w.name: w.address for w in workers}
    if any(value < 0 for value in locality.values()):
        allowed = [by_name[w.name] for w in workers if locality.get(w.name, 0) >= 0]
        if not allowed:
            raise RuntimeError(f"no worker may compute partition {part.idx} of {part.dset!r}")
        return {"workers": allowed, "allow_other_workers": False}
    preferred = [by_name[name] for name, value in locality.items()
                 if value > 0 and name in by_name]
    if preferred:
        return {"workers": preferred, "allow_other_workers": True}
    return {}


# -- futures -> datasets ----------------------------------------------------------------------

class InteropContextMixin:
    def from_futures(self, futures: Iterable):
        """A dataset whose partition ``i`` is the result of dask future ``futures[i]``.

        >>> futures = ctx.executor.map(lambda i: list(range(i)), [1, 2, 3])   # doctest: +SKIP
        >>> ctx.from_futures(futures).collect()                                # doctest: +SKIP
        [0, 0, 1, 0, 1, 2]
        """
        from distributed import Future

        self._check_running()
        futures = list(futures)
        for future in futures:
            if not isinstance(future, Future):
                raise TypeError(f"from_futures needs dask futures, got {type(future).__name__}")
        from bndl_dask.datasets.interop_datasets import FuturesDataset

        return FuturesDataset(self, futures)

    def from_bag(self, bag):
        """A dataset with the partitions of a dask bag (computed on this cluster).

        >>> import dask.bag as db                                               # doctest: +SKIP
        >>> ctx.from_bag(db.from_sequence(range(10), npartitions=2)).sum()     # doctest: +SKIP
        45
        """
        self._check_running()
        if not hasattr(bag, "to_delayed"):
            raise TypeError(f"from_bag needs a dask bag, got {type(bag).__name__}")
        return self.from_futures(self.client.compute(bag.to_delayed()))


# -- the dataset methods ---------------------------------------------------------------------------

class InteropMixin:
    def to_futures(self) -> list:
        """One dask future per partition, holding the partition's elements as a list.

        The futures belong to ``ctx.executor`` and stay valid as long as they are referenced;
        pass them to ``ctx.executor`` (``submit``, ``gather``) or to ``ctx.from_futures``.
        Accumulator updates made while computing them are not applied. (Futures hold plain
        lists, as dask users expect; gathering many small elements is slower than bndl's own
        block transfers.)

        >>> futures = ctx.range(6, pcount=2).to_futures()     # doctest: +SKIP
        >>> ctx.executor.gather(futures)                       # doctest: +SKIP
        [[0, 1, 2], [3, 4, 5]]
        """
        import cloudpickle

        from bndl_dask.worker.runtime import TaskMeta

        ctx = self.ctx
        if ctx is None:
            raise RuntimeError("to_futures can only be called on the driver")
        ctx._check_running()
        parts = self.parts()
        if not parts:
            return []
        client = ctx.client
        if _reads_shuffle(parts):
            # the map side of a shuffle needs bndl's job planning: run a job, hand dask the data
            data = dict(self._run(ordered=False, name="to_futures", transform=_as_list,
                                  gather=True))
            return client.scatter([data[p.idx] for p in parts], hash=False)
        ctx.await_workers()
        workers = ctx.workers
        token = uuid.uuid4().hex[:8]
        futures = []
        for part in parts:
            key = f"bndl-to_futures-{self.id}-{part.idx}-{token}"
            meta = TaskMeta(key, part.id, f"to_futures: partition {part.idx} of {self!r} "
                                          f"({self.callsite})")
            spec = cloudpickle.dumps((_partition_list, (part,), {}), protocol=5)
            futures.append(client.submit(_run_partition, meta, spec, key=key, pure=False,
                                         **_restrictions(part, workers)))
        return futures

    def to_bag(self):
        """A dask bag with this dataset's partitions (computed as by ``to_futures``).

        >>> ctx.range(10).to_bag().map(lambda x: x * 2).sum().compute()   # doctest: +SKIP
        90
        """
        import dask
        import dask.bag

        futures = self.to_futures()
        if not futures:
            return dask.bag.from_sequence([], npartitions=1)
        # wrapped in delayed, the futures live in the bag's graph and so in every bag derived
        # from it; bare futures would be released as soon as this list is dropped
        return dask.bag.from_delayed([dask.delayed(future) for future in futures])

    def as_dataframe(self, *args: Any, **kwargs: Any):
        """A distributed pandas DataFrame of records (dicts or tuples), one frame per partition.

        Columns come from ``columns=`` or from the first 10 records; other arguments go to
        ``pandas.DataFrame``. ``collect()`` returns one pandas DataFrame.

        >>> df = ctx.range(3).map(lambda i: {'n': i, 's': str(i)}).as_dataframe()  # doctest: +SKIP
        >>> df['n'].map(lambda n: n * 10).collect().tolist()                      # doctest: +SKIP
        [0, 10, 20]
        """
        _pandas()
        from bndl_dask.datasets.interop_datasets import DistributedDataFrame, _Records

        columns = kwargs.pop("columns", None)
        if columns is None:
            sample = self.take(10)
            if sample and all(isinstance(r, dict) for r in sample):
                columns = list(dict.fromkeys(k for record in sample for k in record))
        meta = _pandas().DataFrame([], *args, columns=columns, **kwargs)
        return DistributedDataFrame(self, _Records(args, kwargs, columns), meta)

    def parse_csv(self, sample: Any = None, **kwargs: Any):
        """A distributed pandas DataFrame of CSV texts: every element is parsed with
        ``pandas.read_csv(**kwargs)`` and a partition is the concatenation of its frames.

        The columns come from ``sample`` (a DataFrame), from ``names=``, or from the first
        10 rows of the first element.

        >>> ctx.collection(['a,b\\n1,2\\n', 'a,b\\n3,4\\n']).parse_csv().collect()  # doctest: +SKIP
           a  b
        0  1  2
        1  3  4
        """
        pd = _pandas()
        from bndl_dask.datasets.interop_datasets import DistributedDataFrame, _ParseCsv

        if sample is not None:
            meta = sample.iloc[:0]
        elif "names" in kwargs:
            meta = pd.DataFrame(columns=list(kwargs["names"]))
        else:
            try:
                first = self.first()
            except StopIteration:
                meta = pd.DataFrame()
            else:
                buffer = (io.BytesIO(first) if isinstance(first, (bytes, bytearray))
                          else io.StringIO(first))
                meta = pd.read_csv(buffer, nrows=10, **kwargs).iloc[:0]
        return DistributedDataFrame(self, _ParseCsv(kwargs, meta), meta)
