"""Locality controls (BNDL §2.11; §6 test_selectexecutors)."""

from __future__ import annotations

from collections import Counter

from bndl_dask.worker.runtime import current_worker


def where(x):
    return current_worker().name


def test_require_workers_pins_every_task(ctx):
    for _ in range(2):
        for worker in ctx.workers:
            registered = ctx.accumulator(Counter())

            def register(x, registered=registered):
                registered.update("update", [current_worker().name])
                return x

            pinned = ctx.range(10).map(register).require_workers(lambda ws, w=worker: [w])
            assert pinned.execute() is None
            assert registered.value == Counter({worker.name: 10})


def test_restriction_applies_downstream(ctx):
    last = ctx.workers[-1]
    pinned = ctx.range(10, pcount=4).require_workers(lambda ws: [w for w in ws if w == last])
    assert set(pinned.map(where).collect()) == {last.name}
    assert set(pinned.map(str).filter(None).map(where).collect()) == {last.name}
    # a clone: the original stays unrestricted, with its own id
    original = ctx.range(10, pcount=4)
    clone = original.require_workers(lambda ws: ws[:1])
    assert clone.id != original.id and original._worker_filter is None


def test_allow_all_workers(ctx):
    d = ctx.range(10, pcount=8)
    assert d.allow_all_workers() is d
    first = ctx.workers[0]
    pinned = d.require_workers(lambda ws: [first])
    freed = pinned.allow_all_workers()
    assert freed is not pinned
    assert set(pinned.map(where).collect()) == {first.name}
    assert sorted(freed.map(lambda x: x).collect()) == list(range(10))
    assert freed._worker_filter is None


def test_require_local_workers(ctx):
    # the embedded cluster runs on this machine: every worker qualifies
    names = set(ctx.range(20, pcount=8).require_local_workers().map(where).collect())
    assert names and names <= {w.name for w in ctx.workers}


def test_tasks_without_locality_use_every_worker(ctx):
    # dask would run every reducer where the barrier's result is, and consecutive tasks of a
    # task group that outlives a job on one worker: the scheduler marks such tasks as root
    # tasks so that dask spreads them
    import operator
    from collections import defaultdict

    from bndl_dask.execute.job import BarrierTask

    for _ in range(2):  # the second job's task groups are not the first job's
        pairs = ctx.range(400, pcount=4).map(lambda i: (i % 10, 1))
        assert sorted(pairs.reduce_by_key(operator.add, pcount=4).collect()) == \
            [(k, 40) for k in range(10)]
        used = defaultdict(set)
        for task in ctx.jobs[-1].tasks:
            if not isinstance(task, BarrierTask):
                used[task.group].update(task.executed_on)
        assert len(used) == 2 and all(len(names) == 2 for names in used.values()), used


def test_a_stage_of_uneven_partitions_is_shared_out(ctx):
    # a union of four big partitions and four small ones: with dask's root-task queueing off,
    # one worker would get the four big ones (a contiguous run of the stage) and sit idle after
    # the small ones
    import operator

    from bndl_dask.execute.job import BarrierTask

    big = ctx.range(4000, pcount=4).map(lambda i: (i % 10, 1))
    small = ctx.range(40, pcount=4).map(lambda i: (i % 10, 1))
    assert sorted(big.union(small).reduce_by_key(operator.add).collect()) == \
        [(k, 404) for k in range(10)]
    tasks = [task for task in ctx.jobs[-1].tasks if not isinstance(task, BarrierTask)]
    writers = [task for task in tasks if task.group == min(t.group for t in tasks)]
    assert sorted(i for task in writers for i in task.part_idxs) == list(range(8))
    big_on = [name for task in writers if task.part_idxs[0] < 4 for name in task.executed_on]
    assert len(set(big_on)) == 2, big_on


def test_readers_spread_when_concurrency_is_capped(make_ctx):
    # with more threads than bndl.execute.concurrency, tasks carry a dask resource and dask no
    # longer treats them as root tasks: readers of a barrier still use every worker
    import operator

    from bndl_dask.execute.job import BarrierTask

    ctx = make_ctx(worker_count=2, threads_per_worker=2)
    ctx.await_workers(2)
    pairs = ctx.range(400, pcount=4).map(lambda i: (i % 10, 1))
    assert sorted(pairs.reduce_by_key(operator.add, pcount=6).collect()) == \
        [(k, 40) for k in range(10)]
    tasks = [task for task in ctx.jobs[-1].tasks if not isinstance(task, BarrierTask)]
    readers = [task for task in tasks if task.group == max(t.group for t in tasks)]
    assert len(readers) == 6
    assert len({name for task in readers for name in task.executed_on}) == 2
