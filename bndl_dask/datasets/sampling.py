"""Random samples of datasets: ``sample()`` (lazy) and ``take_sample()`` (an action).

Every partition draws from its own random stream, seeded from the dataset's seed and the
partition index. So a sampled dataset gives the same sample every time it is computed, while
partitions do not repeat each other's picks (BNDL shipped one generator state to every partition,
so all partitions picked the same offsets).
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bndl_dask.datasets.core import ArgumentError, DatasetCore, K, T, V

if TYPE_CHECKING:
    from bndl_dask.datasets.dataset import Dataset

#: the largest sample take_sample draws (PySpark's bound: sys.maxsize less 10 deviations)
MAX_SAMPLE_SIZE = sys.maxsize - int(10.0 * math.sqrt(sys.maxsize))


def _base_seed(seed: Any) -> int:
    """An int seed from ``None`` (a fresh one), an int or a ``numpy.random.RandomState``."""
    if seed is None:
        return random.SystemRandom().randrange(2**63)
    if isinstance(seed, bool):
        raise TypeError("seed must be an int, None or a numpy.random.RandomState")
    if isinstance(seed, int):
        return seed
    if hasattr(seed, "randint"):  # numpy RandomState / Generator-like
        return int(seed.randint(0, 2**31 - 1))
    raise TypeError(f"seed must be an int, None or a numpy.random.RandomState, not {seed!r}")


def _poisson(rng: random.Random, lam: float) -> int:
    """A Poisson(lam) draw (Knuth; chunks of 16 keep exp(-lam) from underflowing)."""
    count = 0
    while lam > 0:
        chunk = min(lam, 16.0)
        lam -= chunk
        limit = math.exp(-chunk)
        product = rng.random()
        while product > limit:
            count += 1
            product *= rng.random()
    return count


@dataclass(frozen=True, slots=True, eq=False)
class _Sampler:
    """Per-partition sampling function; module level so it pickles by reference."""

    fraction: float
    with_replacement: bool
    seed: int

    def __call__(self, idx: int, data: Iterable) -> Iterator:
        rng = random.Random(f"bndl-sample:{self.seed}:{idx}")
        fraction = self.fraction
        if self.with_replacement:
            for element in data:
                for _ in range(_poisson(rng, fraction)):
                    yield element
        else:
            draw = rng.random
            for element in data:
                if draw() < fraction:
                    yield element


@dataclass(frozen=True, slots=True, eq=False)
class _SplitPick:
    """Keeps the elements whose uniform draw falls in ``[low, high)``. Every split draws the
    same numbers (same seed and partition), so the splits are disjoint and cover the data."""

    low: float
    high: float
    seed: int

    def __call__(self, idx: int, data: Iterable) -> Iterator:
        draw = random.Random(f"bndl-split:{self.seed}:{idx}").random
        low, high = self.low, self.high
        for element in data:
            if low <= draw() < high:
                yield element


@dataclass(frozen=True, slots=True, eq=False)
class _KeySampler:
    """sample_by_key's per-partition step: ``(k, v)`` kept with probability ``fractions[k]``
    (with replacement: repeated Poisson(fractions[k]) times)."""

    fractions: dict
    with_replacement: bool
    seed: int

    def __call__(self, idx: int, data: Iterable) -> Iterator:
        rng = random.Random(f"bndl-sample-by-key:{self.seed}:{idx}")
        fractions = self.fractions
        for pair in data:
            try:
                fraction = fractions[pair[0]]
            except KeyError:
                raise KeyError(f"sample_by_key has no fraction for key {pair[0]!r}: give "
                               "fractions for every key of the dataset") from None
            if self.with_replacement:
                for _ in range(_poisson(rng, fraction)):
                    yield pair
            elif rng.random() < fraction:
                yield pair


def _check_fraction(fraction: Any, with_replacement: bool, what: str) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise TypeError(f"{what} must be a number, got {fraction!r}")
    if fraction < 0 or (not with_replacement and fraction > 1):
        raise ArgumentError(f"{what} must be between 0 and 1 without replacement (>= 0 with "
                            f"replacement), got {fraction}")
    return float(fraction)


def _oversample_fraction(num: int, count: int, with_replacement: bool) -> float:
    """Spark's fraction that gives at least ``num`` elements with high probability."""
    fraction = num / count
    if with_replacement:
        k = 9 if num < 12 else 5
        return fraction + k * math.sqrt(fraction / count)
    gamma = -math.log(5e-5) / count
    return min(1.0, fraction + gamma + math.sqrt(gamma * gamma + 2 * gamma * fraction))


