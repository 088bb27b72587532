"""Summary statistics of datasets: ``stats()``, ``mvstats()`` and ``histogram()``.

``Stats`` keeps the count, mean, extremes and the second to fourth central moments of a
stream of numbers. Two summaries merge exactly (Pébay's parallel formulas), so every
partition is summarised on its worker and only the small summaries travel to the driver.
``MultiVariateStats`` does the same per column with numpy (an optional dependency: only
``mvstats`` and ``histogram`` need it).

>>> s = Stats([1, 2, 3, 4])
>>> s.count, s.mean, s.variance
(4, 2.5, 1.25)
>>> (Stats([1, 2]) + Stats([3, 4])).mean
2.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bndl_dask.datasets.core import DatasetCore, T

try:  # numpy is optional: only mvstats() and histogram() need it
    import numpy as np
except ImportError:  # pragma: no cover - numpy is installed where the tests run
    np = None


def _require_numpy(what: str):
    if np is None:
        raise ImportError(f"{what} needs numpy; install it with 'pip install numpy'")
    return np



def _merge_moments(a, b) -> None:
    """Merge ``b``'s count and central moments into ``a`` exactly (the parallel formulas);
    works alike for floats (Stats) and numpy columns (MultiVariateStats)."""
    na, nb = a._n, b._n
    n = na + nb
    delta = b._mean - a._mean
    d2 = delta * delta
    m2a, m2b, m3a, m3b = a._m2, b._m2, a._m3, b._m3
    a._mean = a._mean + delta * nb / n
    a._m2 = m2a + m2b + d2 * na * nb / n
    a._m3 = (m3a + m3b + d2 * delta * na * nb * (na - nb) / (n * n)
             + 3 * delta * (na * m2b - nb * m2a) / n)
    a._m4 = (a._m4 + b._m4
             + d2 * d2 * na * nb * (na * na - na * nb + nb * nb) / (n ** 3)
             + 6 * d2 * (na * na * m2b + nb * nb * m2a) / (n * n)
             + 4 * delta * (na * m3b - nb * m3a) / n)
    a._n = n

class Stats:
    """Count, mean, min, max, variance, skew and kurtosis of numbers (converted to float).

    >>> Stats(range(10))
    <Stats count=10, mean=4.5, min=0.0, max=9.0, var=8.25, stdev=2.8722813232690143, skew=0.0, kurt=-1.2242424242424241>
    >>> empty = Stats()
    >>> empty.count, empty.min, math.isnan(empty.variance)
    (0, inf, True)
    """  # noqa: E501

    __slots__ = ("_n", "_mean", "_m2", "_m3", "_m4", "_min", "_max")

    def __init__(self, values: Iterable = ()):
        self._n = 0
        self._mean = self._m2 = self._m3 = self._m4 = 0.0
        self._min, self._max = math.inf, -math.inf
        values = [float(v) for v in values]
        if values:
            self._summarise(values)

    def _summarise(self, values: list[float]) -> None:
        # two passes over the block: exact for symmetric data and cheaper than pushing one by one
        n = len(values)
        mean = math.fsum(values) / n
        m2 = m3 = m4 = 0.0
        for value in values:
            d = value - mean
            d2 = d * d
            m2 += d2
            m3 += d2 * d
            m4 += d2 * d2
        block = Stats()
        block._n, block._mean, block._m2, block._m3, block._m4 = n, mean, m2, m3, m4
        block._min, block._max = min(values), max(values)
        self._merge(block)

    def push(self, value: Any) -> Stats:
        """Add one number; returns ``self``."""
        value = float(value)
        n1 = self._n + 1
        delta = value - self._mean
        delta_n = delta / n1
        delta_n2 = delta_n * delta_n
        term1 = delta * delta_n * self._n
        self._mean += delta_n
        self._m4 += (term1 * delta_n2 * (n1 * n1 - 3 * n1 + 3) + 6 * delta_n2 * self._m2
                     - 4 * delta_n * self._m3)
        self._m3 += term1 * delta_n * (n1 - 2) - 3 * delta_n * self._m2
        self._m2 += term1
        self._n = n1
        self._min = min(self._min, value)
        self._max = max(self._max, value)
        return self

    def _merge(self, other: Stats) -> None:
        na, nb = self._n, other._n
        if nb == 0:
            return
        if na == 0:
            for name in Stats.__slots__:
                setattr(self, name, getattr(other, name))
            return
        _merge_moments(self, other)
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)

    def add(self, other: Stats) -> Stats:
        """A new summary of both ``self``'s and ``other``'s numbers."""
        merged = Stats()
        merged._merge(self)
        merged._merge(other)
        return merged

    __add__ = add

    def __iadd__(self, other: Stats) -> Stats:
        self._merge(other)
        return self

    def __getstate__(self):
        return tuple(getattr(self, name) for name in Stats.__slots__)

    def __setstate__(self, state):
        for name, value in zip(Stats.__slots__, state):
            setattr(self, name, value)

    @property
    def count(self) -> int:
        return self._n

    @property
    def mean(self) -> float:
        return self._mean

    @property
    def min(self) -> float:
        return self._min

    @property
    def max(self) -> float:
        return self._max

    @property
    def variance(self) -> float:
        """Population variance (divided by n)."""
        return self._m2 / self._n if self._n else math.nan

    @property
    def sample_variance(self) -> float:
        """Sample variance (divided by n - 1)."""
        return self._m2 / (self._n - 1) if self._n > 1 else math.nan

    @property
    def stdev(self) -> float:
        return math.sqrt(self.variance)

    @property
    def sample_stdev(self) -> float:
        return math.sqrt(self.sample_variance)

    @property
    def skew(self) -> float:
        """Population skewness (scipy.stats.skew's default)."""
        if self._n == 0 or self._m2 == 0:
            return math.nan
        return math.sqrt(self._n) * self._m3 / self._m2 ** 1.5

    @property
    def kurtosis(self) -> float:
        """Excess kurtosis (scipy.stats.kurtosis's default)."""
        if self._n == 0 or self._m2 == 0:
            return math.nan
        return self._n * self._m4 / (self._m2 * self._m2) - 3

    def __repr__(self) -> str:
        return (f"<Stats count={self.count}, mean={self.mean}, min={self.min}, max={self.max}, "
                f"var={self.variance}, stdev={self.stdev}, skew={self.skew}, "
                f"kurt={self.kurtosis}>")


class MultiVariateStats:
    """Per-column statistics of equal-length numeric vectors (numpy arrays per property).

    >>> s = MultiVariateStats(2, [(1, 10), (3, 30)])
    >>> s.count, s.mean.tolist(), s.max.tolist()
    (2, [2.0, 20.0], [3.0, 30.0])
    """

    def __init__(self, width: int, vectors: Iterable | None = None):
        numpy = _require_numpy("MultiVariateStats")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive int, got {width!r}")
        self.width = width
        self._n = 0
        zeros = numpy.zeros(width)
        self._mean, self._m2, self._m3, self._m4 = zeros, zeros.copy(), zeros.copy(), zeros.copy()
        self._min = numpy.full(width, numpy.inf)
        self._max = numpy.full(width, -numpy.inf)
        if vectors is not None:
            block = _as_matrix(vectors, width)
            if len(block):
                self._merge_block(block)

    def _merge_block(self, block) -> None:
        other = MultiVariateStats(self.width)
        other._n = len(block)
        other._mean = block.mean(axis=0)
        d = block - other._mean
        d2 = d * d
        other._m2 = d2.sum(axis=0)
        other._m3 = (d2 * d).sum(axis=0)
        other._m4 = (d2 * d2).sum(axis=0)
        other._min = block.min(axis=0)
        other._max = block.max(axis=0)
        self._merge(other)

    def push(self, vector: Iterable) -> MultiVariateStats:
        """Add one vector; returns ``self``."""
        self._merge_block(_as_matrix([vector], self.width))
        return self

    def _merge(self, other: MultiVariateStats) -> None:
        if other.width != self.width:
            raise ValueError(f"can't combine stats of width {self.width} and {other.width}")
        na, nb = self._n, other._n
        if nb == 0:
            return
        if na == 0:
            self.__dict__.update({k: (v.copy() if hasattr(v, "copy") else v)
                                  for k, v in other.__dict__.items()})
            return
        _merge_moments(self, other)
        self._min = np.minimum(self._min, other._min)
        self._max = np.maximum(self._max, other._max)

    def add(self, other: MultiVariateStats) -> MultiVariateStats:
        merged = MultiVariateStats(self.width)
        merged._merge(self)
        merged._merge(other)
        return merged

    __add__ = add

    def __iadd__(self, other: MultiVariateStats) -> MultiVariateStats:
        self._merge(other)
        return self

    def _nan(self):
        return np.full(self.width, np.nan)

    @property
    def count(self) -> int:
        return self._n

    @property
    def mean(self) -> np.ndarray:
        return self._mean

    @property
    def min(self) -> np.ndarray:
        return self._min

    @property
    def max(self) -> np.ndarray:
        return self._max

    @property
    def variance(self) -> np.ndarray:
        return self._m2 / self._n if self._n else self._nan()

    @property
    def sample_variance(self) -> np.ndarray:
        return self._m2 / (self._n - 1) if self._n > 1 else self._nan()

    @property
    def stdev(self) -> np.ndarray:
        return np.sqrt(self.variance)

    @property
    def sample_stdev(self) -> np.ndarray:
        return np.sqrt(self.sample_variance)

    @property
    def skew(self) -> np.ndarray:
        if self._n == 0:
            return self._nan()
        with np.errstate(divide="ignore", invalid="ignore"):
            result = np.sqrt(self._n) * self._m3 / self._m2 ** 1.5
        return np.where(self._m2 == 0, np.nan, result)

    @property
    def kurtosis(self) -> np.ndarray:
        if self._n == 0:
            return self._nan()
        with np.errstate(divide="ignore", invalid="ignore"):
            result = self._n * self._m4 / (self._m2 * self._m2) - 3
        return np.where(self._m2 == 0, np.nan, result)

    def __repr__(self) -> str:
        return (f"<MultiVariateStats width={self.width}, count={self.count}, mean={self.mean}, "
                f"min={self.min}, max={self.max}, var={self.variance}, stdev={self.stdev}, "
                f"skew={self.skew}, kurt={self.kurtosis}>")


def _as_matrix(vectors: Iterable, width: int):
    """Rows (arrays, tuples, lists or generators) as a float matrix of ``width`` columns."""
    if isinstance(vectors, np.ndarray) and vectors.ndim == 2:
        block = vectors.astype(float, copy=False)
    else:
        rows = [r if isinstance(r, np.ndarray) else list(r) for r in vectors]
        block = np.array(rows, dtype=float) if rows else np.empty((0, width))
    if block.ndim != 2 or block.shape[1] != width:
        raise ValueError(f"expected vectors of length {width}, got shape {block.shape}")
    return block


# -- what runs on the workers (module level, so they pickle by reference) -----------------------

def _stats_local(values: Iterable) -> Stats:
    return Stats(values)


def _stats_comb(partials: Iterable[Stats]) -> Stats:
    total = Stats()
    for partial in partials:
        total._merge(partial)
    return total


@dataclass(frozen=True, slots=True, eq=False)
class _MvLocal:
    width: int

    def __call__(self, vectors: Iterable) -> MultiVariateStats:
        return MultiVariateStats(self.width, vectors)


def _mv_comb(partials: Iterable[MultiVariateStats]) -> MultiVariateStats:
    total = None
    for partial in partials:
        if total is None:
            total = MultiVariateStats(partial.width)
        total._merge(partial)
    return total


@dataclass(frozen=True, slots=True, eq=False)
class _HistLocal:
    edges: Any

    def __call__(self, values: Iterable):
        return np.histogram(np.asarray(list(values), dtype=float), self.edges)[0]


def _hist_comb(partials: Iterable) -> Any:
    total = None
    for counts in partials:
        total = counts if total is None else total + counts
    return total


class StatsMixin(DatasetCore[T]):
    def stats(self) -> Stats:
        """Count, mean, min, max, variance, stdev, skew and kurtosis in one pass.

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        >>> ctx.range(5, 10).stats()
        <Stats count=5, mean=7.0, min=5.0, max=9.0, var=2.0, stdev=1.414..., skew=0.0, kurt=-1.3>
        """
        return self.aggregate(_stats_local, _stats_comb)

    def mvstats(self, width: int | None = None) -> MultiVariateStats:
        """Per-column statistics of a dataset of equal-length vectors (needs numpy).

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        ``width`` defaults to the length of the first element (which runs a small job).

        >>> ctx.collection([(1, 2), (3, 4)]).mvstats().mean
        array([2., 3.])
        """
        _require_numpy("mvstats")
        if width is None:
            try:
                width = len(self.first())
            except StopIteration:
                raise ValueError("dataset is empty: give mvstats a width") from None
        result = self.aggregate(_MvLocal(width), _mv_comb)
        return result if result is not None else MultiVariateStats(width)

    def histogram(self, bins: int | Sequence[float] = 10) -> tuple[list[float], list[int]]:
        """``(counts, edges)`` as numpy arrays, like ``numpy.histogram`` over all elements.

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        An int ``bins`` spreads that many equal bins between the minimum and maximum (found by
        running ``stats()`` first); a sequence gives the edges (sorted, duplicates dropped).

        >>> ctx.range(4).histogram(5)
        (array([1, 1, 0, 1, 1]), array([0. , 0.6, 1.2, 1.8, 2.4, 3. ]))
        """
        numpy = _require_numpy("histogram")
        if isinstance(bins, bool):
            raise TypeError("bins must be an int or a sequence of edges")
        if isinstance(bins, int):
            if bins < 1:
                raise ValueError(f"bins must be at least 1, got {bins}")
            summary = self.stats()
            if summary.count == 0:
                raise ValueError("dataset is empty")
            low, high = summary.min, summary.max
            if low == high or bins == 1:
                return numpy.array([summary.count]), numpy.array([low, high])
            step = (high - low) / bins
            edges = numpy.array([low + i * step for i in range(bins)] + [high])
        else:
            edges = numpy.unique(numpy.asarray(list(bins)))
            if len(edges) < 2:
                raise ValueError("bins needs at least two distinct edges")
        counts = self.aggregate(_HistLocal(edges), _hist_comb)
        if counts is None:
            counts = numpy.zeros(len(edges) - 1, dtype=numpy.int64)
        return counts, edges

    # -- single statistics (Spark's vocabulary), each one pass over the data as stats() --------

    def variance(self) -> float:
        """The population variance (divided by n) of the numeric elements; NaN when empty.

        An action; one pass (``stats()``), each partition sends a small summary to the driver.

        >>> ctx.collection([1, 2, 3, 4]).variance()
        1.25
        """
        return self.stats().variance

    def stdev(self) -> float:
        """The population standard deviation (sqrt of ``variance()``); NaN when empty.

        An action; one pass, as ``variance()``.

        >>> ctx.collection([2, 4, 4, 4, 5, 5, 7, 9]).stdev()
        2.0
        """
        return self.stats().stdev

    def sample_variance(self) -> float:
        """The sample variance (divided by n - 1); NaN with fewer than two elements.

        An action; one pass, as ``variance()``.

        >>> ctx.collection([1, 2, 3, 4]).sample_variance()
        1.6666666666666667
        """
        return self.stats().sample_variance

    def sample_stdev(self) -> float:
        """The sample standard deviation (sqrt of ``sample_variance()``); NaN with fewer than
        two elements.

        An action; one pass, as ``variance()``.

        >>> round(ctx.collection([1, 2, 3, 4]).sample_stdev(), 6)
        1.290994
        """
        return self.stats().sample_stdev
