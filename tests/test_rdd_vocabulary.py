"""Spark's RDD operations that BNDL lacked (issue 14 §1), each against plain serial Python on
real worker processes: empty datasets, duplicates, None values, string keys (hashed portably
across processes) and several partition counts."""

from __future__ import annotations

import functools
import itertools
import math
import operator
import os
import statistics
import time
from collections import Counter, defaultdict

import pytest

from bndl_dask.api import progress as progress_module
from bndl_dask.datasets.sampling import MAX_SAMPLE_SIZE

LEFT = [("apple", 1), ("pear", None), ("apple", 1), ("fig", 3), ("kiwi", 4), ("fig", 5),
        (None, 6), (7, "seven")]
RIGHT = [("apple", "a"), ("fig", None), ("fig", "f"), ("plum", 9), ("plum", 9), (7, 7)]
PCOUNTS = (1, 3, 7)


def _grouped(pairs):
    groups = defaultdict(list)
    for k, v in pairs:
        groups[k].append(v)
    return groups


def _expected_join(left, right, keep_left, keep_right):
    """Serial outer/inner join in join's shape: key -> sorted list of (v_left, v_right)."""
    lg, rg = _grouped(left), _grouped(right)
    keys = set()
    if keep_left:
        keys |= set(lg)
    if keep_right:
        keys |= set(rg)
    if not keep_left and not keep_right:
        keys = set(lg) & set(rg)
    return {k: sorted(itertools.product(lg.get(k, [None]), rg.get(k, [None])), key=repr)
            for k in keys}


def _as_map(joined):
    records = joined.collect()
    keys = [k for k, _ in records]
    assert len(keys) == len(set(keys)), "one record per key"
    return {k: sorted(pairs, key=repr) for k, pairs in records}


# -- edge cases ----------------------------------------------------------------------------------

def test_first_on_an_empty_dataset_raises_value_error(ctx):
    for empty in (ctx.collection([]), ctx.range(10, pcount=3).filter(lambda i: False)):
        with pytest.raises(ValueError, match="empty"):
            empty.first()
    assert ctx.range(10, pcount=3).filter(lambda i: i > 6).first() == 7


def test_fold_returns_zero_on_an_empty_dataset(ctx):
    for empty in (ctx.collection([]), ctx.range(0), ctx.range(9, pcount=3).filter(None)
                  .filter(lambda i: i > 100)):
        assert empty.fold(0, operator.add) == 0
        assert empty.fold((), operator.add) == ()
    for pcount in PCOUNTS:
        words = ctx.collection(["b", "a", "c", "a"], pcount=pcount)
        assert sorted(words.fold("", operator.add)) == ["a", "a", "b", "c"]
        assert ctx.range(1, 11, pcount=pcount).fold(0, operator.add) == 55


def test_take_sample_with_an_impossible_size_raises_value_error(ctx):
    with pytest.raises(ValueError, match="sample size"):
        ctx.range(10).take_sample(MAX_SAMPLE_SIZE + 1)
    with pytest.raises(ValueError, match="sample size"):
        ctx.range(10).take_sample(MAX_SAMPLE_SIZE + 1, with_replacement=True)


# -- outer joins ---------------------------------------------------------------------------------

@pytest.mark.parametrize("pcount", PCOUNTS)
def test_outer_joins_match_serial_python(ctx, pcount):
    left = ctx.collection(LEFT, pcount=pcount)
    right = ctx.collection(RIGHT, pcount=2)
    assert _as_map(left.left_outer_join(right)) == _expected_join(LEFT, RIGHT, True, False)
    assert _as_map(left.right_outer_join(right, pcount=pcount)) == \
        _expected_join(LEFT, RIGHT, False, True)
    assert _as_map(left.full_outer_join(right)) == _expected_join(LEFT, RIGHT, True, True)


def test_outer_joins_have_join_shape_on_common_keys(ctx):
    left, right = ctx.collection(LEFT, pcount=3), ctx.collection(RIGHT, pcount=2)
    inner = _as_map(left.join(right))
    for outer in (left.left_outer_join(right), left.right_outer_join(right),
                  left.full_outer_join(right)):
        common = {k: v for k, v in _as_map(outer).items() if k in inner}
        assert common == inner
    assert left.full_outer_join(right, pcount=5).pcount == 5


