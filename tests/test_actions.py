"""Actions (BNDL §2.4, §2.9; §6 test_slicing, test_range, test_stats counts, test_count_byvalue)."""

from __future__ import annotations

import operator
import string
import time
from collections import Counter

import numpy as np
import pytest


def test_collect_variants(ctx):
    d = ctx.range(10, pcount=3)
    assert d.collect(parts=True) == [range(0, 3), range(3, 6), range(6, 10)]
    assert d.map(str).collect(parts=True) == [["0", "1", "2"], ["3", "4", "5"],
                                              ["6", "7", "8", "9"]]
    assert sorted(d.collect(ordered=False)) == list(range(10))
    assert ctx.collection([("a", 1), ("b", 2)], pcount=2).collect_as_map() == {"a": 1, "b": 2}
    assert ctx.collection([("a", 1), ("b", 2)], pcount=2).collect_as_map(parts=True) == [
        {"a": 1}, {"b": 2}]
    assert ctx.collection("abcabc").collect_as_set() == {"a", "b", "c"}


def test_icollect_streams_in_order(ctx):
    assert next(ctx.range(10).icollect(ordered=True)) == 0
    it = ctx.range(100, pcount=10).icollect()
    assert [next(it) for _ in range(15)] == list(range(15))
    it.close()  # abandoning the iterator cancels the job; the context stays usable
    assert list(ctx.range(5, pcount=5).icollect(parts=True)) == [range(i, i + 1) for i in range(5)]
    assert ctx.range(10).count() == 10


def test_icollect_fetches_a_bounded_number_of_results_ahead(make_ctx):
    from bndl_dask.execute.results import LeafResult as _LeafResult

    ctx = make_ctx(worker_count=2, conf={"bndl.compute.icollect_buffer": 2})
    it = ctx.range(60, pcount=30).map(lambda x: x).icollect(parts=True)
    first = next(it)
    job = ctx.jobs[-1]
    deadline = time.monotonic() + 60
    while not all(task.succeeded for task in job.tasks):  # every result waits on a worker
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.01)
    leaves = [task.future for task in job.tasks if isinstance(task.future, _LeafResult)]
    assert len(leaves) == 30
    # fetched (or on their way) ahead of the consumer: at most the buffer
    assert sum(leaf.fetched_ahead for leaf in leaves) <= 2
    assert [x for part in [first, *it] for x in part] == list(range(60))


def test_first_take_itake(ctx):
    for pcount in (None, 100):
        letters = ctx.collection(string.ascii_lowercase, pcount=pcount)
        assert letters.first() == "a"
        assert letters.take(10) == list(string.ascii_lowercase[:10])
        assert letters.collect() == list(string.ascii_lowercase)
    assert ctx.range(1000).take(10) == list(range(10))
    assert list(ctx.range(100, pcount=20).itake(30)) == list(range(30))
    assert ctx.range(3).take(10) == [0, 1, 2]
    assert ctx.range(3).take(0) == []
    # empty leading partitions: later rounds find the elements
    sparse = ctx.range(100, pcount=10).filter(lambda i: i >= 85)
    assert sparse.take(3) == [85, 86, 87]
    assert sparse.first() == 85
    with pytest.raises(StopIteration):
        ctx.collection([]).first()
    with pytest.raises(StopIteration):
        ctx.range(10).filter(lambda i: False).first()


def test_take_runs_growing_rounds(ctx):
    rounds = []
    d = ctx.range(16, pcount=16)
    # count jobs by partition indices each round asks for: 1, then 2, 4, 8
    original = d._run

    def spy(parts=None, **kwargs):
        rounds.append(list(parts))
        return original(parts=parts, **kwargs)

    d._run = spy
    assert d.take(10) == list(range(10))
    assert rounds == [[0], [1, 2], [3, 4, 5, 6], [7, 8, 9, 10, 11, 12, 13, 14]]


def test_execute_returns_none(ctx):
    assert ctx.range(10).map(str).execute() is None


def test_counting_and_sums(ctx):
    d = ctx.range(1000)
    assert (d.min(), d.max(), d.mean(), d.sum(), d.count()) == (0, 999, 499.5, 499500, 1000)
    for pcount in (2, 4, 8):
        assert ctx.range(1000, pcount=pcount).count() == 1000
    assert d.filter(lambda i: i < 500).count() == 500
    assert d.map_partitions(lambda p: [i for i in p if i < 500]).count() == 500
    assert d.map_partitions(lambda p: None if p[0] >= 500 else p).count() == 500
    assert ctx.collection(["abc", "def", "ghi"]).map(len).sum() == 9
    assert ctx.collection([]).count() == 0
    assert ctx.collection([]).sum() == 0
    assert ctx.range(10).mean() == 4.5
    with pytest.raises(ValueError):
        ctx.collection([]).mean()


def test_numpy_partitions(ctx):
    array = ctx.collection(np.arange(10), pcount=3)
    assert array.collect(parts=True)[0].tolist() == [0, 1, 2, 3]
    assert (array.sum(), array.min(), array.max(), array.count()) == (45, 0, 9, 10)
    assert array.mean() == 4.5 and array.stats().variance == 8.25
    assert array.nlargest(2) == [9, 8] and array.reduce(operator.add) == 45


def test_min_max_with_key(ctx):
    assert ctx.range(10).with_value(1).max(0) == (9, 1)
    assert ctx.range(10).map(lambda i: {"key": i, "val": -i}).max("val") == {"key": 0, "val": 0}
    assert ctx.range(10).min(key=lambda i: -i) == 9
    assert ctx.collection("abcd").max() == "d"
    # empty partitions (a BNDL quirk made these fail) are skipped
    assert ctx.range(10, pcount=5).filter(lambda i: i < 3).max() == 2
    with pytest.raises(ValueError):
        ctx.collection([]).min()


def test_nlargest_nsmallest(ctx):
    assert ctx.range(10).nlargest(3) == [9, 8, 7]
    assert ctx.range(10).nsmallest(3) == [0, 1, 2]
    assert ctx.range(10).nlargest(1) == 9  # BNDL: a bare element for num == 1
    assert ctx.range(10).nsmallest(1) == 0
    assert ctx.collection(list("abcd")).nlargest(2) == ["d", "c"]
    assert ctx.range(100).nlargest(10, key=operator.neg) == list(range(10))
    assert ctx.range(100).nsmallest(10, key=str) == sorted(range(100), key=str)[:10]


def test_aggregate_combine_reduce(ctx):
    d = ctx.range(10)
    assert d.aggregate(sum) == 45
    assert d.aggregate(lambda p: sum(1 for _ in p), sum) == 10
    assert sorted(d.combine([], lambda acc, e: acc + [e], operator.add)) == list(range(10))
    assert ctx.range(1, 10).reduce(operator.mul) == 362880
    assert ctx.range(10, pcount=5).filter(lambda i: i > 7).reduce(operator.add) == 17
    with pytest.raises(ValueError):
        ctx.collection([]).reduce(operator.add)
    with pytest.raises(ValueError):
        ctx.collection([]).combine(0, operator.add, operator.add)
    with pytest.raises(ValueError, match="empty"):
        ctx.collection([]).aggregate(lambda parts: next(iter(parts)))
    with pytest.raises(TypeError, match="local"):
        d.aggregate(3)


def test_count_by_value(ctx):
    d = ctx.range(0, 1000).map(lambda i: i % 10)
    assert d.count_by_value() == Counter(d.collect())
    assert ctx.collection("abcabc").count_by_value() == Counter("abcabc")
