"""Several partitions per task: a stage with many more partitions than task slots runs in
fewer tasks (planning/jobs.py ``partitions_per_task``), with the same results, per-partition
errors and caching as one task per partition."""

from __future__ import annotations

from operator import add

import dask
import pytest

from bndl_dask.planning.jobs import TASKS_PER_SLOT, PartitionTask, partitions_per_task


def _job_tasks(ctx) -> list:
    return [t for t in ctx.jobs[-1].tasks if isinstance(t, PartitionTask)]


def test_many_partitions_run_in_few_tasks(ctx):
    slots = sum(w.nthreads for w in ctx.workers)
    dset = ctx.range(2000, pcount=400)
    assert dset.count() == 2000
    tasks = _job_tasks(ctx)
    assert len(tasks) <= TASKS_PER_SLOT * slots
    assert sorted(i for t in tasks for i in t.part_idxs) == list(range(400))
    assert dset.map(lambda i: i * 2).sum() == 2 * sum(range(2000))


def _index_and_sum(idx, data):
    return idx, sum(data)


def test_results_keep_partition_order(ctx):
    dset = ctx.range(500, pcount=250)
    results = list(dset._run(ordered=True, name="sums", transform=_index_and_sum))
    assert results == [(i, (i, 2 * i + 2 * i + 1)) for i in range(250)]
    assert len(_job_tasks(ctx)) < 250
    assert ctx.range(300, pcount=300).map(str).take(5) == ["0", "1", "2", "3", "4"]
    assert ctx.range(300, pcount=300).first() == 0


def test_icollect_runs_a_task_per_partition(ctx):
    # whole partitions stream back one task at a time (icollect's memory bound)
    assert list(ctx.range(400, pcount=200).icollect()) == list(range(400))
    assert len(_job_tasks(ctx)) == 200


def test_collect_batches_whole_partitions(ctx):
    # collect keeps everything on the driver anyway: whole partitions come back in batches,
    # in order, empty ones included
    dset = ctx.range(400, pcount=200).filter(lambda i: i % 4 == 0 and i < 300)
    assert dset.collect() == list(range(0, 300, 4))
    assert len(_job_tasks(ctx)) < 200
    assert dset.glom().collect() == [[2 * p] if p % 2 == 0 and 2 * p < 300 else []
                                     for p in range(200)]


def test_key_wise_operations_with_batched_stages(ctx):
    pairs = ctx.range(3000, pcount=100).map(lambda i: (i % 37, 1))
    counts = pairs.reduce_by_key(add, pcount=100)
    assert dict(counts.collect()) == {k: len(range(k, 3000, 37)) for k in range(37)}
    left = ctx.range(600, pcount=90).map(lambda i: (i % 50, i))
    right = ctx.range(50, pcount=60).map(lambda k: (k, str(k)))
    assert left.join(right, pcount=80).map(lambda kv: len(kv[1])).sum() == 600
    assert ctx.range(1000, pcount=120).map(lambda i: -i).sort(pcount=70).collect() == \
        sorted(-i for i in range(1000))


