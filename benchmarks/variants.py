"""Variants of the workloads (issue 15): partition count, partition sweep, scale, key types.

A variant is a copy of a ``Workload`` with other sizes, named after what changed:

* ``--partitions N``: every workload whose partition count is not what it measures (all but W6
  and the IC probes) runs at ``N`` partitions, on every engine (16 by default);
* ``--keys int,str,tuple,kb``: each key-wise workload once per key type, ``W2:str`` and so on
  (``int``, issue 5's records, keeps the plain name);
* ``--sweep [4,16,64]``: each workload at each of these partition counts, ``W2@4`` ...; by
  default on W2, W3 and W7;
* ``--scale [10]``: ``W2x10`` beside ``W2``, the records multiplied by 10.

``sweep_table`` and ``scale_table`` turn the samples of a run into the two tables of issue 15.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from benchmarks.report import Cell, medians_of, ratio, seconds, table
from benchmarks.workloads import Workload

#: what ``--sweep`` and ``--scale`` run when ``--workloads`` does not say
SWEEP_DEFAULT = ("W2", "W3", "W7")
SWEEP_PCOUNTS = (4, 16, 64)
SCALE_DEFAULT = ("W2",)
SCALE_FACTOR = 10.0
#: a scaled run meets the target when it takes at most this much longer per record
SCALE_SLACK = 1.1

_VARIANT = re.compile(r"^(?P<base>[^:@x]+?)(?::(?P<keys>\w+))?(?:@(?P<pcount>\d+))?"
                      r"(?:x(?P<factor>[\d.]+))?$")


def parse_counts(text: str) -> list[int]:
    """``'4,16,64'`` -> ``[4, 16, 64]``; a count below 1 raises ValueError."""
    try:
        counts = [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise ValueError(f"partition counts look like 4,16,64, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise ValueError(f"partition counts must be at least 1, got {text!r}")
    return list(dict.fromkeys(counts))


def _resized(workload: Workload, name: str, **sizes) -> Workload:
    return dataclasses.replace(workload, name=name, full={**workload.full, **sizes},
                               quick={**workload.quick, **sizes})


def with_partitions(workloads: dict[str, Workload], pcount: int) -> dict[str, Workload]:
    return {name: _resized(w, name, pcount=pcount)
            if "pcount" in w.full and not w.fixed_pcount else w
            for name, w in workloads.items()}


def with_key_types(workloads: dict[str, Workload], kinds: Sequence[str]) -> dict[str, Workload]:
    out: dict[str, Workload] = {}
    for name, w in workloads.items():
        if "keys" not in w.full:
            out[name] = w
            continue
        for kind in kinds:
            variant = name if kind == "int" else f"{name}:{kind}"
            out[variant] = _resized(w, variant, keys=kind)
    return out


def with_sweep(workloads: dict[str, Workload], pcounts: Sequence[int]) -> dict[str, Workload]:
    out: dict[str, Workload] = {}
    for name, w in workloads.items():
        if "pcount" not in w.full or w.fixed_pcount:
            out[name] = w
            continue
        for pcount in pcounts:
            out[f"{name}@{pcount}"] = _resized(w, f"{name}@{pcount}", pcount=pcount)
    return out


def with_scale(workloads: dict[str, Workload], factor: float, bases: Sequence[str],
               pcount: int) -> dict[str, Workload]:
    """A scaled copy of each workload in ``bases`` that runs at ``pcount`` partitions (with
    ``--sweep``: only at the partition count of the main run)."""
    out: dict[str, Workload] = {}
    for name, w in workloads.items():
        out[name] = w
        if _base(name) in bases and "scale" in w.full and w.full.get("pcount") == pcount:
            variant = f"{name}x{factor:g}"
            scaled = _resized(w, variant)
            scaled.full["scale"] = w.full["scale"] * factor
            scaled.quick["scale"] = w.quick["scale"] * factor
            out[variant] = scaled
    return out


def _base(name: str) -> str:
    match = _VARIANT.match(name)
    return match.group("base") if match else name


def sweep_table(results: dict[str, dict[str, Cell]], engines: Sequence[str],
                pcounts: Sequence[int]) -> str:
    """Each engine's median over serial/2 at each partition count, one row per workload and
    engine (``bndl/(serial/2)`` of the ratios table, side by side)."""
    rows_of: dict[tuple[str, str], dict[int, str]] = {}
    for name, cells in results.items():
        match = _VARIANT.match(name)
        if not match or match.group("pcount") is None or match.group("factor"):
            continue
        label = match.group("base") + (f":{match.group('keys')}" if match.group("keys") else "")
        med = medians_of(cells)
        serial = med.get("serial")
        for engine in engines:
            if engine == "serial" or engine not in cells:
                continue
            value = med.get(engine)
            rows_of.setdefault((label, engine), {})[int(match.group("pcount"))] = \
                ratio(value / (serial / 2) if value and serial else None)
    rows = [[label, engine, *[by.get(p, "-") for p in pcounts]]
            for (label, engine), by in rows_of.items()]
    return table(["workload", "engine", *[f"{p} partitions" for p in pcounts]], rows)


def scale_table(results: dict[str, dict[str, Cell]], engines: Sequence[str]) -> tuple[str, list]:
    """Median at 1x and at the scaled size per engine, their ratio and the target (the scaled
    run may take ``SCALE_SLACK`` times the factor); returns the table and the missed targets."""
    rows, missed = [], []
    for name, cells in results.items():
        match = _VARIANT.match(name)
        if not match or not match.group("factor"):
            continue
        base_name = name[: name.rindex("x")]
        factor = float(match.group("factor"))
        small, large = medians_of(results.get(base_name, {})), medians_of(cells)
        limit = SCALE_SLACK * factor
        for engine in engines:
            if engine not in cells:
                continue
            one, many = small.get(engine), large.get(engine)
            growth = many / one if one and many else None
            verdict = "-" if growth is None or engine != "bndl_dask" else (
                "met" if growth <= limit else "MISSED")
            if verdict == "MISSED":
                missed.append(f"{name}: bndl_dask took {growth:.1f}x its {base_name} time "
                              f"(target <= {limit:g}x)")
            rows.append([name, engine, seconds(one), seconds(many), ratio(growth),
                         f"<= {limit:g}x: {verdict}" if engine == "bndl_dask" else "-"])
    return table(["workload", "engine", "1x", "scaled", "scaled/1x", "target"], rows), missed