def test_outer_joins_with_an_empty_side(ctx):
    left, empty = ctx.collection(LEFT, pcount=3), ctx.collection([])
    assert _as_map(left.left_outer_join(empty)) == _expected_join(LEFT, [], True, False)
    assert left.right_outer_join(empty).collect() == []
    assert _as_map(empty.full_outer_join(left)) == _expected_join([], LEFT, True, True)
    assert empty.left_outer_join(empty).collect() == []
    assert empty.join(empty).collect() == []  # no partitions on either side: still a shuffle


def test_outer_join_with_a_key_function(ctx):
    left = ctx.range(6, pcount=2)
    right = ctx.collection(["0", "2", "9"])
    joined = left.left_outer_join(right, key=str)
    assert _as_map(joined) == {str(i): [(i, str(i) if i in (0, 2) else None)] for i in range(6)}


# -- set operations ------------------------------------------------------------------------------

ELEMENTS = ["a", "b", "b", None, "c", 1, 1, "d", None]
OTHERS = ["b", None, "x", 1, 1, "y"]


@pytest.mark.parametrize("pcount", PCOUNTS)
def test_subtract_keeps_left_duplicates(ctx, pcount):
    left = ctx.collection(ELEMENTS, pcount=pcount)
    right = ctx.collection(OTHERS, pcount=2)
    expected = [e for e in ELEMENTS if e not in OTHERS]
    assert Counter(left.subtract(right).collect()) == Counter(expected)
    assert Counter(left.subtract(ctx.collection([])).collect()) == Counter(ELEMENTS)
    assert ctx.collection([]).subtract(left).collect() == []
    assert left.subtract(left, pcount=4).collect() == []


@pytest.mark.parametrize("pcount", PCOUNTS)
def test_subtract_by_key(ctx, pcount):
    left = ctx.collection(LEFT, pcount=pcount)
    right = ctx.collection(RIGHT, pcount=2)
    right_keys = {k for k, _ in RIGHT}
    expected = [pair for pair in LEFT if pair[0] not in right_keys]
    assert Counter(left.subtract_by_key(right).collect()) == Counter(expected)
    assert Counter(left.subtract_by_key(ctx.collection([])).collect()) == Counter(LEFT)


@pytest.mark.parametrize("pcount", PCOUNTS)
def test_intersection_deduplicates(ctx, pcount):
    left = ctx.collection(ELEMENTS, pcount=pcount)
    right = ctx.collection(OTHERS, pcount=2)
    result = left.intersection(right).collect()
    assert Counter(result) == Counter(set(ELEMENTS) & set(OTHERS))
    assert left.intersection(ctx.collection([])).collect() == []
    words = ctx.collection([f"w{i % 50}" for i in range(500)], pcount=pcount)
    assert sorted(words.intersection(words).collect()) == sorted({f"w{i}" for i in range(50)})


def test_set_operation_results_are_not_looked_up_by_key(ctx):
    # intersection places (k, v) elements by the whole element: lookup must scan, not pick
    pairs = ctx.collection([(f"k{i}", i) for i in range(40)], pcount=4)
    assert pairs.intersection(pairs).lookup("k7") == [7]
    assert pairs.subtract(ctx.collection([("k1", 1)])).lookup("k9") == [9]


def test_plus_is_union(ctx):
    a, b = ctx.range(3, pcount=2), ctx.collection(["x", None])
    assert (a + b).collect() == a.union(b).collect() == [0, 1, 2, "x", None]
    for not_a_dataset in ([1, 2], {1, 2}, 3):
        with pytest.raises(TypeError):
            a + not_a_dataset


# -- side effects --------------------------------------------------------------------------------

