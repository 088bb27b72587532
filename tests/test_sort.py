"""sort(): total order from range boundaries drawn from sorted runs, descending order, keys,
take_ordered."""

from __future__ import annotations

import random
import string
from operator import itemgetter

import pytest


@pytest.mark.parametrize("length", [10, 1000])
def test_sort_random_ints(ctx, length):
    rng = random.Random(length)
    for maximum in (3, 100, 1000):
        ints = [rng.randrange(maximum) for _ in range(length)]
        dset = ctx.collection(ints, pcount=4)
        assert dset.sort().collect() == sorted(ints)
        assert dset.sort(reverse=True).collect() == sorted(ints, reverse=True)
        if maximum == 1000:
            pairs = dset.key_by_id().map(list)
            assert pairs.sort(key=itemgetter(1)).values().collect() == sorted(ints)
            # unhashable but comparable elements
            assert dset.key_by(lambda i: i).map(list).sort().values().collect() == sorted(ints)


def test_sort_examples(ctx):
    letters = ctx.collection("asdfzxcvqwer")
    assert "".join(letters.sort().collect()) == "acdefqrsvwxz"
    assert "".join(letters.sort(reverse=True).collect()) == "zxwvsrqfedca"
    dicts = ctx.range(5).map(lambda i: {"a": i - 2, "b": i})
    assert [d["a"] for d in dicts.sort(key="a").collect()] == [-2, -1, 0, 1, 2]
    assert [d["b"] for d in dicts.sort(key=lambda d: -d["b"]).collect()] == [4, 3, 2, 1, 0]
    keyed = ctx.range(5).key_by(lambda i: i - 2)
    assert keyed.sort(key=1).sort().collect() == [(-2, 0), (-1, 1), (0, 2), (1, 3), (2, 4)]


def test_sort_partitions_are_ranges(ctx):
    dset = ctx.range(1000, pcount=4).map(lambda i: (i * 7919) % 1000)
    parts = dset.sort(pcount=5).collect(parts=True)
    assert len(parts) == 5
    flat = [x for part in parts for x in part]
    assert flat == list(range(1000))
    assert sum(1 for part in parts if part) >= 3  # the sample spreads the ranges
    down = dset.sort(reverse=True, pcount=3).collect(parts=True)
    assert [x for part in down for x in part] == list(range(999, -1, -1))
    assert all(part == sorted(part, reverse=True) for part in down)


def test_sort_edge_cases(ctx):
    assert ctx.range(100, pcount=3).sort(pcount=1).collect() == list(range(100))
    assert ctx.range(100, pcount=3).sort(pcount=1, reverse=True).collect() == \
        list(range(99, -1, -1))
    assert ctx.collection([5, 3], pcount=2).sort(pcount=6).collect() == [3, 5]
    assert ctx.collection([], pcount=1).sort().collect() == []
    assert ctx.collection([], pcount=3).sort().collect() == []
    negated = ctx.range(300, pcount=3).map(lambda i: -i)
    assert negated.sort(hd_distribution=True).collect() == list(range(-299, 1))
    strings = [str(i) for i in range(200)]
    assert ctx.collection(strings, pcount=4).sort().collect() == sorted(strings)


def test_take_ordered_on_shuffled(ctx):
    letters = ctx.collection(string.ascii_lowercase).shuffle()
    assert "".join(letters.nlargest(2)) == "zy"
    assert "".join(letters.nlargest(10)) == "zyxwvutsrq"
    assert "".join(letters.nsmallest(2)) == "ab"
    assert "".join(letters.nsmallest(10)) == "abcdefghij"
    numbers = ctx.range(100).shuffle()
    assert numbers.nlargest(10, key=lambda i: -i) == list(range(10))
    assert numbers.nsmallest(10, key=lambda i: -i) == list(range(99, 89, -1))
    assert numbers.nsmallest(10, key=str) == sorted(range(100), key=str)[:10]


def test_sort_partition_larger_than_a_run(ctx):
    # one partition of more records than a map task sorts at once: several runs per map task
    from bndl_dask.worker.range_shuffle import RUN_RECORDS

    size = RUN_RECORDS + RUN_RECORDS // 5
    scrambled = ctx.range(size, pcount=1).map(lambda i: (i * 7919) % size)
    parts = scrambled.sort(pcount=3).collect(parts=True)
    assert [len(part) > 0 for part in parts] == [True] * 3
    assert [x for part in parts for x in part] == list(range(size))


def test_sort_is_lazy_and_reads_its_source_once(ctx):
    reads = ctx.accumulator(0)

    def counted(data):
        nonlocal reads
        for x in data:
            reads += 1
            yield x

    ordered = ctx.range(500, pcount=4).map_partitions(counted).sort(pcount=3)
    assert reads.value == 0  # no sampling job at sort() time
    assert ordered.collect() == list(range(500))
    assert reads.value == 500


def test_partly_cached_sort(ctx):
    # take() caches the first range only; collect() reads it and runs the sort for the rest
    # (its map side is planned as skipped behind the cache, and then run after all)
    ordered = ctx.range(40, pcount=4).map(lambda i: 39 - i).sort(pcount=4).cache()
    try:
        assert ordered.take(2) == [0, 1]
        assert ordered.collect() == list(range(40))
        assert ordered.map(lambda x: -x).sort().collect() == list(range(-39, 1))
    finally:
        ordered.uncache()


def test_a_sort_of_ints_reads_as_python_ints_everywhere(ctx):
    # a sorted partition of plain ints stays an int64 array until it is read: whatever reads
    # it (collect, parts, glom, a narrow step, a cache, another shuffle) sees Python ints
    pytest.importorskip("numpy")
    rng = random.Random(7)
    ints = [rng.randrange(-2**40, 2**40) for _ in range(3000)]
    ordered = sorted(ints)
    dset = ctx.collection(ints, pcount=5).sort(pcount=3)
    collected = dset.collect()
    assert collected == ordered and {type(i) for i in collected} == {int}
    assert dset.sort(reverse=True, pcount=3).collect() == ordered[::-1]
    parts = dset.collect(parts=True)
    assert [type(part) for part in parts] == [list] * 3
    assert [i for part in parts for i in part] == ordered
    assert [type(part) for part in dset.glom().collect()] == [list] * 3
    seen = dset.map_partitions(lambda part: [(len(part), part[0], part[-1], part[1:3],
                                              {type(i) for i in part})]).collect()
    assert [first for _, first, _, _, _ in seen] == [part[0] for part in parts]
    assert all(types == {int} for *_, types in seen)
    assert all(pair == part[1:3] for (*_, pair, _), part in zip(seen, parts))
    assert dset.map(lambda i: type(i).__name__).distinct().collect() == ["int"]
    assert dset.count() == len(ints) and dset.sum() == sum(ints)
    firsts = [dset.first(), *dset.take(3), dset.max(), dset.min(), *dset.nlargest(2)]
    assert firsts == [ordered[0], *ordered[:3], ordered[-1], ordered[0], *ordered[:-3:-1]]
    assert {type(i) for i in firsts} == {int}
    assert dset.key_by(lambda i: i % 3).count_by_key() == dict(
        sorted({k: sum(1 for i in ints if i % 3 == k) for k in range(3)}.items()))
    for serialization in (None, "pickle", "marshal", "json"):
        cached = ctx.collection(ints, pcount=4).sort(pcount=2).cache(
            serialization=serialization)
        try:
            assert cached.collect() == ordered  # computes and caches
            assert cached.collect() == ordered  # reads the cache
            assert cached.map(type).distinct().collect() == [int]
        finally:
            cached.uncache()
