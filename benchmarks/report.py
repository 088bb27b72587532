"""Turning a run's samples into the tables ``run.py`` prints."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.workloads import Workload


@dataclass
class Cell:
    """What one engine did on one workload."""

    samples: list[float] = field(default_factory=list)
    error: str | None = None
    mismatch: str | None = None
    capped: bool = False  # stopped repeating: the first sample took longer than --budget

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def spread(self) -> float | None:
        """(max - min) / median of the samples: how noisy this cell was."""
        if len(self.samples) < 2 or not self.median:
            return None
        return (max(self.samples) - min(self.samples)) / self.median


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.3f} s"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    return "\n".join(lines)


def medians_of(cells: dict[str, Cell]) -> dict[str, float]:
    """Engine -> median, for the engines whose results were right."""
    return {engine: cell.median for engine, cell in cells.items()
            if cell.median is not None and cell.error is None and cell.mismatch is None}


def cell_text(cell: Cell | None) -> str:
    if cell is None:
        return "n/a"
    if cell.error is not None:
        return "ERROR"
    text = seconds(cell.median)
    if cell.mismatch is not None:
        text += " WRONG"
    if cell.capped:
        text += " (1x)"
    return text


def medians_table(results: dict[str, dict[str, Cell]], engines: Sequence[str]) -> str:
    rows = []
    for name, cells in results.items():
        counts = {len(c.samples) for c in cells.values() if c.samples}
        rows.append([name, "/".join(str(c) for c in sorted(counts)) or "0",
                     *[cell_text(cells.get(e)) for e in engines]])
    return table(["workload", "samples", *engines], rows)


def ratios_table(results: dict[str, dict[str, Cell]], engines: Sequence[str]) -> str:
    peers = [e for e in engines if e not in ("serial", "bndl_dask")]
    header = ["workload", "bndl/serial", "bndl/(serial/2)", *[f"bndl/{p}" for p in peers]]
    rows = []
    for name, cells in results.items():
        med = medians_of(cells)
        bndl, serial = med.get("bndl_dask"), med.get("serial")
        # a serial time under a millisecond (W5, W6) makes these ratios meaningless
        serial = serial if serial and serial >= 1e-3 else None
        row = [name,
               ratio(bndl / serial if bndl and serial else None),
               ratio(bndl / (serial / 2) if bndl and serial else None)]
        row += [ratio(bndl / med[p] if bndl and med.get(p) else None) for p in peers]
        rows.append(row)
    return table(header, rows)


def half_serial_table(results: dict[str, dict[str, Cell]], engines: Sequence[str]) -> str:
    """Every engine's median over serial/2 (perfect use of 2 workers), issue 15's table."""
    others = [e for e in engines if e != "serial"]
    rows = []
    for name, cells in results.items():
        med = medians_of(cells)
        serial = med.get("serial")
        serial = serial if serial and serial >= 1e-3 else None
        rows.append([name, *[ratio(med[e] / (serial / 2)) if serial and med.get(e) else
                             ("n/a" if e not in cells else "-") for e in others]])
    return table(["workload", *[f"{e}/(serial/2)" for e in others]], rows)


def targets_table(workloads: dict[str, Workload], results: dict[str, dict[str, Cell]],
                  extras: dict[str, Any]) -> tuple[str, list[str]]:
    """The targets table and the list of missed targets."""
    rows, missed = [], []
    for name, workload in workloads.items():
        if name not in results:
            continue
        med = medians_of(results[name])
        for target in workload.targets:
            value = target.measure(med, extras)
            if value is None:
                verdict, shown = "not measured", "-"
            else:
                shown = f"{value:.1f} ms" if target.unit == "ms" else f"{value:.2f}x"
                verdict = "met" if value <= target.limit else "MISSED"
                if verdict == "MISSED":
                    missed.append(f"{name}: {target.text} (measured {shown})")
            rows.append([name, target.text, shown, verdict])
    return table(["workload", "target", "measured", "verdict"], rows), missed


def memory_table(memory: dict[str, dict]) -> str:
    rows = []
    for mode, m in memory.items():
        if "error" in m:
            last = m["error"].strip().splitlines()[-1] if m["error"].strip() else "failed"
            rows.append([mode, "-", "-", "ERROR: " + last[:70], "-", "-"])
            continue
        part_mb = m["n"] / m["pcount"] * 36 / 2**20  # 8-byte pointer + 28-byte int per element
        held = m["growth_mb"] / part_mb if part_mb and "list" in mode else None
        rows.append([mode, f"{m['n']:,}", str(m["pcount"]), f"{m['growth_mb']:.1f}",
                     seconds(m["seconds"]),
                     f"~{held:.1f}" if held is not None else "-"])
    return table(["mode", "elements", "pcount", "peak RSS growth MB", "time",
                  "partitions' worth"], rows)


def noisiest(results: dict[str, dict[str, Cell]], top: int = 3) -> list[str]:
    spreads = [(cell.spread, name, engine) for name, cells in results.items()
               for engine, cell in cells.items() if cell.spread is not None]
    spreads.sort(reverse=True)
    return [f"{name}/{engine} {spread:.0%}" for spread, name, engine in spreads[:top]]