@pytest.mark.parametrize("pcount", PCOUNTS)
def test_foreach_and_foreach_partition(ctx, pcount):
    total = ctx.accumulator(0)
    assert ctx.range(100, pcount=pcount).foreach(lambda i: total.update("+", i)) is None
    assert total.value == sum(range(100))
    partitions = ctx.accumulator(0)
    elements = ctx.accumulator(0)

    def count_partition(iterator):
        partitions.update("+", 1)
        elements.update("+", sum(1 for _ in iterator))

    ctx.range(100, pcount=pcount).foreach_partition(count_partition)
    assert (partitions.value, elements.value) == (pcount, 100)
    ctx.collection([]).foreach(lambda e: 1 / 0)  # nothing to call it on


def test_foreach_errors_surface(ctx):
    with pytest.raises(ZeroDivisionError):
        ctx.range(10, pcount=3).foreach(lambda i: 1 / (i - 5))
    with pytest.raises(KeyError):
        ctx.range(10, pcount=3).foreach_partition(lambda it: {}["missing"])


# -- key-wise actions and fold_by_key ------------------------------------------------------------

@pytest.mark.parametrize("pcount", PCOUNTS)
def test_count_by_key_and_reduce_by_key_locally(ctx, pcount):
    pairs = ctx.collection(LEFT + RIGHT, pcount=pcount)
    assert pairs.count_by_key() == Counter(k for k, _ in LEFT + RIGHT)
    numbers = [(f"k{i % 7}", i) for i in range(100)]
    expected = {k: functools.reduce(operator.mul, vs) for k, vs in _grouped(numbers).items()}
    assert ctx.collection(numbers, pcount=pcount).reduce_by_key_locally(operator.mul) == expected
    assert ctx.collection([]).count_by_key() == {}
    assert ctx.collection([]).reduce_by_key_locally(operator.add) == {}


@pytest.mark.parametrize("pcount", PCOUNTS)
def test_fold_by_key(ctx, pcount):
    numbers = [(f"k{i % 7}", i) for i in range(100)] + [(None, 5)]
    folded = ctx.collection(numbers, pcount=pcount).fold_by_key(0, operator.add)
    assert dict(folded.collect()) == {k: sum(vs) for k, vs in _grouped(numbers).items()}
    lists = ctx.collection(LEFT, pcount=pcount).fold_by_key([], lambda acc, v: acc + [v]
                                                           if not isinstance(v, list)
                                                           else acc + v)
    assert {k: sorted(vs, key=repr) for k, vs in lists.collect()} == \
        {k: sorted(vs, key=repr) for k, vs in _grouped(LEFT).items()}
    assert ctx.collection([]).fold_by_key(0, operator.add).collect() == []


@pytest.mark.parametrize("pcount", PCOUNTS)
def test_is_empty(ctx, pcount):
    assert ctx.collection([]).is_empty()
    assert ctx.range(50, pcount=pcount).filter(lambda i: i > 100).is_empty()
    assert not ctx.range(50, pcount=pcount).is_empty()
    assert not ctx.range(50, pcount=pcount).filter(lambda i: i == 49).is_empty()


def test_is_empty_stops_at_the_first_non_empty_partition(ctx):
    def only_first(idx, data):
        if idx > 0:
            raise RuntimeError(f"partition {idx} was computed")
        return data

    assert not ctx.range(40, pcount=8).map_partitions_with_index(only_first).is_empty()


# -- names ---------------------------------------------------------------------------------------

def test_set_name_shows_in_repr_and_errors(ctx):
    dset = ctx.range(5).map(lambda i: 1 / (i - 3))
    assert dset.name is None and dset.set_name("inverse") is dset
    assert dset.name == "inverse" and "'inverse'" in repr(dset)
    with pytest.raises(ZeroDivisionError, match="'inverse'"):
        dset.collect()
    with pytest.raises(TypeError, match="name"):
        dset.set_name(3)
    assert repr(dset.set_name(None)) == f"<{type(dset).__name__} {dset.id}>"


# -- statistics ----------------------------------------------------------------------------------

