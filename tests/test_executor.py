"""The dask seed (shared/seeds/003), step by step, against ``dscheduler`` + two ``dworker``
processes (the ``cli_cluster`` fixture of test_cli.py). An embedded ``Executor()`` is tested in
test_context.py (test_quiet_exit_without_stop).

Three steps of the seed were removed from dask itself; their current spellings are tested:
``compute(get=e.get)`` -> ``compute(scheduler=e)`` / ``scheduler=e.get``,
``dask.set_options(get=e.get)`` -> ``dask.config.set(scheduler=e)``,
``dask.imperative.do`` -> ``dask.delayed``.
"""

from __future__ import annotations

import os
import time
import traceback

import dask
import distributed
import pytest
from test_cli import cli_cluster  # noqa: F401  (the shared session fixture)

from bndl_dask import ComputeContext, Executor, as_completed, wait

# starting clusters of processes is slow on a busy machine
pytestmark = pytest.mark.timeout(300)


def inc(x):
    return x + 1


def double(x):
    return 2 * x


def add(x, y, z=0):
    return x + y + z


def div(x, y):
    return x / y


def load(filename):
    with open(filename) as f:
        return [int(v) for v in f.read().split(",")]


def process(values, factor=1):
    return [v * factor for v in values]


def store(values):
    return sum(values)


def wait_for_event(name):
    return distributed.Event(name).wait(120)


