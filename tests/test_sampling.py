"""Sampling (BNDL §2.10; §6 test_sample)."""

from __future__ import annotations

import numpy as np
import pytest

N = 200_000


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_sample_is_repeatable_and_fair(ctx, fraction):
    sampled = ctx.range(N, pcount=2 * ctx.worker_count).sample(fraction, seed=1)
    first = sampled.collect()
    assert sampled.collect() == first
    assert len(first) / N == pytest.approx(fraction, abs=0.01)
    assert np.mean(first) / N == pytest.approx(0.5, abs=0.01)


def test_partitions_draw_different_streams(ctx):
    # BNDL shipped one generator state to every partition, so equal-sized partitions picked the
    # same offsets; here every partition has its own stream
    sampled = ctx.range(4000, pcount=4).sample(0.01, seed=3).map_partitions_with_index(
        lambda idx, part: [tuple(x - idx * 1000 for x in part)]).collect()
    assert len(set(sampled)) > 1


def test_unsized_partitions_sample_the_right_fraction(ctx):
    lazy = ctx.range(N, pcount=4).map(lambda x: x)  # partitions are iterators
    for fraction in (0.05, 0.3):
        assert lazy.sample(fraction, seed=2).count() / N == pytest.approx(fraction, abs=0.01)


def test_sample_with_replacement(ctx):
    counts = ctx.range(N, pcount=4).sample(0.5, with_replacement=True, seed=4).count_by_value()
    assert sum(counts.values()) / N == pytest.approx(0.5, abs=0.01)
    assert max(counts.values()) > 1  # some elements drawn more than once


def test_sample_edge_cases(ctx):
    d = ctx.range(100)
    assert d.sample(0.0).collect() == []
    assert d.sample(1.0) is d
    with pytest.raises(AssertionError):
        d.sample(1.5)
    seeded = d.sample(0.3, seed=np.random.RandomState(7))
    assert seeded.collect() == seeded.collect()
    unseeded = d.sample(0.3)
    assert unseeded.collect() == unseeded.collect()  # the seed is fixed at definition
    assert ctx.collection([]).sample(0.5, seed=1).collect() == []


def test_take_sample(ctx):
    d = ctx.range(1000, pcount=4)
    picked = d.take_sample(10, seed=5)
    assert len(picked) == 10 and len(set(picked)) == 10 and set(picked) <= set(range(1000))
    assert d.take_sample(10, seed=5) == picked
    assert len(d.take_sample(20, with_replacement=True, seed=6)) == 20
    everything = ctx.range(10).take_sample(50, seed=1)
    assert sorted(everything) == list(range(10))
    assert len(ctx.range(10).take_sample(50, with_replacement=True, seed=1)) == 50
    assert ctx.range(10).take_sample(0) == []
    assert ctx.collection([]).take_sample(5) == []
    assert len(d.take_sample(3, count=1000)) == 3
    with pytest.raises(ValueError):
        d.take_sample(-1)
