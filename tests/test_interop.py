"""Interop: dask futures and bags in and out, pandas dataframes."""

from __future__ import annotations

import gc

import dask.bag as db
import pytest
from distributed import wait

from bndl_dask.worker.runtime import current_worker


def test_to_futures(ctx):
    futures = ctx.range(10, pcount=3).map(lambda i: i * 2).to_futures()
    assert len(futures) == 3
    assert ctx.executor.gather(futures) == [[0, 2, 4], [6, 8, 10], [12, 14, 16, 18]]
    # the futures are ordinary dask futures: usable as inputs to further dask work
    total = ctx.executor.submit(lambda parts: sum(map(sum, parts)), futures)
    assert total.result() == 90


def test_to_futures_runs_in_bndl_task_runtime(ctx):
    names = ctx.range(4, pcount=2).map(lambda i: current_worker().name).to_futures()
    known = {w.name for w in ctx.workers}
    assert {n for part in ctx.executor.gather(names) for n in part} <= known


def test_to_futures_after_a_shuffle(ctx):
    if not hasattr(ctx.range(1), "group_by"):
        pytest.skip("shuffles not available")
    grouped = ctx.range(20, pcount=2).group_by(lambda i: i % 2, pcount=2)
    parts = ctx.executor.gather(grouped.to_futures())
    pairs = sorted((k, sorted(v)) for part in parts for k, v in part)
    assert pairs == [(0, list(range(0, 20, 2))), (1, list(range(1, 20, 2)))]


def test_to_futures_error_is_the_users(ctx):
    def fail(i):
        raise KeyError("bad element")

    futures = ctx.range(4, pcount=2).map(fail).to_futures()
    wait(futures)
    with pytest.raises(KeyError, match="bad element"):
        futures[0].result()
    assert ctx.range(4).count() == 4


def test_from_futures(ctx):
    futures = ctx.executor.map(lambda n: list(range(n)), [1, 2, 3], pure=False)
    dset = ctx.from_futures(futures)
    del futures
    gc.collect()  # the dataset keeps the futures alive
    assert dset.pcount == 3
    assert dset.collect() == [0, 0, 1, 0, 1, 2]
    assert dset.map(lambda x: x + 1).sum() == 10
    assert dset.collect(parts=True) == [[0], [0, 1], [0, 1, 2]]


def test_round_trip_and_empty(ctx):
    dset = ctx.collection("ünïcödé", pcount=3)
    assert ctx.from_futures(dset.to_futures()).collect() == list("ünïcödé")
    empty = ctx.range(10, pcount=2).filter(lambda i: False)
    assert ctx.executor.gather(empty.to_futures()) == [[], []]
    assert ctx.from_futures([]).collect() == []
    with pytest.raises(TypeError):
        ctx.from_futures([[1, 2]])


def test_failed_future_surfaces(ctx):
    def fail(n):
        raise ValueError("in the future")

    futures = [ctx.executor.submit(fail, 1, pure=False)]
    wait(futures)
    with pytest.raises(ValueError, match="in the future"):
        ctx.from_futures(futures).collect()
    assert ctx.range(3).count() == 3


def test_bags(ctx):
    bag = ctx.range(10, pcount=3).to_bag()
    assert bag.npartitions == 3
    assert bag.map(lambda x: x * 2).sum().compute() == 90
    source = db.from_sequence(range(10), npartitions=4).map(lambda x: x + 1)
    dset = ctx.from_bag(source)
    assert dset.pcount == 4
    assert dset.collect() == list(range(1, 11))
    with pytest.raises(TypeError):
        ctx.from_bag([1, 2, 3])


# -- dataframes ------------------------------------------------------------------------------------

def test_as_dataframe(ctx):
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    df = ctx.range(100).map(lambda i: {"num": i, "txt": str(i)}).as_dataframe()
    frame = df.collect()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["num", "txt"]
    assert (frame["num"].values == np.arange(100)).all()
    assert frame["txt"].tolist() == [str(i) for i in range(100)]
    assert list(frame.index) == list(range(100))
    assert df["num"].collect().tolist() == list(range(100))
    assert len(df.collect(parts=True)) == df.pcount
    with_square = df.assign("num2", df["num"].map(lambda i: i ** 2)).collect()
    assert with_square["num2"].tolist() == [i ** 2 for i in range(100)]
    assert with_square["num"].tolist() == list(range(100))
    assert df.take(3)["num"].tolist() == [0, 1, 2]
    assert df.count() == 100


def test_as_dataframe_tuples_and_columns(ctx):
    pytest.importorskip("pandas")
    df = ctx.range(6, pcount=3).map(lambda i: (i, -i)).as_dataframe(columns=["a", "b"])
    assert df.collect()["b"].tolist() == [0, -1, -2, -3, -4, -5]
    assert list(df.icollect()) == [(i, -i) for i in range(6)]


def test_parse_csv_files(ctx, tmp_path):
    pd = pytest.importorskip("pandas")
    names = []
    for f in range(10):
        rows = "".join(f"{i},{i * i},{i // 2}\n" for i in range(f * 100, (f + 1) * 100))
        path = tmp_path / f"{f}.csv"
        path.write_text("a,b,c\n" + rows)
        names.append(str(path))
    frame = ctx.files(names, psize_bytes=1024, psize_files=3).parse_csv().collect()
    expected = pd.DataFrame({"a": range(1000), "b": [i * i for i in range(1000)],
                             "c": [i // 2 for i in range(1000)]})
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)


def test_parse_csv_texts(ctx):
    pytest.importorskip("pandas")
    texts = ctx.collection(["x,y\n1,ä\n", "x,y\n2,ö\n", "x,y\n3,ü\n"], pcount=2)
    frame = texts.parse_csv().collect()
    assert frame["x"].tolist() == [1, 2, 3]
    assert frame["y"].tolist() == ["ä", "ö", "ü"]
    named = ctx.collection(["1,2\n"]).parse_csv(names=["p", "q"]).collect()
    assert named.to_dict("list") == {"p": [1], "q": [2]}
