"""Narrow transformations (BNDL §2.2, §2.6, §2.7; §6 test_mapping, test_filtering, test_pluck,
test_union, test_zip, test_product, test_coalesce, test_collection, test_range)."""

from __future__ import annotations

import inspect
import itertools
import operator
import string
import threading

import pytest

from bndl_dask.datasets import interop_datasets, narrow_nodes, shuffle_nodes
from bndl_dask.datasets.core import DatasetCore
from bndl_dask.datasets.dataset import PUBLIC_CLASSES, Dataset
from bndl_dask.execute.exceptions import InvocationException


def identity(x):
    return x


# -- sources ------------------------------------------------------------------------------------

def test_range_partitions(ctx):
    assert ctx.range(10, pcount=4).collect(parts=True) == [
        range(0, 2), range(2, 5), range(5, 7), range(7, 10)]
    assert [len(p) for p in ctx.range(5, 20, pcount=4).collect(parts=True)] == [3, 4, 4, 4]
    assert ctx.range(10, pcount=3).map_partitions(lambda p: [len(p)]).collect() == [3, 3, 4]
    assert str(ctx.range(10)) == "range(10)" and str(ctx.range(5, 20)) == "range(5,20)"
    assert ctx.range(1000).collect() == list(range(1000))
    assert list(ctx.range(1000).icollect()) == list(range(1000))
    assert ctx.collection(range(1000)).collect() == list(range(1000))


@pytest.mark.parametrize("args", [(5, 0), (0,), (3, 3), (5, 0, -2), (-3, 4), (10, -10, -3),
                                  (0, 10, 4)])
def test_range_is_pythons_range(ctx, args):
    # range(5, 0) once gave 0..4: a stop of 0 was taken for "no stop given"
    assert ctx.range(*args, pcount=3).collect() == list(range(*args))


def test_collection_sources(ctx):
    letters = ctx.collection(string.ascii_lowercase)
    assert letters.first() == "a"
    assert letters.take(10) == list(string.ascii_lowercase[:10])
    assert letters.collect() == list(string.ascii_lowercase)
    assert [len(p) for p in ctx.collection(string.ascii_lowercase, pcount=5)
            .collect(parts=True)] == [6, 6, 6, 6, 2]
    gen = ctx.collection(c for c in string.ascii_lowercase)
    assert gen.count() == 26 and gen.count() == 26
    dct = dict(zip(string.ascii_lowercase, range(26)))
    assert dict(ctx.collection(dct).collect()) == dct
    assert ctx.collection(dct.keys()).collect_as_set() == set(dct)
    assert sorted(ctx.collection(dct.values()).collect()) == list(range(26))
    index = lambda idx, it: [idx]  # noqa: E731
    assert ctx.collection([1, 2, 3, 4], psize=2).map_partitions_with_index(index).collect() \
        == [0, 1]
    assert ctx.collection([1, 2, 3, 4, 5, 6], pcount=3).map_partitions_with_index(index) \
        .collect() == [0, 1, 2]
    assert ctx.collection("ünïcødé ✓", pcount=3).collect() == list("ünïcødé ✓")


@pytest.mark.parametrize("kwargs", [{"pcount": 0}, {"psize": 0}, {"pcount": 1, "psize": 1},
                                    {"pcount": -1}])
def test_collection_bad_sizes(ctx, kwargs):
    with pytest.raises(ValueError):
        ctx.collection([1, 2, 3], **kwargs)
    if "psize" not in kwargs:
        with pytest.raises(ValueError):
            ctx.range(3, **kwargs)
    assert ctx.range(3).count() == 3


def test_empty_sources(ctx):
    assert ctx.collection([]).collect() == []
    assert ctx.collection([]).count() == 0
    assert ctx.range(0).collect() == []
    assert ctx.range(0).map(str).collect(parts=True) == [[]] * ctx.range(0).pcount
    assert ctx.collection([], pcount=1).take(3) == []
    # one partition, and more partitions than elements
    assert ctx.range(5, pcount=1).map(str).collect() == list("01234")
    assert ctx.range(3, pcount=7).map(str).collect() == list("012")


# -- element-wise ---------------------------------------------------------------------------------

