"""Random samples of datasets: ``sample()`` (lazy) and ``take_sample()`` (an action).

Every partition draws from its own random stream, seeded from the dataset's seed and the
partition index. So a sampled dataset gives the same sample every time it is computed, while
partitions do not repeat each other's picks (BNDL shipped one generator state to every partition,
so all partitions picked the same offsets).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from bndl_dask.datasets.core import ArgumentError


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


def _oversample_fraction(num: int, count: int, with_replacement: bool) -> float:
    """Spark's fraction that gives at least ``num`` elements with high probability."""
    fraction = num / count
    if with_replacement:
        k = 9 if num < 12 else 5
        return fraction + k * math.sqrt(fraction / count)
    gamma = -math.log(5e-5) / count
    return min(1.0, fraction + gamma + math.sqrt(gamma * gamma + 2 * gamma * fraction))


class SamplingMixin:
    def sample(self, fraction: float, with_replacement: bool = False, seed: Any = None):
        """A random sample: each element kept with probability ``fraction`` (with replacement:
        repeated Poisson(fraction) times). ``seed``: an int, None or a numpy RandomState; the
        same sampled dataset always yields the same sample.

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
                    count: int | None = None) -> list:
        """A list of ``num`` random elements (at most the dataset's size without replacement),
        in random order. ``count`` saves counting the dataset when it is known.

        >>> ctx.range(100, pcount=2).take_sample(3, seed=7)
        [37, 45, 50]
        """
        num = int(num)
        if num < 0:
            raise ValueError(f"num must be >= 0, got {num}")
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

    def _sample_once(self, fraction: float, with_replacement: bool, rng: random.Random) -> list:
        if fraction >= 1.0 and not with_replacement:
            return self.collect()
        return self.sample(fraction, with_replacement, rng.randrange(2**63)).collect()