class SamplingMixin(DatasetCore[T]):
    def sample(self, fraction: float, with_replacement: bool = False,
               seed: Any = None) -> Dataset[T]:
        """A random sample: each element kept with probability ``fraction`` (with replacement:
        repeated Poisson(fraction) times). ``seed``: an int, None or a numpy RandomState; the
        same sampled dataset always yields the same sample.

        Lazy transformation, narrow (computed partition by partition, fused into one task).

        >>> ctx.range(1000, pcount=2).sample(0.1, seed=1).count()
        100
        """
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
            raise TypeError(f"fraction must be a number, got {fraction!r}")
        if fraction == 0.0:
            return self.ctx.range(0)
        if fraction == 1.0 and not with_replacement:
            return self
        if with_replacement and fraction < 0:
            raise ArgumentError(f"fraction must be positive, got {fraction}")
        if not with_replacement and not 0 <= fraction <= 1:
            raise ArgumentError(f"fraction must be between 0 and 1 without replacement, got "
                             f"{fraction}; use with_replacement=True to draw elements more "
                             f"than once")
        sampler = _Sampler(float(fraction), bool(with_replacement), _base_seed(seed))
        return self.map_partitions_with_index(sampler)

    def take_sample(self, num: int, with_replacement: bool = False, seed: Any = None,
                    count: int | None = None) -> list[T]:
        """A list of ``num`` random elements (at most the dataset's size without replacement),
        in random order. ``count`` saves counting the dataset when it is known.

        Action: runs a job; the partitions' results are collected to the driver.

        >>> ctx.range(100, pcount=2).take_sample(3, seed=7)
        [37, 45, 50]
        """
        num = int(num)
        if num < 0:
            raise ValueError(f"num must be >= 0, got {num}")
        if num > MAX_SAMPLE_SIZE:
            # as PySpark: no sampling fraction can promise this many elements
            raise ValueError(f"take_sample can't draw {num} elements: the sample size can't be "
                             f"greater than {MAX_SAMPLE_SIZE}")
        rng = random.Random(_base_seed(seed))
        if num == 0:
            return []
        if count is None:
            count = self.count()
        if count == 0:
            return []
        if not with_replacement and num >= count:
            elements = self.collect()
            rng.shuffle(elements)
            return elements
        fraction = _oversample_fraction(num, count, with_replacement)
        sample: list = []
        for attempt in range(1000):
            sample = self._sample_once(fraction, with_replacement, rng)
            if len(sample) >= num:
                break
            if attempt >= 3:  # unlucky (or a wrong count): widen the net so this ends
                fraction = fraction * 2 if with_replacement else min(1.0, fraction * 2)
        rng.shuffle(sample)
        return sample[:num]

    def random_split(self, weights: list[float], seed: Any = None) -> list[Dataset[T]]:
        """Datasets that split this one at random in proportion to ``weights`` (normalised to
        sum to 1): disjoint, together holding every element once, and the same split every
        time for a given ``seed`` (and partitioning).

        Lazy and narrow: every split is computed from this dataset (cache it when it is
        costly), each element kept by exactly one split.

        >>> train, test = ctx.range(100).random_split([0.8, 0.2], seed=1)
        >>> sorted(train.collect() + test.collect()) == list(range(100))
        True
        """
        weights = list(weights)
        if not weights:
            raise ArgumentError("random_split needs at least one weight")
        for weight in weights:
            _check_fraction(weight, True, "every weight")
        total = float(sum(weights))
        if total <= 0:
            raise ArgumentError(f"random_split needs weights with a positive sum, got {weights}")
        base = _base_seed(seed)
        splits, low = [], 0.0
        for i, weight in enumerate(weights):
            high = 1.0 if i == len(weights) - 1 else low + weight / total
            splits.append(self.map_partitions_with_index(_SplitPick(low, high, base)))
            low = high
        return splits

    def sample_by_key(self: SamplingMixin[tuple[K, V]], fractions: dict[K, float],
                      with_replacement: bool = False,
                      seed: Any = None) -> Dataset[tuple[K, V]]:
        """A random sample of ``(k, v)`` pairs, stratified by key: each pair kept with
        probability ``fractions[k]`` (with replacement: repeated Poisson(``fractions[k]``)
        times). Every key of the dataset needs a fraction.

        Lazy and narrow; the same sampled dataset always yields the same sample.

        >>> pairs = ctx.range(1000).map(lambda i: (i % 2, i))
        >>> kept = pairs.sample_by_key({0: 1.0, 1: 0.0}, seed=3)
        >>> kept.count(), kept.keys().distinct().collect()
        (500, [0])
        """
        if not isinstance(fractions, dict):
            raise TypeError(f"fractions must be a dict of key -> fraction, got "
                            f"{type(fractions).__name__}")
        checked = {k: _check_fraction(f, with_replacement, f"the fraction of key {k!r}")
                   for k, f in fractions.items()}
        sampler = _KeySampler(checked, bool(with_replacement), _base_seed(seed))
        return self.map_partitions_with_index(sampler)

    def _sample_once(self, fraction: float, with_replacement: bool, rng: random.Random) -> list:
        if fraction >= 1.0 and not with_replacement:
            return self.collect()
        return self.sample(fraction, with_replacement, rng.randrange(2**63)).collect()
