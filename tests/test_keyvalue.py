"""Key-value helpers (BNDL §2.3; §6 test_keyvalues, test_key_by_id)."""

from __future__ import annotations

import string


def iseven(i):
    return i % 2 == 0


def identity(x):
    return x


def test_key_by_keys_values(ctx):
    d = ctx.range(10, pcount=3).key_by(iseven)
    assert d.count() == 10
    assert d.collect() == [(iseven(i), i) for i in range(10)]
    assert d.keys().collect() == [True, False] * 5
    assert d.values().collect() == list(range(10))
    assert d.map_keys(str).keys().collect() == ["True", "False"] * 5
    assert d.map_values(iseven).collect() == [(True, True), (False, False)] * 5
    assert d.map_values(lambda a, v: a + v, 100).values().collect() == list(range(100, 110))
    assert d.map_keys(lambda a, k: (a, k), "x").keys().first() == ("x", True)
    assert ctx.range(10).with_value(lambda i: -i).collect() == [(i, -i) for i in range(10)]
    assert ctx.collection("ab").with_value(1).collect() == [("a", 1), ("b", 1)]
    assert ctx.range(10).key_by(identity).collect_as_map() == {i: i for i in range(10)}


def test_flatmap_values_drops_keys(ctx):
    d = ctx.range(10).with_value(lambda i: string.ascii_lowercase[i] * (i + 1))
    expected = [c for i in range(10) for c in string.ascii_lowercase[i] * (i + 1)]
    assert d.flatmap_values(identity).collect() == expected
    assert ctx.range(2).with_value(lambda i: "x" * (i + 1)).flatmap_values().collect() == \
        ["x", "x", "x"]


def test_filter_and_pluck_values(ctx):
    pairs = ctx.collection([(0, "a"), (1, ""), (2, "c"), (3, "d")], pcount=2)
    assert pairs.filter_bykey().keys().collect() == [1, 2, 3]
    assert pairs.filter_bykey(lambda lo, k: k > lo, 1).keys().collect() == [2, 3]
    assert pairs.filter_byvalue().keys().collect() == [0, 2, 3]
    assert pairs.filter_byvalue(lambda v: v == "d").collect() == [(3, "d")]
    records = ctx.collection([(1, [("a", "b"), ("c", "d")])])
    assert records.pluck_values(1).collect() == [(1, ["b", "d"])]
    assert records.pluck_values([1, 0]).collect() == [(1, [("b", "a"), ("d", "c")])]


def test_key_by_id(ctx):
    d = ctx.range(10000).key_by_id()
    assert d.count() == d.keys().collect_as_set().__len__() == 10000
    split = ctx.collection("abcde", pcount=2).key_by_id()
    assert split.collect() == [(0, "a"), (2, "b"), (4, "c"), (1, "d"), (3, "e")]


def test_key_by_idx(ctx):
    d = ctx.range(10000).key_by_idx()
    assert d.keys().collect() == d.values().collect()
    assert ctx.collection("abc").key_by_idx().collect() == [(0, "a"), (1, "b"), (2, "c")]
    # empty and lazy partitions are numbered too
    lazy = ctx.range(20, pcount=4).filter(lambda i: i < 3 or i > 15).key_by_idx()
    assert lazy.collect() == list(enumerate([0, 1, 2, 16, 17, 18, 19]))
    assert ctx.range(5, pcount=1).key_by_idx().collect() == list(enumerate(range(5)))
    assert ctx.collection([]).key_by_idx().collect() == []
