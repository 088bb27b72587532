"""The futures walkthrough of dask's distributed (Executor era), step by step, on bndl_dask.

Each step of the original walkthrough runs here against an embedded cluster on 127.0.0.1
(``Executor(worker_count=1)``: one worker process keeps the example quick); to use a real cluster
start ``dscheduler`` and some ``dworker 127.0.0.1:8786`` processes and pass ``'127.0.0.1:8786'``
instead. Where dask's
API has changed since, the current spelling is used:

* ``y.compute(get=e.get)``        -> ``y.compute(scheduler=e.get)``
* ``dask.set_options(get=e.get)`` -> ``dask.config.set(scheduler=e.get)``
* ``dask.imperative.do``          -> ``dask.delayed``

Run it with ``python examples/futures_walkthrough.py``.
"""

from __future__ import annotations

import time

import dask
import dask.array as da

from bndl_dask import Executor, as_completed, progress, wait


def inc(x):
    return x + 1


def double(x):
    return 2 * x


def add(x, y):
    return x + y


def div(x, y):
    return x / y


def load(name):
    return list(range(len(name)))


def process(values):
    return [v * 10 for v in values]


def store(values):
    return sum(values)


def step(title: str) -> None:
    print(f"\n== {title}")


def main() -> None:
    with Executor(worker_count=1) as e:
        step("Submit and gather")
        future = e.submit(inc, 1)  # calls inc(1) on a worker
        print(future)
        assert e.gather([future]) == [2]

        step("map and gather")
        futures = e.map(inc, range(5))  # inc(0), inc(1), ...
        print(e.gather(futures))
        assert e.gather(futures) == [1, 2, 3, 4, 5]

        step("Submit and map on futures: move the function to the data")
        future1 = e.submit(inc, 1)
        future2 = e.submit(double, future1)  # the input stays on the worker
        assert future2.result() == 4

        step("Submit and map with many inputs")
        futures = e.map(add, range(10), range(10))
        total = e.submit(sum, futures)  # sum over a list of futures, on a worker
        print(e.gather([total]))
        assert e.gather([total]) == [90]

        step("Scatter local data to the workers")
        scattered = e.scatter([1, 2, 3])
        print(scattered)
        assert e.gather(e.map(inc, scattered)) == [2, 3, 4]
        names = e.scatter(["a.csv", "bb.csv"])
        assert e.gather(e.map(load, names)) == [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5]]

        step("Exceptions")
        future = e.submit(div, 1, 0)  # divides by zero
        wait([future])
        print(future, future.status)
        assert future.status == "error"
        assert isinstance(future.exception(), ZeroDivisionError)
        assert future.traceback() is not None
        future2 = e.submit(inc, future)  # work on a failed future fails too
        wait([future2])
        assert future2.status == "error"
        try:
            e.gather([future])
        except ZeroDivisionError as exc:
            print("gather raised", repr(exc))
        else:
            raise AssertionError("gathering a failed future must raise")

        step("Restart: cancels everything and clears the workers' memory")
        e.restart()
        print(future)
        assert future.status == "cancelled"

        step("Wait on futures")
        a, b, c = e.map(time.sleep, [0.1, 0.2, 0.3])  # returns at once
        wait([a, b, c])
        assert all(f.done() for f in (a, b, c))

        step("progress: a widget in a notebook, else a text bar")
        slow = e.map(time.sleep, [0.1, 0.2, 0.3], pure=False)
        progress(slow)  # waits; a text bar on stdout, also into a log or a pipe
        assert all(f.done() for f in slow)

        step("as_completed: futures in the order they finish")
        seq = as_completed(e.map(time.sleep, [0.3, 0.2, 0.1], pure=False))
        print([f.status for f in seq])

        step("Manage memory: results stay on the workers while a future refers to them")
        futures1 = e.map(load, ["x", "yy", "zzz"])
        futures2 = e.map(process, futures1)
        futures3 = e.map(store, futures2)
        del futures2  # the intermediate results may now be released
        assert e.gather(futures3) == [0, 10, 30]

        step("dask collections")
        x = da.random.normal(loc=10, scale=0.1, size=(1000, 1000), chunks=(500, 500))
        y = x.mean()
        print(y.compute(scheduler=e.get))  # was y.compute(get=e.get)
        with dask.config.set(scheduler=e.get):  # was dask.set_options(get=e.get)
            assert abs(y.compute() - 10) < 0.01
        future = e.compute(y)  # a future for the collection's result
        assert abs(future.result() - 10) < 0.01

        step("dask.delayed (was dask.imperative.do)")
        filenames = ["2015-01-01.csv", "2015-01-02.csv", "2015-01-03.csv"]
        values1 = [dask.delayed(load)(name) for name in filenames]  # lazy
        values2 = [dask.delayed(process)(v) for v in values1]
        values3 = [dask.delayed(store)(v) for v in values2]
        futures3 = e.compute(values3)  # only the final results persist
        print(e.gather(futures3))
        assert e.gather(futures3) == [910, 910, 910]

        step("dask.delayed and futures")
        futures1 = e.map(load, filenames)  # persistent inputs
        values2 = [dask.delayed(process)(f) for f in futures1]
        values3 = [dask.delayed(store)(v) for v in values2]
        assert e.gather(e.compute(values3)) == [910, 910, 910]
    print("\nwalkthrough complete")


if __name__ == "__main__":  # worker processes are spawned: keep the work under this guard
    main()
