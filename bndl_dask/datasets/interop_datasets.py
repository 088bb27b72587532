"""The plan nodes behind interop: partitions from dask futures, pandas frames and series.

``dataset.py`` turns them into the public ``FuturesDataset``, ``DistributedDataFrame``,
``DistributedDataFrameZip`` and ``DistributedSeries``.
"""

from __future__ import annotations

import io
import time
from typing import Any

from distributed import get_worker
from distributed.utils import sync
from distributed.worker import get_data_from_worker

from bndl_dask.datasets.callables import bind
from bndl_dask.datasets.core import DatasetCore, Partition
from bndl_dask.datasets.narrow_nodes import MapPartitionsNode, ZipPartitionsNode
from bndl_dask.planning.cluster_calls import await_futures, holders

FETCH_TIMEOUT = 60


def _pandas():
    try:
        import pandas
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("dataframes need pandas: pip install pandas "
                          "(or bndl_dask[all])") from exc
    return pandas


def _fetch(key: Any) -> Any:
    """On a worker: the data of dask key ``key``, local when held here, else fetched from a
    holder over dask's worker-to-worker comms."""
    worker = get_worker()
    try:
        return worker.data[key]
    except KeyError:
        pass

    async def fetch():
        who_has = await worker.scheduler.who_has(keys=[key])
        for address in who_has.get(key) or ():
            try:
                response = await get_data_from_worker(worker.rpc, [key], address,
                                                      who=worker.address)
            except OSError:
                continue  # that holder is gone: try the next
            if response.get("status") == "OK" and key in response.get("data", {}):
                return response["data"][key]
        raise RuntimeError(f"the data of dask future {key!r} is not available on any worker "
                           "(was it released, or were the workers holding it lost?)")

    return sync(worker.loop, fetch, callback_timeout=FETCH_TIMEOUT)


class FuturePartition(Partition):
    def __init__(self, dset, idx: int, key: Any):
        super().__init__(dset, idx)
        self.key = key

    def _compute(self) -> Any:
        return _fetch(self.key)

    def locality(self, workers):
        result = super().locality(workers)
        holders = self.dset._holders().get(self.key, ())
        for worker in workers:
            if worker.address in holders and 0 <= result.get(worker.name, 0) < 2:
                result[worker.name] = 2
        return result


class FuturesNode(DatasetCore):
    """Partition ``i`` is the result of dask future ``i`` (kept alive by the dataset)."""

    def __init__(self, ctx, futures: list):
        super().__init__(ctx)
        self._futures = futures
        self._who_has: tuple[float, dict] | None = None

    def _make_parts(self):
        # on the driver, at the first action: tasks fetch finished data, so wait for it here
        # (a failed future raises its own exception)
        await_futures(self._futures)
        return [FuturePartition(self, i, f.key) for i, f in enumerate(self._futures)]

    def _holders(self) -> dict:
        """key -> addresses holding it; one scheduler round trip per planning, not per task."""
        now = time.monotonic()
        if self._who_has is None or now - self._who_has[0] > 5:
            self._who_has = (now, holders(self.ctx, self._futures))
        return self._who_has[1]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_futures", None)
        state.pop("_who_has", None)
        return state


def _concat(frames: list, meta: Any = None):
    pd = _pandas()
    non_empty = [f for f in frames if len(f)]
    if not non_empty:
        if frames:
            return frames[0]
        return meta.copy() if meta is not None else pd.DataFrame()
    default_index = all(isinstance(f.index, pd.RangeIndex) and f.index.start == 0
                        for f in non_empty)
    return pd.concat(non_empty, ignore_index=default_index)


class _Head:
    def __init__(self, num: int):
        self.num = num

    def __call__(self, _idx: int, frame: Any) -> Any:
        return frame.head(self.num)


