"""Approximate actions with a time bound: ``count_approx``, ``sum_approx`` and ``mean_approx``.

Each runs its job as usual and waits at most ``timeout`` seconds. When every partition is done
by then the result is exact; otherwise it is estimated from the partitions that are, with a
normal-approximation interval at the given ``confidence``, and the rest of the job is
cancelled (it stops as soon as the next partition finishes: tasks are not interrupted).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterable
from statistics import NormalDist
from typing import Any

from bndl_dask.datasets.core import DatasetCore, T
from bndl_dask.datasets.stats import Stats

_DONE = object()


class BoundedValue(tuple):
    """``(value, low, high)``: an estimate and its interval, with ``confidence`` and
    ``complete`` (every partition finished in time: the value is exact, low == high == value).

    >>> result = BoundedValue(10.0, 8.0, 12.0, 0.95, False)
    >>> value, low, high = result
    >>> (value, low, high, result.confidence, result.complete)
    (10.0, 8.0, 12.0, 0.95, False)
    """

    def __new__(cls, value: float, low: float, high: float, confidence: float,
                complete: bool) -> BoundedValue:
        bounded = super().__new__(cls, (value, low, high))
        bounded.confidence = confidence
        bounded.complete = complete
        return bounded

    value = property(lambda self: self[0])
    low = property(lambda self: self[1])
    high = property(lambda self: self[2])

    def __repr__(self) -> str:
        state = "exact" if self.complete else f"{self.confidence:.0%} confidence"
        return f"<BoundedValue {self.value} in [{self.low}, {self.high}] ({state})>"


def _count_part(_idx: int, data: Iterable | None) -> float:
    if data is None:
        return 0.0
    return float(len(data) if isinstance(data, (list, range)) else sum(1 for _ in data))


def _sum_part(_idx: int, data: Iterable | None) -> float:
    return float(sum(() if data is None else data))


def _stats_part(_idx: int, data: Iterable | None) -> Stats:
    return Stats(() if data is None else data)


def _check_bounds(timeout: Any, confidence: Any) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise ValueError(f"timeout must be a number of seconds >= 0, got {timeout!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) \
            or not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence!r}")
    return NormalDist().inv_cdf((1 + confidence) / 2)


def _estimate_total(partials: list[float], pcount: int, z: float, confidence: float,
                    floor: float) -> BoundedValue:
    """The total over ``pcount`` partitions from the ``partials`` of the partitions done: the
    done ones' sum plus the remaining ones at the done ones' mean, with the interval of a sum of
    ``remaining`` draws whose mean is itself estimated."""
    done, known = len(partials), math.fsum(partials)
    remaining = pcount - done
    if remaining == 0:
        return BoundedValue(known, known, known, confidence, True)
    if done == 0:
        return BoundedValue(math.nan, floor, math.inf, confidence, False)
    mean = known / done
    estimate = known + remaining * mean
    if done < 2:  # one partition says nothing of the spread
        return BoundedValue(estimate, floor, math.inf, confidence, False)
    spread = math.sqrt(math.fsum((p - mean) ** 2 for p in partials) / (done - 1))
    half = z * spread * math.sqrt(remaining * (1 + remaining / done))
    return BoundedValue(estimate, max(floor, estimate - half), estimate + half, confidence,
                        False)


def _arrived_already(arrived: queue.Queue) -> list:
    values = []
    while True:
        try:
            item = arrived.get_nowait()
        except queue.Empty:
            return values
        if item is _DONE or isinstance(item, BaseException):
            return values
        values.append(item)


class ApproximateMixin(DatasetCore[T]):
    def _partials_by(self, transform: Callable, timeout: float, name: str) -> list:
        """The per-partition results that arrive within ``timeout`` seconds; the job is
        cancelled (at its next finished partition) when some are still running then."""
        arrived: queue.Queue = queue.Queue()
        stop = threading.Event()
        run = self._run(ordered=False, name=name, transform=transform, gather=True)

        def consume() -> None:
            try:
                for _, value in run:
                    arrived.put(value)
                    if stop.is_set():
                        break  # closes the job's generator: the rest is cancelled
            except BaseException as exc:  # the caller raises it, if it still waits
                arrived.put(exc)
            finally:
                run.close()
                arrived.put(_DONE)

        threading.Thread(target=consume, name=f"bndl-{name}", daemon=True).start()
        deadline = time.monotonic() + timeout
        partials: list = []
        while True:
            try:
                item = arrived.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                stop.set()
                return partials + _arrived_already(arrived)
            if item is _DONE:
                return partials
            if isinstance(item, BaseException):
                raise item
            partials.append(item)

    def count_approx(self, timeout: float, confidence: float = 0.95) -> BoundedValue:
        """The number of elements as ``BoundedValue(value, low, high)``: exact when every
        partition finishes within ``timeout`` seconds, else estimated from those that did.

        An action (one pass; each partition sends a number to the driver) that returns after
        at most about ``timeout`` seconds and cancels what is left.

        >>> ctx.range(100, pcount=4).count_approx(timeout=60)
        <BoundedValue 100.0 in [100.0, 100.0] (exact)>
        """
        z = _check_bounds(timeout, confidence)
        partials = self._partials_by(_count_part, timeout, "count_approx")
        return _estimate_total(partials, len(self.parts()), z, confidence,
                               math.fsum(partials))

    def sum_approx(self, timeout: float, confidence: float = 0.95) -> BoundedValue:
        """The sum of the elements as ``BoundedValue(value, low, high)``; exact when every
        partition finishes within ``timeout`` seconds, as ``count_approx``.

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        >>> ctx.range(100, pcount=4).sum_approx(timeout=60)
        <BoundedValue 4950.0 in [4950.0, 4950.0] (exact)>
        """
        z = _check_bounds(timeout, confidence)
        partials = self._partials_by(_sum_part, timeout, "sum_approx")
        return _estimate_total(partials, len(self.parts()), z, confidence, -math.inf)

    def mean_approx(self, timeout: float, confidence: float = 0.95) -> BoundedValue:
        """The mean of the elements as ``BoundedValue(value, low, high)``: exact when every
        partition finishes within ``timeout`` seconds, else the mean of the elements of the
        partitions done, with the normal interval of a sample mean. NaN when none is known.

        Action: runs a job; each partition is reduced on its worker, only partial results
        reach the driver.

        >>> ctx.range(100, pcount=4).mean_approx(timeout=60)
        <BoundedValue 49.5 in [49.5, 49.5] (exact)>
        """
        z = _check_bounds(timeout, confidence)
        partials = self._partials_by(_stats_part, timeout, "mean_approx")
        summary = Stats()
        for partial in partials:
            summary += partial
        mean = summary.mean if summary.count else math.nan
        if len(partials) == len(self.parts()):
            return BoundedValue(mean, mean, mean, confidence, True)
        if summary.count < 2:
            return BoundedValue(mean, -math.inf, math.inf, confidence, False)
        half = z * summary.sample_stdev / math.sqrt(summary.count)
        return BoundedValue(mean, mean - half, mean + half, confidence, False)