def test_mapping(ctx):
    d = ctx.range(10, pcount=3)
    assert d.map(lambda i: i * 2).collect() == [i * 2 for i in range(10)]
    assert d.map(str).map(len).collect() == [1] * 10
    assert d.flatmap(lambda i: (i,)).collect() == list(range(10))
    assert d.flatmap(lambda x: [x, x + 1]).collect() == [y for x in range(10) for y in (x, x + 1)]
    assert "".join(ctx.range(100, pcount=3).map(str).flatmap(identity).collect()) == \
        "".join(map(str, range(100)))
    assert ctx.collection(["ab", "cd"]).flatmap().collect() == ["a", "b", "c", "d"]
    assert ctx.range(4).flatmap(lambda i: [i] * i).collect() == [1, 2, 2, 3, 3, 3]
    assert d.map_partitions(identity).collect() == list(range(10))
    assert sorted(d.map_partitions(lambda p: (len(p),)).collect()) == [3, 3, 4]
    assert d.map_partitions_with_index(lambda i, p: [i]).collect() == [0, 1, 2]
    assert d.map_partitions_with_part(lambda part, p: [part.idx]).collect() == [0, 1, 2]
    assert d.map_partitions(lambda p: None).collect() == []
    assert d.map_partitions(lambda p: None).collect(parts=True) == [[], [], []]
    assert d.map_partitions(lambda p: None).map(str).collect() == []
    assert d.map_partitions(lambda p: None if p[0] else p).union(d.map_partitions(
        lambda p: None)).zip(d.union(d)).count() == 3
    assert ctx.collection([("a", 1), ("b", 2)]).starmap(lambda k, n: k * n).collect() == \
        ["a", "bb"]


def test_extra_args_bound_before_element(ctx):
    d = ctx.range(10, pcount=3)
    assert d.map(lambda x, i: x + i, 1).sum() == 55
    assert d.flatmap(lambda x, i: (1, x), 1).count() == 20
    assert d.key_by(identity).starmap(lambda x, a, b: x + a + b, 1).sum() == 100
    assert d.filter(operator.le, 5).sum() == 35
    assert d.map_partitions(lambda x, p: [x], 5).sum() == 15
    assert d.map_partitions_with_index(lambda x, idx, p: [x + idx], 5).sum() == 18
    assert d.map_partitions_with_part(lambda x, part, p: [x + part.idx], 5).sum() == 18
    assert d.map(lambda x, *, k: x * k, k=2).sum() == 90


def test_filtering_pluck_glom_concat(ctx):
    assert ctx.range(1, 100).filter(lambda i: i % 2).count() == 50
    assert ctx.range(1, 100).map(lambda i: i % 2).filter().count() == 50
    assert ctx.range(1, 100).key_by_id().starfilter(lambda k, v: v >= 50).values().sum() == \
        4950 - 1225
    assert "".join(ctx.range(10, 100).map(str).pluck(1).collect()) == "0123456789" * 9
    words = ctx.collection(["abc", "xyz"])
    assert words.pluck(1).collect() == ["b", "y"]
    assert words.pluck([0, 2]).collect() == [("a", "c"), ("x", "z")]
    assert words.pluck(5, default="-").collect() == ["-", "-"]
    assert ctx.range(10, pcount=4).map_partitions(list).glom().collect() == [
        [0, 1], [2, 3, 4], [5, 6], [7, 8, 9]]
    assert ctx.range(10, pcount=2).glom().collect() == [range(0, 5), range(5, 10)]
    assert ctx.collection(["a", "b", "c"], pcount=2).concat("-").collect() == ["a-b-", "c-"]
    assert ctx.collection([b"a", b"b"], pcount=1).concat(b",").collect() == [b"a,b,"]
    with pytest.raises(ValueError):
        ctx.range(3).concat(1)


def test_mask_partitions(ctx):
    masked = ctx.range(10, pcount=4).mask_partitions(lambda p: p.idx in (0, 3))
    assert masked.collect() == [0, 1, 7, 8, 9]
    assert [p.idx for p in masked.parts()] == [0, 3]


# -- combinations ---------------------------------------------------------------------------------

def test_union(ctx):
    a, b, c = ctx.range(10), ctx.range(10, 20), ctx.range(20, 30)
    assert sorted(a.union(b).collect()) == list(range(20))
    assert a.union(b).pcount == a.pcount + b.pcount
    assert sorted(a.union(a, a, a).collect()) == sorted(list(range(10)) * 4)
    assert a.union(b, c).collect() == list(range(30))
    assert sorted(c.union(a.union(b)).collect()) == list(range(30))
    aa = a.union(a)
    assert sorted(aa.union(aa).collect()) == sorted(list(range(10)) * 4)
    assert ctx.range(3).union(ctx.range(10, 13)).collect() == [0, 1, 2, 10, 11, 12]


