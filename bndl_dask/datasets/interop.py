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
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from bndl_dask.datasets.core import DatasetCore, Partition, T
from bndl_dask.datasets.interop_datasets import DataFrameNode, _pandas, _ParseCsv, _Records
from bndl_dask.planning.cluster_calls import scatter, submit_partitions

if TYPE_CHECKING:
    import dask.bag
    import distributed

    from bndl_dask.datasets.dataset import Dataset

# -- datasets -> futures ---------------------------------------------------------------------------

def _as_list(_idx: int, data: Iterable | None) -> list:
    return list(data) if data is not None else []


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


# -- the dataset methods ---------------------------------------------------------------------------

class InteropMixin(DatasetCore[T]):
    def to_futures(self) -> list[distributed.Future]:
        """One dask future per partition, holding the partition's elements as a list.

        Action: starts a job; the partitions stay on the workers as dask futures.

        The futures belong to ``ctx.executor`` and stay valid as long as they are referenced;
        pass them to ``ctx.executor`` (``submit``, ``gather``) or to ``ctx.from_futures``.
        Accumulator updates made while computing them are not applied. (Futures hold plain
        lists, as dask users expect; gathering many small elements is slower than bndl's own
        block transfers.)

        >>> futures = ctx.range(6, pcount=2).to_futures()
        >>> ctx.executor.gather(futures)
        [[0, 1, 2], [3, 4, 5]]
        """
        ctx = self.ctx
        if ctx is None:
            raise RuntimeError("to_futures can only be called on the driver")
        ctx._check_running()
        parts = self.parts()
        if not parts:
            return []
        if _reads_shuffle(parts):
            # the map side of a shuffle needs bndl's job planning: run a job, hand dask the data
            data = dict(self._run(ordered=False, name="to_futures", transform=_as_list,
                                  gather=True))
            return scatter(ctx, [data[p.idx] for p in parts])
        return submit_partitions(ctx, parts, "to_futures")

    def to_bag(self) -> dask.bag.Bag:
        """A dask bag with this dataset's partitions (computed as by ``to_futures``).

        Lazy: the bag's tasks compute this dataset's partitions on the workers.

        >>> ctx.range(10).to_bag().map(lambda x: x * 2).sum().compute()
        90
        """
        import dask  # dask.bag is imported only by those who use it
        import dask.bag

        futures = self.to_futures()
        if not futures:
            return dask.bag.from_sequence([], npartitions=1)
        # wrapped in delayed, the futures live in the bag's graph and so in every bag derived
        # from it; bare futures would be released as soon as this list is dropped
        return dask.bag.from_delayed([dask.delayed(future) for future in futures])

    def as_dataframe(self, *args: Any, **kwargs: Any) -> Dataset[Any]:
        """A distributed pandas DataFrame of records (dicts or tuples), one frame per partition.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        Columns come from ``columns=`` or from the first 10 records; other arguments go to
        ``pandas.DataFrame``. ``collect()`` returns one pandas DataFrame.

        >>> df = ctx.range(3).map(lambda i: {'n': i, 's': str(i)}).as_dataframe()
        >>> df['n'].map(lambda n: n * 10).collect().tolist()
        [0, 10, 20]
        """
        _pandas()
        columns = kwargs.pop("columns", None)
        if columns is None:
            sample = self.take(10)
            if sample and all(isinstance(r, dict) for r in sample):
                columns = list(dict.fromkeys(k for record in sample for k in record))
        meta = _pandas().DataFrame([], *args, columns=columns, **kwargs)
        return self._derive(DataFrameNode, self, _Records(args, kwargs, columns), meta)

    def parse_csv(self, sample: Any = None, **kwargs: Any) -> Dataset[Any]:
        """A distributed pandas DataFrame of CSV texts: every element is parsed with
        ``pandas.read_csv(**kwargs)`` and a partition is the concatenation of its frames.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        The columns come from ``sample`` (a DataFrame), from ``names=``, or from the first
        10 rows of the first element.

        >>> ctx.collection(['a,b\\n1,2\\n', 'a,b\\n3,4\\n']).parse_csv().collect()
           a  b
        0  1  2
        1  3  4
        """
        pd = _pandas()
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
        return self._derive(DataFrameNode, self, _ParseCsv(kwargs, meta), meta)