def test_error_names_its_partition(ctx):
    with dask.config.set({"bndl.execute.partitions_per_task": 10}):
        with pytest.raises(ZeroDivisionError) as info:
            ctx.range(100, pcount=100).map(lambda i: 1 // (i - 57)).count()
    assert "in partition 57 (this task computed partitions 50-59)" in str(info.value)


def test_cached_partitions_are_read_from_the_cache(ctx):
    computed = ctx.accumulator(0)

    def note(i):
        nonlocal computed
        computed += 1
        return i

    dset = ctx.range(600, pcount=120).map(note).cache()
    try:
        assert dset.count() == 600
        assert dset.sum() == sum(range(600))
        assert computed.value == 600  # the second job read every partition from the cache
    finally:
        dset.uncache()


def test_setting_fixes_the_partitions_per_task(ctx):
    with dask.config.set({"bndl.execute.partitions_per_task": 3}):
        assert ctx.range(10, pcount=10).count() == 10
    # at most 3 each, spread evenly over the 4 tasks that takes (no task of a single partition)
    assert [t.part_idxs for t in _job_tasks(ctx)] == [[0, 1, 2], [3, 4], [5, 6, 7], [8, 9]]
    with dask.config.set({"bndl.execute.partitions_per_task": 0}):
        with pytest.raises(ValueError, match="partitions_per_task"):
            ctx.range(10, pcount=10).count()


def test_partitions_per_task():
    assert partitions_per_task(4, 2) == 1
    assert partitions_per_task(5, 2) == 2
    assert partitions_per_task(16, 2) == 4
    assert partitions_per_task(2000, 200) == 5
    assert partitions_per_task(5, 2, setting=4) == 4


class _Stub:
    """A partition in a chain: ``start_fetch`` only where the real one reads a shuffle."""

    def __init__(self, name, sources=(), reads_shuffle=False, cached=False, started=None):
        self.name = name
        self.sources = list(sources)
        self.dset = type("D", (), {"_cache_options": {} if cached else None})()
        if reads_shuffle:
            self.start_fetch = lambda: started.append(name)

    def source_partitions(self):
        return self.sources


def test_the_next_partitions_shuffle_input_is_fetched_ahead():
    from bndl_dask.planning.tasks import start_fetches

    started: list = []
    left = _Stub("left-shuffle", reads_shuffle=True, started=started)
    behind_cache = _Stub("cached-shuffle", reads_shuffle=True, started=started)
    cached = _Stub("cached", [behind_cache], cached=True)
    union = _Stub("union", [_Stub("map", [left]), cached])
    start_fetches(union)
    assert started == ["left-shuffle"]  # not through the cached dataset


def test_batched_readers_give_the_same_answers(ctx):
    pairs = ctx.range(5000, pcount=40).map(lambda i: (i % 101, i))
    with dask.config.set({"bndl.execute.partitions_per_task": 5}):
        grouped = dict(pairs.group_by_key(pcount=40).map_values(sorted).collect())
        sums = dict(pairs.reduce_by_key(add, pcount=40).collect())
        counted = pairs.group_by_key(pcount=40).count()
    assert grouped == {k: list(range(k, 5000, 101)) for k in range(101)}
    assert sums == {k: sum(range(k, 5000, 101)) for k in range(101)}
    assert counted == 101


def test_batches_never_mix_the_inputs_of_two_sided_operations(ctx):
    # the read side tells the inputs apart by map partition: a batch of map partitions written
    # as one output must stay within one input (ShuffleNode.map_group)
    left = ctx.range(300, pcount=7).map(lambda i: (i % 40, i))
    right = ctx.range(0, 60, 2, pcount=5).map(lambda k: (k, -k))
    with dask.config.set({"bndl.execute.partitions_per_task": 3}):
        outer = sorted(left.left_outer_join(right, pcount=4).collect())
        without = sorted(left.subtract_by_key(right, pcount=4).collect())
        common = sorted(left.keys().intersection(right.keys()).collect())
    rights = {k: -k for k in range(0, 60, 2)}
    assert [(k, sorted(pairs)) for k, pairs in outer] == [
        (k, sorted((v, rights.get(k)) for v in range(k, 300, 40))) for k in range(40)]
    assert without == sorted((i % 40, i) for i in range(300) if (i % 40) % 2)
    assert common == list(range(0, 40, 2))


def _python_groups(pairs) -> dict:
    groups: dict = {}
    for k, v in pairs:
        groups.setdefault(k, []).append(v)
    return groups


@pytest.mark.parametrize("per_task", [2, 3])
def test_every_key_wise_operation_with_batched_map_tasks(ctx, per_task):
    # a task of several map partitions writes their records as one map output, so a block may
    # hold a key once per partition: every read-side merge must still see every record
    left = [(f"k{i % 7}", i) for i in range(120)] + [(None, 5), ((1, "t"), 7)]
    right = [(f"k{i % 5}", str(i)) for i in range(0, 40, 3)] + [(None, "n")]
    lgroups, rgroups = _python_groups(left), _python_groups(right)
    sums = {k: sum(vs) for k, vs in lgroups.items()}
    with dask.config.set({"bndl.execute.partitions_per_task": per_task}):
        a = ctx.collection(left, pcount=7)
        b = ctx.collection(right, pcount=5)
        assert dict(a.reduce_by_key(add, pcount=4).collect()) == sums
        assert dict(a.fold_by_key(0, add, pcount=4).collect()) == sums
        assert dict(a.combine_by_key(lambda v: [v], lambda c, v: c + [v], add, pcount=4)
                    .map_values(sorted).collect()) == {k: sorted(vs) for k, vs in lgroups.items()}
        assert dict(a.aggregate_by_key(sum, pcount=4).collect()) == sums
        assert dict(a.group_by_key(pcount=4).map_values(sorted).collect()) == \
            {k: sorted(vs) for k, vs in lgroups.items()}
        assert dict(a.nlargest_by_key(2, pcount=4).collect()) == \
            {k: sorted(vs, reverse=True)[:2] for k, vs in lgroups.items()}
        assert a.count_by_key() == {k: len(vs) for k, vs in lgroups.items()}
        assert sorted(a.keys().distinct(pcount=3).collect(), key=repr) == \
            sorted(lgroups, key=repr)
        def flat(joined):  # (k, [(v, w), ...]) per key: BNDL's join
            return sorted(((k, pair) for k, pairs in joined.collect() for pair in pairs),
                          key=repr)

        assert flat(a.join(b, pcount=3)) == sorted(
            ((k, (v, w)) for k, v in left for k2, w in right if k == k2), key=repr)
        assert flat(a.left_outer_join(b, pcount=3)) == sorted(
            [(k, (v, w)) for k, v in left for w in rgroups.get(k, [None])], key=repr)
        assert sorted(a.subtract_by_key(b, pcount=3).collect(), key=repr) == \
            sorted(((k, v) for k, v in left if k not in rgroups), key=repr)
        assert sorted(a.keys().intersection(b.keys()).collect(), key=repr) == \
            sorted(set(lgroups) & set(rgroups), key=repr)
        cogrouped = {k: tuple(sorted(g, key=repr) for g in gs)
                     for k, gs in a.cogroup(b, pcount=3).collect()}
        assert cogrouped == {k: tuple(sorted(groups.get(k, []), key=repr)
                                      for groups in (lgroups, rgroups))
                             for k in set(lgroups) | set(rgroups)}


def test_sorts_in_batches_fetch_the_next_range_ahead(ctx):
    # each task asks for its next partition's key range while it merges the current one
    words = [f"w{(i * 7919) % 1000:03d}" for i in range(3000)]
    data = ctx.collection(words, pcount=30)
    with dask.config.set({"bndl.execute.partitions_per_task": 5}):
        assert data.sort(pcount=40).collect() == sorted(words)
        assert data.sort(key=lambda w: w[::-1], reverse=True, pcount=40).collect() == \
            sorted(words, key=lambda w: w[::-1], reverse=True)
        # more ranges than distinct keys: some ranges are empty
        assert data.map(len).sort(pcount=20).glom().map(len).sum() == 3000
