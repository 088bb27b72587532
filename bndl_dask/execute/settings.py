"""The ``bndl.execute`` settings a job runs with, read once per job."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from dask.utils import parse_bytes

from bndl_dask.util import config


def _seconds(key: str, value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds <= 0:
        raise ValueError(f"setting {key!r} must be a positive number of seconds, got {value!r}")
    return seconds


def max_result_size(value: Any) -> int | None:
    """``bndl.execute.max_result_size`` in bytes; ``None`` when there is no bound.

    >>> max_result_size('1GiB'), max_result_size(0), max_result_size(None)
    (1073741824, None, None)
    """
    if value is None or value == 0 or value == "0":
        return None
    try:
        size = parse_bytes(value) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        size = -1
    if size < 0:
        raise ValueError(f"setting 'bndl.execute.max_result_size' must be a size such as 1GiB "
                         f"or 500MB (0 or null: no bound), got {value!r}")
    return size or None


@dataclasses.dataclass(frozen=True)
class SpeculationSettings:
    """``bndl.execute.speculation.*``, as Spark's ``spark.speculation.*``: once ``quantile`` of
    a stage's tasks are done, a task running longer than ``multiplier`` times their median
    gets a copy on another worker.

    >>> conf = {'speculation.enabled': True, 'speculation.multiplier': 2,
    ...         'speculation.quantile': 0.5}
    >>> SpeculationSettings.from_conf(conf.get)
    SpeculationSettings(multiplier=2.0, quantile=0.5)
    """

    multiplier: float = 1.5
    quantile: float = 0.75

    @classmethod
    def from_conf(cls, get) -> SpeculationSettings | None:
        """From ``get(name)`` of ``bndl.execute.<name>``; None when speculation is off."""
        enabled = get("speculation.enabled")
        if not enabled or str(enabled).lower() in ("false", "0", "no"):
            return None
        try:
            multiplier = float(get("speculation.multiplier"))
            quantile = float(get("speculation.quantile"))
        except (TypeError, ValueError):
            multiplier = quantile = -1.0
        if multiplier < 1 or not 0 < quantile <= 1:
            raise ValueError(
                "settings 'bndl.execute.speculation.multiplier' must be a number >= 1 and "
                "'bndl.execute.speculation.quantile' a fraction in (0, 1], got "
                f"{get('speculation.multiplier')!r} and {get('speculation.quantile')!r}")
        return cls(multiplier, quantile)


@dataclasses.dataclass(frozen=True)
class ExecuteSettings:
    """Timeouts and limits of the scheduler (keys ``bndl.execute.*`` in bndl.yaml).

    >>> ExecuteSettings.from_conf({'bndl.execute.liveness_interval': 0.5}).liveness_interval
    0.5
    """

    #: seconds between a job's checks that the workers it relies on are still there
    liveness_interval: float = 1.0
    #: seconds a job waits for workers to come back when all of them are gone
    no_workers_grace: float = 30.0
    #: seconds refused tasks wait for the failure that explains the refusal
    refused_grace: float = 10.0
    #: seconds to fetch a failed task's exception from dask
    failure_timeout: float = 30.0
    #: finished final results fetched to the driver ahead of being read
    result_prefetch: int = 64
    #: seconds without a heartbeat after which a worker is retired as frozen (stalls.py)
    stall_timeout: float = 60.0
    #: speculative copies of stragglers (speculation.py); None when off
    speculation: SpeculationSettings | None = None

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any] | None = None) -> ExecuteSettings:
        """The settings in ``conf`` (e.g. ``ctx.conf``), else in dask.config."""

        def get(name: str) -> Any:
            key = f"bndl.execute.{name}"
            value = conf.get(key) if conf is not None else None
            return config.get(key) if value is None else value

        return cls(
            liveness_interval=_seconds("bndl.execute.liveness_interval",
                                       get("liveness_interval")),
            no_workers_grace=_seconds("bndl.execute.no_workers_grace", get("no_workers_grace")),
            refused_grace=_seconds("bndl.execute.refused_grace", get("refused_grace")),
            failure_timeout=_seconds("bndl.execute.failure_timeout",
                                           get("failure_timeout")),
            result_prefetch=max(1, int(get("result_prefetch"))),
            stall_timeout=_seconds("bndl.execute.stall_timeout", get("stall_timeout")),
            speculation=SpeculationSettings.from_conf(get),
        )


def release_delay() -> float:
    """``bndl.execute.release_delay``: seconds an idle client keeps finished jobs' futures."""
    return _seconds("bndl.execute.release_delay", config.get("bndl.execute.release_delay"))