def wait_until(condition, timeout=60):
    """Poll ``condition`` (a cluster state that changes asynchronously) until true."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def e(cli_cluster):  # noqa: F811
    executor = Executor(cli_cluster.address)
    executor.wait_for_workers(2, timeout=60)
    yield executor
    executor.close()


@pytest.fixture
def filenames(tmp_path):
    names = []
    for i in range(3):
        path = tmp_path / f"2015-01-0{i + 1}.csv"
        path.write_text(",".join(str(i * 10 + j) for j in range(5)))
        names.append(str(path))
    return names


def test_connect_forms(cli_cluster, e):  # noqa: F811
    assert repr(e).startswith("<Executor: ")
    with Executor(f"tcp://{cli_cluster.address}") as other:
        assert other.scheduler.address == e.scheduler.address


def test_submit_and_gather(e):
    future = e.submit(inc, 1)
    assert e.gather([future]) == [2]
    assert e.gather(future) == 2
    assert future.status == "finished"
    assert future.key.startswith("inc-")
    assert "finished" in repr(future) and future.key in repr(future)


def test_map_and_gather(e):
    futures = e.map(inc, range(5))
    assert len(futures) == 5
    assert e.gather(futures) == [1, 2, 3, 4, 5]


def test_submit_and_map_on_futures(e):
    future1 = e.submit(inc, 1)
    future2 = e.submit(double, future1)
    assert e.gather([future1, future2]) == [2, 4]
    assert e.gather(e.map(double, e.map(inc, range(3)))) == [2, 4, 6]


def test_many_inputs_and_kwargs(e):
    futures = e.map(add, range(10), range(10))
    total = e.submit(sum, futures)
    assert e.gather([total]) == [90]
    assert e.submit(add, 1, 2, z=3).result() == 6
    assert e.gather(e.map(add, range(3), [10] * 3, z=100)) == [110, 111, 112]


def test_scatter(e, filenames):
    futures = e.scatter([1, 2, 3])
    assert [f.status for f in futures] == ["finished"] * 3
    assert e.gather(futures) == [1, 2, 3]
    assert e.gather(e.map(inc, futures)) == [2, 3, 4]
    # the seed's pattern: scatter file names, let the workers load them (with a kwarg)
    filename_futures = e.scatter(filenames)
    loaded = e.map(load, filename_futures)
    assert e.gather(e.map(process, loaded, factor=2))[1] == [20, 22, 24, 26, 28]


def test_future_status_pending_then_finished(e):
    event = distributed.Event(f"go-{os.getpid()}", client=e)
    future = e.submit(wait_for_event, event.name, pure=False)
    assert future.status == "pending"
    event.set()
    assert future.result(timeout=60) is True
    assert future.status == "finished"


def test_exceptions(e):
    future = e.submit(div, 1, 0)
    wait(future)
    assert future.status == "error"
    assert "error" in repr(future)
    exc = future.exception()
    assert isinstance(exc, ZeroDivisionError) and str(exc) == "division by zero"
    assert "div" in "".join(traceback.format_tb(future.traceback()))
    future2 = e.submit(inc, future)  # computations on failed futures fail
    wait(future2)
    assert future2.status == "error"
    assert isinstance(future2.exception(), ZeroDivisionError)
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        e.gather([future])


def test_wait_progress_as_completed(e, capsys):
    a, b, c = e.map(time.sleep, [0.01, 0.02, 0.03])  # returns at once
    done, not_done = wait([a, b, c])
    assert len(done) == 3 and not not_done
    distributed.progress([a, b, c])  # the seed's text progress bar (blocks like wait)
    assert "100% Completed" in capsys.readouterr().out
    x, y, z = e.map(inc, [10, 20, 30])
    seq = as_completed([x, y, z])
    results = {next(seq).result() for _ in range(3)}
    assert results == {11, 21, 31}
    with pytest.raises(StopIteration):
        next(seq)


def test_del_futures_releases_data(e):
    future = e.submit(list, range(1000), pure=False)
    wait(future)
    key = future.key
    assert e.who_has([future])[key]  # the data lives on a worker
    del future
    wait_until(lambda: key not in e.who_has())


def test_dask_collections(e):
    da = pytest.importorskip("dask.array")
    x = da.random.normal(loc=10, scale=0.1, size=(400, 400), chunks=(200, 200))
    y = x.mean()
    assert abs(y.compute(scheduler=e) - 10) < 0.01  # the seed's compute(get=e.get)
    assert abs(y.compute(scheduler=e.get) - 10) < 0.01
    with dask.config.set(scheduler=e):  # the seed's dask.set_options(get=e.get)
        assert abs(y.compute() - 10) < 0.01
    futures = e.compute(y)
    assert abs(e.gather(futures) - 10) < 0.01


def test_delayed(e, filenames):
    delayed = dask.delayed  # the seed's dask.imperative.do
    values1 = [delayed(load)(fn) for fn in filenames]
    values2 = [delayed(process)(v) for v in values1]
    values3 = [delayed(store)(v) for v in values2]
    futures3 = e.compute(*values3)  # only final results persist
    assert e.gather(futures3) == [10, 60, 110]
    # delayed values built on futures
    futures1 = e.map(load, filenames)
    values2 = [delayed(process)(future, factor=2) for future in futures1]
    values3 = [delayed(store)(v) for v in values2]
    assert e.gather(e.compute(*values3)) == [20, 120, 220]
    assert e.compute(values3[0]).result() == 20


def test_ncores(e):
    assert e.ncores() == {address: 1 for address in e.ncores()}
    assert len(e.ncores()) == 2


def test_compute_context_on_the_cli_cluster(cli_cluster):  # noqa: F811
    with ComputeContext(f"127.0.0.1:{cli_cluster.port}") as ctx:
        assert ctx.await_workers() == 2
        assert ctx.range(100).map(inc).filter(lambda v: v % 2).count() == 50
        assert sorted(w.address for w in ctx.workers) == sorted(ctx.executor.ncores())


def test_restart_cancels_futures(e):
    failed = e.submit(div, 1, 0)
    ok = e.submit(inc, 41)
    data = e.scatter([1, 2])
    wait([failed, ok])
    e.restart()
    assert [f.status for f in (failed, ok, *data)] == ["cancelled"] * 4
    held = {key for keys in e.has_what().values() for key in keys}
    assert not held & {f.key for f in (failed, ok, *data)}  # all data was destroyed
    assert e.submit(inc, 1).result(timeout=60) == 2  # the cluster works again