class _FramePartsMixin:
    """Driver-side methods of datasets whose partitions are pandas frames or series."""

    _meta: Any = None

    def collect(self, parts: bool = False, ordered: bool = True):
        """One pandas object of all partitions (``parts=True``: a list of them); the index is
        renumbered 0..n-1 when every part had a default index."""
        frames = [data for _, data in self._run(ordered=ordered, name="collect", gather=True)]
        if parts:
            return frames
        return _concat(frames, self._meta)

    def icollect(self, parts: bool = False, ordered: bool = True):
        """The partitions' frames (``parts=True``) or their rows as tuples."""
        for _, frame in self._run(ordered=ordered, name="collect"):
            if parts:
                yield frame
            elif hasattr(frame, "itertuples"):
                yield from frame.itertuples(index=False, name=None)
            else:
                yield from frame

    def take(self, num: int):
        """The first ``num`` rows as one pandas object."""
        frames, remaining = [], num
        pcount = len(self.parts())
        start, round_size = 0, 1
        while remaining > 0 and start < pcount:
            indices = list(range(start, min(start + round_size, pcount)))
            for _, frame in self._run(parts=indices, name="take", transform=_Head(remaining)):
                frame = frame.head(remaining)
                frames.append(frame)
                remaining -= len(frame)
                if remaining <= 0:
                    break
            start += round_size
            round_size *= 2
        return _concat(frames, self._meta)


class _Column:
    def __init__(self, name: Any):
        self.name = name

    def __call__(self, part, frame):
        return frame[self.name]


class _SeriesMap:
    def __init__(self, func):
        self.func = func

    def __call__(self, part, series):
        return series.map(self.func)


class _Assign:
    def __init__(self, names: list):
        self.names = names

    def __call__(self, frame, *columns):
        values = {}
        for name, column in zip(self.names, columns):
            values[name] = column.values if hasattr(column, "values") else list(column)
        return frame.assign(**values)


class _Records:
    def __init__(self, args: tuple, kwargs: dict, columns: Any):
        self.args, self.kwargs, self.columns = args, kwargs, columns

    def __call__(self, part, data):
        pd = _pandas()
        records = list(data) if data is not None else []
        return pd.DataFrame(records, *self.args, columns=self.columns, **self.kwargs)


class _ParseCsv:
    def __init__(self, kwargs: dict, meta: Any):
        self.kwargs, self.meta = kwargs, meta

    def __call__(self, part, data):
        pd = _pandas()
        frames = []
        for text in data if data is not None else ():
            binary = isinstance(text, (bytes, bytearray))
            buffer = io.BytesIO(text) if binary else io.StringIO(text)
            frames.append(pd.read_csv(buffer, **self.kwargs))
        return _concat(frames, self.meta)


class SeriesNode(_FramePartsMixin, MapPartitionsNode):
    """A column of a distributed DataFrame: one pandas Series per partition."""

    def map(self, func, *args: Any, **kwargs: Any):
        """Element-wise ``func`` (``Series.map``) in every partition."""
        return self._derive(SeriesNode, self, _SeriesMap(bind(func, args, kwargs)))


class _FrameMethods(_FramePartsMixin):
    def __getitem__(self, column: Any) -> SeriesNode:
        """The column ``column`` as a distributed Series."""
        return self._derive(SeriesNode, self, _Column(column))

    def assign(self, *pairs: Any):
        """A frame with added columns: ``assign('name', column_dataset, ...)``; columns are
        matched partition by partition.

        >>> df = ctx.range(3).map(lambda i: {'n': i}).as_dataframe()
        >>> df.assign('n2', df['n'].map(lambda n: n * n)).collect()
           n  n2
        0  0   0
        1  1   1
        2  2   4
        """
        if len(pairs) % 2 or not pairs:
            raise ValueError("assign takes name, dataset pairs")
        names, columns = list(pairs[::2]), list(pairs[1::2])
        return self._derive(DataFrameZipNode, [self, *columns], _Assign(names), self._meta)


class DataFrameNode(_FrameMethods, MapPartitionsNode):
    """A dataset of one pandas DataFrame per partition (experimental, as in BNDL)."""

    def __init__(self, src, func, meta: Any = None):
        super().__init__(src, func)
        self._meta = meta


class DataFrameZipNode(_FrameMethods, ZipPartitionsNode):
    """A distributed DataFrame with columns added from other datasets."""

    def __init__(self, sources, comb, meta: Any = None):
        super().__init__(sources, comb)
        self._meta = meta