@pytest.mark.parametrize("pcount", PCOUNTS)
def test_variance_and_stdev(ctx, pcount):
    values = [math.log(i) for i in range(1, 200)] + [3.0, 3.0]
    dset = ctx.collection(values, pcount=pcount)
    assert dset.variance() == pytest.approx(statistics.pvariance(values))
    assert dset.stdev() == pytest.approx(statistics.pstdev(values))
    assert dset.sample_variance() == pytest.approx(statistics.variance(values))
    assert dset.sample_stdev() == pytest.approx(statistics.stdev(values))


def test_variance_of_tiny_datasets(ctx):
    empty = ctx.collection([])
    assert all(math.isnan(f()) for f in (empty.variance, empty.stdev, empty.sample_variance,
                                         empty.sample_stdev))
    one = ctx.collection([4])
    assert one.variance() == 0.0 and one.stdev() == 0.0
    assert math.isnan(one.sample_variance()) and math.isnan(one.sample_stdev())


# -- lookup --------------------------------------------------------------------------------------

def _parts_run(dset):
    """Record the partitions each job of ``dset`` asks for."""
    asked = []
    run = dset._run

    def recording(parts=None, **kwargs):
        asked.append(parts)
        return run(parts=parts, **kwargs)

    dset._run = recording
    return asked


@pytest.mark.parametrize("pcount", PCOUNTS)
def test_lookup_computes_only_the_key_partition_after_a_shuffle(ctx, pcount):
    numbers = [(f"k{i % 13}", i) for i in range(200)] + [(None, -1), (5, "five")]
    expected = {k: sum(vs) for k, vs in _grouped(numbers[:200]).items()}
    summed = ctx.collection(numbers[:200], pcount=3).reduce_by_key(operator.add, pcount=pcount)
    asked = _parts_run(summed)
    for key, total in expected.items():
        assert summed.lookup(key) == [total]
    assert summed.lookup("missing") == []
    assert all(parts is not None and len(parts) == 1 for parts in asked)

    grouped = ctx.collection(numbers, pcount=3).group_by_key(pcount=pcount)
    assert grouped.lookup(None) == [[-1]] and grouped.lookup(5) == [["five"]]

    by_parity = ctx.range(20, pcount=2).key_by(lambda i: i % 2).group_by_key(
        partitioner=lambda k: k + 1, pcount=pcount)
    assert [sorted(v) for v in by_parity.lookup(1)] == [list(range(1, 20, 2))]


def test_lookup_without_a_known_partitioner_scans(ctx):
    pairs = ctx.collection(LEFT, pcount=3)
    asked = _parts_run(pairs)
    assert pairs.lookup("apple") == [1, 1]
    assert pairs.lookup("pear") == [None]
    assert pairs.lookup(None) == [6]
    assert pairs.lookup("none") == []
    assert asked == [None] * 4
    # a narrow step after the shuffle may change the keys: scan
    mapped = ctx.collection(LEFT).reduce_by_key(lambda a, b: a).map(lambda kv: (str(kv[0]), 0))
    assert mapped.lookup("None") == [0]
    assert ctx.collection([]).lookup("x") == []


# -- sampling ------------------------------------------------------------------------------------

@pytest.mark.parametrize("pcount", PCOUNTS)
def test_random_split_is_disjoint_covering_and_seeded(ctx, pcount):
    data = [f"e{i % 300}" for i in range(1000)]  # duplicates: each copy goes to one split
    dset = ctx.collection(data, pcount=pcount)
    splits = dset.random_split([2, 1, 1], seed=11)
    parts = [s.collect() for s in splits]
    assert Counter(itertools.chain.from_iterable(parts)) == Counter(data)
    assert [s.collect() for s in dset.random_split([2, 1, 1], seed=11)] == parts
    assert [s.collect() for s in splits] == parts  # recomputing gives the same split
    assert 400 < len(parts[0]) < 600 and all(150 < len(p) < 350 for p in parts[1:])
    assert [s.collect() for s in dset.random_split([1, 1], seed=12)] != \
        [s.collect() for s in dset.random_split([1, 1], seed=13)]
    assert [s.collect() for s in ctx.collection([]).random_split([1, 1])] == [[], []]


def test_random_split_rejects_bad_weights(ctx):
    dset = ctx.range(10)
    for weights in ([], [0, 0], [1, -1]):
        with pytest.raises(ValueError):
            dset.random_split(weights)


