"""Statistics (BNDL §2.4, §2.13; §6 test_stats, test_stats_mv, test_histogram)."""

from __future__ import annotations

import math
import pickle
import random

import numpy as np
import pytest

from bndl_dask.datasets.stats import MultiVariateStats, Stats


def expected_moments(values):
    """Population variance, skew and excess kurtosis as scipy.stats computes them."""
    a = np.asarray(values, dtype=float)
    d = a - a.mean()
    m2, m3, m4 = (d**2).mean(), (d**3).mean(), (d**4).mean()
    return m2, m3 / m2**1.5, m4 / m2**2 - 3


def test_reference_values(ctx):
    assert repr(ctx.range(10).stats()) == (
        "<Stats count=10, mean=4.5, min=0.0, max=9.0, var=8.25, stdev=2.8722813232690143, "
        "skew=0.0, kurt=-1.2242424242424241>")
    s = ctx.range(5, 10).stats()
    assert (s.count, s.mean, s.min, s.max, s.variance, s.skew) == (5, 7.0, 5.0, 9.0, 2.0, 0.0)
    assert s.kurtosis == pytest.approx(-1.3)


def test_stats_of_logs_match_numpy(ctx):
    values = [math.log(i) for i in range(1, 1000)]
    s = ctx.range(1, 1000, pcount=7).map(math.log).stats()
    variance, skew, kurtosis = expected_moments(values)
    assert s.count == 999
    assert s.mean == pytest.approx(np.mean(values))
    assert s.mean == pytest.approx(ctx.range(1, 1000).map(math.log).mean())
    assert (s.min, s.max) == (min(values), max(values))
    assert s.variance == pytest.approx(variance)
    assert s.stdev == pytest.approx(np.std(values))
    assert s.sample_variance == pytest.approx(np.var(values, ddof=1))
    assert s.sample_stdev == pytest.approx(np.std(values, ddof=1))
    assert s.skew == pytest.approx(skew)
    assert s.kurtosis == pytest.approx(kurtosis)


def test_local_stats_edge_cases():
    empty = Stats()
    assert (empty.count, empty.mean, empty.min, empty.max) == (0, 0.0, math.inf, -math.inf)
    assert math.isnan(empty.variance) and math.isnan(empty.sample_variance)
    one = Stats([3])
    assert one.variance == 0.0 and math.isnan(one.sample_variance)
    flat = Stats([2, 2, 2])
    assert math.isnan(flat.skew) and math.isnan(flat.kurtosis)
    values = [random.random() for _ in range(200)]
    pushed = Stats()
    for v in values:
        pushed.push(v)
    merged = Stats(values[:50]) + Stats(values[50:]).add(Stats())
    copy = pickle.loads(pickle.dumps(merged))
    for stats in (pushed, merged, copy):
        assert stats.count == 200
        assert stats.mean == pytest.approx(np.mean(values))
        assert stats.variance == pytest.approx(np.var(values))
        assert stats.skew == pytest.approx(expected_moments(values)[1])
        assert stats.kurtosis == pytest.approx(expected_moments(values)[2])


def test_empty_dataset_stats(ctx):
    s = ctx.collection([]).stats()
    assert s.count == 0 and math.isnan(s.variance)
    assert ctx.range(10, pcount=4).filter(lambda i: i > 8).stats().count == 1


def _close(a, b):
    return np.allclose(a, b, equal_nan=True)


@pytest.mark.parametrize("first, second", [
    ("random", "random"), ("random", "zeros"), ("ones", "random"), ("random", "empty"),
    ("empty", "zeros"),
])
def test_local_multivariate_equals_per_column(first, second):
    rng = np.random.RandomState(3)
    blocks = {"random": rng.rand(40, 3), "zeros": np.zeros((10, 3)), "ones": np.ones((5, 3)),
              "empty": np.empty((0, 3))}
    a, b = blocks[first], blocks[second]
    combined = MultiVariateStats(3, a) + MultiVariateStats(3, b)
    per_column = [Stats(a[:, i]) + Stats(b[:, i]) for i in range(3)]
    assert combined.count == len(a) + len(b)
    for name in ("mean", "min", "max", "variance", "sample_variance", "stdev", "sample_stdev",
                 "skew", "kurtosis"):
        assert _close(getattr(combined, name), [getattr(s, name) for s in per_column]), name


def test_mvstats(ctx):
    matrix = np.random.RandomState(5).rand(100, 4)
    local = MultiVariateStats(4, matrix)
    datasets = {
        "ndarray rows": ctx.collection(matrix, pcount=3),
        "tuples": ctx.collection([tuple(r) for r in matrix]),
        "lists": ctx.collection([list(r) for r in matrix]),
        "generators": ctx.collection([list(r) for r in matrix]).map(lambda r: (x for x in r)),
    }
    for kind, dset in datasets.items():
        remote = dset.mvstats(4)
        assert remote.count == 100, kind
        for name in ("mean", "min", "max", "variance", "skew", "kurtosis"):
            assert _close(getattr(remote, name), getattr(local, name)), (kind, name)
    assert ctx.collection(matrix).mvstats().count == 100  # width from the first element
    assert ctx.collection([]).mvstats(2).count == 0
    with pytest.raises(ValueError):
        ctx.collection([]).mvstats()


def test_histogram(ctx):
    values = [random.randrange(100) for _ in range(1000)]
    dset = ctx.collection(values, pcount=4)
    for bins in ([0, 10, 25, 50, 100], [0, 2, 3, 4, 5], 10, 20, 50, 100, 1000):
        hist, edges = dset.histogram(bins)
        expected_hist, expected_edges = np.histogram(values, edges if isinstance(bins, int)
                                                     else bins)
        assert np.allclose(hist, expected_hist) and np.allclose(edges, expected_edges)
        if isinstance(bins, int):
            assert np.allclose(edges, np.linspace(min(values), max(values), bins + 1))
    hist, edges = ctx.range(4).histogram(5)
    assert hist.tolist() == [1, 1, 0, 1, 1] and np.allclose(edges, [0, .6, 1.2, 1.8, 2.4, 3])
    hist, edges = ctx.collection([1, 2, 1]).histogram([0, 1, 2, 3])
    assert hist.tolist() == [0, 2, 1] and edges.tolist() == [0, 1, 2, 3]
    hist, edges = ctx.collection("0112358").map(int).histogram(3)
    assert hist.tolist() == [4, 2, 1] and np.allclose(edges, [0, 8 / 3, 16 / 3, 8])
    hist, edges = ctx.collection([7, 7]).histogram(4)
    assert hist.tolist() == [2] and edges.tolist() == [7, 7]
    with pytest.raises(ValueError):
        ctx.range(3).histogram(0)