def test_zip(ctx):
    assert ctx.range(1000).zip(ctx.range(1000).map(str)).collect() == \
        list(zip(range(1000), map(str, range(1000))))
    assert ctx.range(3, pcount=1).zip(ctx.range(10, 12, pcount=1)).collect() == [(0, 10), (1, 11)]
    with pytest.raises((AssertionError, ValueError)):
        ctx.range(10, pcount=2).zip(ctx.range(10, pcount=3))
    assert ctx.range(4, pcount=2).zip_partitions(
        ctx.range(4, pcount=2), lambda a, b: [sum(a) + sum(b)]).collect() == [2, 10]


def test_product(ctx):
    letters = ctx.collection(string.ascii_letters[:8], pcount=3).map_partitions(iter)
    lower = ctx.collection(string.ascii_lowercase[:6], pcount=4).map_partitions(
        lambda p: sorted(p, reverse=True))
    digits = ctx.collection(string.digits[:5], pcount=5).map(int)
    result = letters.product(lower).product(digits).collect()
    assert sorted(result) == sorted(itertools.product(
        string.ascii_letters[:8], string.ascii_lowercase[:6], range(5)))
    assert letters.product(lower).product(digits).pcount == \
        len(letters.parts()) * len(lower.parts()) * len(digits.parts())
    abc = ctx.collection("abc")
    assert sorted(abc.product(abc).collect()) == sorted(itertools.product("abc", "abc"))
    pairs = ctx.collection(string.ascii_letters, pcount=4).product(
        ctx.range(100, pcount=4), func=lambda a, b: ((max(a), max(b)),))
    assert pairs.collect() == list(itertools.product(["m", "z", "M", "Z"], [24, 49, 74, 99]))


def test_coalesce(ctx):
    dset = ctx.collection(range(100), pcount=10)
    for k in range(1, 11):
        coalesced = dset.coalesce_parts(k)
        assert coalesced.pcount == k
        assert coalesced.collect() == list(range(100))
    for k in (11, 13, 100):
        assert dset.coalesce_parts(k) == dset
    with pytest.raises(AssertionError):
        dset.coalesce_parts(-10)


# -- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["map", "starmap", "filter", "flatmap", "map_partitions",
                                    "map_partitions_with_index", "key_by", "map_values"])
def test_non_callables_are_rejected(ctx, method):
    with pytest.raises(TypeError, match="must be callable"):
        getattr(ctx.range(3), method)(42)


def test_unpicklable_function_names_the_function(ctx):
    lock = threading.Lock()

    def holds_a_lock(x):
        return (lock, x)

    with pytest.raises(TypeError) as info:
        ctx.range(10).map(holds_a_lock).collect()
    assert "holds_a_lock" in str(info.value)
    assert "lock" in str(info.value)
    with pytest.raises(TypeError, match="lambda.*test_narrow.py"):
        ctx.range(10).map(lambda x: (lock, x)).collect()
    assert ctx.range(10).count() == 10


class Boom(Exception):
    pass


def explode(x):
    if x == 7:
        raise Boom(f"bad element {x}")
    return x


def test_user_errors_keep_their_type_and_say_where(ctx):
    dset = ctx.range(10, pcount=3).map(explode)
    with pytest.raises(Boom) as info:
        dset.collect()
    error = info.value
    assert isinstance(error, InvocationException)
    assert isinstance(error.__cause__, Boom) and error.__cause__.args == ("bad element 7",)
    assert dset.id in str(error) and "test_narrow.py" in str(error)
    assert ctx.range(10).map(lambda x: x + 1).sum() == 55


def test_every_plan_node_has_a_public_dataset_class():
    """Operations build plan nodes; ``Dataset._derive`` must find a public class for each
    (else an operation would return a dataset without the user-facing methods)."""
    for module in (narrow_nodes, shuffle_nodes, interop_datasets):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, DatasetCore) and cls.__module__ == module.__name__:
                assert issubclass(PUBLIC_CLASSES[cls], cls)
                assert issubclass(PUBLIC_CLASSES[cls], Dataset)