@pytest.mark.parametrize("pcount", PCOUNTS)
def test_sample_by_key(ctx, pcount):
    pairs = [(k, i) for i in range(600) for k in ("keep", "drop", None)]
    dset = ctx.collection(pairs, pcount=pcount)
    sampled = dset.sample_by_key({"keep": 1.0, "drop": 0.0, None: 0.5}, seed=4)
    result = sampled.collect()
    assert result == sampled.collect()  # the same sample every time
    counts = Counter(k for k, _ in result)
    assert counts["keep"] == 600 and counts["drop"] == 0 and 200 < counts[None] < 400
    assert Counter(result) - Counter(pairs) == Counter()  # a sub-multiset
    doubled = dset.sample_by_key({"keep": 2.0, "drop": 0.0, None: 0.0}, True, seed=4)
    assert 900 < doubled.count() < 1500 and set(doubled.keys().collect()) == {"keep"}
    assert ctx.collection([]).sample_by_key({}).collect() == []


def test_sample_by_key_bad_fractions(ctx):
    dset = ctx.collection([("a", 1), ("b", 2)])
    with pytest.raises(KeyError, match="'b'"):
        dset.sample_by_key({"a": 0.5}, seed=1).collect()
    with pytest.raises(ValueError):
        dset.sample_by_key({"a": 1.5, "b": 0.1})
    with pytest.raises(TypeError):
        dset.sample_by_key([("a", 0.5)])


def test_set_name_shows_in_the_progress_bar(ctx, monkeypatch, capsys):
    monkeypatch.setattr(progress_module, "TEXT_DELAY", 0.0)
    monkeypatch.setitem(ctx.conf, "bndl.progress", "text")
    assert ctx.range(10, pcount=2).set_name("ten numbers").count() == 10
    final = capsys.readouterr().err.strip().split("\n")[-1]
    assert final.startswith("[job ") and "count 'ten numbers']" in final


# -- approximate actions -------------------------------------------------------------------------

@pytest.mark.parametrize("pcount", PCOUNTS)
def test_approximate_actions_are_exact_when_time_allows(ctx, pcount):
    values = [float(i % 17) for i in range(500)]
    dset = ctx.collection(values, pcount=pcount)
    for result, exact in ((dset.count_approx(120), 500.0), (dset.sum_approx(120), sum(values)),
                          (dset.mean_approx(120, 0.9), statistics.fmean(values))):
        value, low, high = result
        assert result.complete and value == pytest.approx(exact) and low == value == high
    empty = ctx.collection([])
    assert tuple(empty.count_approx(120)) == (0.0, 0.0, 0.0)
    assert empty.count_approx(120).complete and math.isnan(empty.mean_approx(120).value)


def _wait_for(path):
    def blocked(idx, data):
        if idx == 3:  # the last partition finishes only once the test lets it
            deadline = time.monotonic() + 60
            while not os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(0.02)
        return data
    return blocked


def test_approximate_actions_bound_what_is_done_by_the_deadline(ctx, tmp_path):
    for action in ("count_approx", "sum_approx", "mean_approx"):
        release = str(tmp_path / f"release-{action}")
        dset = ctx.range(1, 401, pcount=4).map_partitions_with_index(_wait_for(release))
        try:
            result = getattr(dset, action)(timeout=1.0, confidence=0.9)
        finally:
            open(release, "w").close()
        value, low, high = result
        assert not result.complete and result.confidence == 0.9
        assert low <= high and (math.isnan(value) or low <= value <= high)
        if action == "count_approx":
            assert 0 <= low <= 400 and high > 300
    assert ctx.range(10).count() == 10  # the context goes on


def test_approximate_actions_raise_errors_and_check_arguments(ctx):
    with pytest.raises(ZeroDivisionError):
        ctx.range(10, pcount=2).map(lambda i: 1 / (i - 7)).count_approx(120)
    for bad in (dict(timeout=-1), dict(timeout=1, confidence=1.0), dict(timeout="1")):
        with pytest.raises(ValueError):
            ctx.range(3).sum_approx(**bad)
