"""PySpark's result types: ``StatCounter``, ``BoundedFloat``, and ``histogram``'s buckets."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from typing import Any


class StatCounter:
    """``RDD.stats()``: count, mean, sum, min, max and (sample) variance/stdev, as methods.

    Built from the one-pass summary that ``Dataset.stats()`` computes on the workers.

    >>> from bndl_dask.datasets.stats import Stats
    >>> stats = StatCounter(Stats([1, 2, 3, 4]))
    >>> stats.count(), stats.mean(), stats.sum(), stats.min(), stats.max()
    (4, 2.5, 10.0, 1.0, 4.0)
    >>> stats
    (count: 4, mean: 2.5, stdev: 1.118033988749895, max: 4.0, min: 1.0)
    """

    def __init__(self, summary: Any):
        self._summary = summary

    def count(self) -> int:
        return self._summary.count

    def mean(self) -> float:
        return self._summary.mean

    def sum(self) -> float:
        return self._summary.mean * self._summary.count

    def min(self) -> float:
        return self._summary.min

    def max(self) -> float:
        return self._summary.max

    def variance(self) -> float:
        return self._summary.variance

    def sampleVariance(self) -> float:
        return self._summary.sample_variance

    def stdev(self) -> float:
        return self._summary.stdev

    def sampleStdev(self) -> float:
        return self._summary.sample_stdev

    def asDict(self, sample: bool = False) -> dict[str, Any]:
        """The statistics as a dict (``sample=True``: sample variance and stdev)."""
        return {"count": self.count(), "mean": self.mean(), "sum": self.sum(),
                "min": self.min(), "max": self.max(),
                "stdev": self.sampleStdev() if sample else self.stdev(),
                "variance": self.sampleVariance() if sample else self.variance()}

    def __repr__(self) -> str:
        return (f"(count: {self.count()}, mean: {self.mean()}, stdev: {self.stdev()}, "
                f"max: {self.max()}, min: {self.min()})")


class BoundedFloat(float):
    """An approximate result (``sumApprox``, ``meanApprox``): a float with ``confidence``,
    ``low`` and ``high``.

    >>> value = BoundedFloat(10.0, 0.95, 8.0, 12.0)
    >>> value, value.low, value.high, value.confidence
    (10.0, 8.0, 12.0, 0.95)
    """

    confidence: float
    low: float
    high: float

    def __new__(cls, mean: float, confidence: float, low: float, high: float) -> BoundedFloat:
        bounded = super().__new__(cls, mean)
        bounded.confidence = confidence
        bounded.low = low
        bounded.high = high
        return bounded


def comparable(value: Any) -> bool:
    """Whether ``histogram`` counts ``value`` at all (None and NaN are left out, as Spark does)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def even_buckets(low: Any, high: Any, count: int) -> list:
    """``count`` equal buckets from ``low`` to ``high``: ints while the width is a whole
    number, the last edge exactly ``high``.

    >>> even_buckets(0, 10, 5), even_buckets(0, 10, 4)
    ([0, 2, 4, 6, 8, 10], [0.0, 2.5, 5.0, 7.5, 10])
    """
    width = (high - low) / count
    if math.isinf(width):
        raise ValueError("histogram can't make buckets over an infinite range")
    if int(width) * count == high - low:
        width = int(width)
    return [low + i * width for i in range(count)] + [high]


def check_buckets(buckets: Sequence) -> list:
    """``buckets`` as a list of edges, checked as PySpark checks them."""
    buckets = list(buckets)
    if len(buckets) < 2:
        raise ValueError("histogram buckets need at least two edges")
    if not all(comparable(edge) for edge in buckets):
        raise ValueError("histogram buckets can't contain None or NaN")
    if sorted(buckets) != buckets:
        raise ValueError("histogram buckets must be sorted")
    if len(set(buckets)) != len(buckets):
        raise ValueError("histogram buckets must not repeat an edge")
    return buckets


class BucketCounter:
    """Counts one partition's elements per bucket; the last bucket includes its upper edge.

    Evenly spaced edges place an element by arithmetic, others by bisection.

    >>> BucketCounter([0, 5, 10])([0, 4, 5, 10, 11, None])
    [[2, 2]]
    """

    def __init__(self, buckets: list):
        self.buckets = buckets
        self.width = None
        try:
            steps = [b - a for a, b in zip(buckets, buckets[1:])]
        except TypeError:  # edges without '-' (strings, say) are placed by bisection
            steps = []
        if steps and max(steps) - min(steps) < 1e-10:
            self.width = (buckets[-1] - buckets[0]) / (len(buckets) - 1)

    def __call__(self, values: Iterable) -> list[list[int]]:
        buckets, width = self.buckets, self.width
        low, high, last = buckets[0], buckets[-1], len(buckets) - 2
        counts = [0] * (len(buckets) - 1)
        for value in values:
            if not comparable(value) or value < low or value > high:
                continue
            if width is not None:
                index = min(int((value - low) / width), last)
            else:
                index = min(bisect.bisect_right(buckets, value) - 1, last)
            counts[index] += 1
        return [counts]


def add_counts(a: list[int], b: list[int]) -> list[int]:
    return [x + y for x, y in zip(a, b)]


def lower_and_upper(a: tuple, b: tuple) -> tuple:
    return min(a[0], b[0]), max(a[1], b[1])
