"""Cluster-wide CPU (yappi) and memory (tracemalloc) profiling in BNDL's output format."""

from __future__ import annotations

import io
import re
import tracemalloc

import pytest

from bndl_dask.api.profiling import FuncStats


@pytest.fixture
def cpu(ctx):
    profiling = ctx.cpu_profiling
    yield profiling
    profiling.stop()


@pytest.fixture
def memory(ctx):
    profiling = ctx.memory_profiling
    yield profiling
    profiling.stop()


def test_cpu_stats_format_and_stable_after_stop(ctx, cpu):
    cpu.start()
    assert ctx.range(100).mean() == 49.5
    cpu.stop()

    out = io.StringIO()
    cpu.print_stats(10, include="bndl_dask", file=out)
    lines = out.getvalue().split("\n")
    assert lines[:4] == ["", "Clock type: CPU", "Ordered by: totaltime, desc", ""]
    header = lines[4]
    assert header.startswith("name   ")
    # every column is left-aligned, padded to its width and followed by two spaces
    assert header == "name".ljust(84) + "  " + "ncall".ljust(12) + "  " + "".join(
        col.ljust(8) + "  " for col in ("tsub", "ttot", "tavg"))
    rows = [line for line in lines[5:] if line]
    assert len(rows) == 10
    assert all(row.startswith("bndl_dask/") for row in rows)
    for row in rows:
        name, ncall, tsub, ttot, tavg = (row[0:84], row[86:98], row[100:108], row[110:118],
                                         row[120:128])
        assert re.fullmatch(r"\S.*:\d+ \S+ *", name)
        assert re.fullmatch(r"\d+(/\d+)? *", ncall)
        for value in (tsub, ttot, tavg):
            assert re.fullmatch(r"\d+\.\d+ *", value)
    totals = [float(row[110:118]) for row in rows]
    assert totals == sorted(totals, reverse=True)

    before = cpu.get_stats()
    assert isinstance(before, FuncStats) and len(before) > 10
    ctx.range(100).map(str).count()
    assert cpu.get_stats() == before


def test_cpu_stats_options(ctx, cpu):
    cpu.start()
    ctx.range(50).map(lambda i: i * 2).sum()
    cpu.stop()

    per_worker = cpu.get_stats(per_worker=True)
    assert [name for name, _ in per_worker] == sorted(w.name for w in ctx.workers)
    merged = cpu.get_stats()
    calls = {row[:3]: row[3] for row in merged.rows}
    summed: dict = {}
    for _, stats in per_worker:
        for row in stats.rows:
            summed[row[:3]] = summed.get(row[:3], 0) + row[3]
    assert calls == summed

    out = io.StringIO()
    cpu.print_stats(3, per_worker=True, columns=(("name", 30), ("ncall", 6)),
                    sort_by="ncall", sort_dir="asc", exclude=("bndl_dask", "asyncio"),
                    file=out)
    text = out.getvalue()
    assert "Ordered by: callcount, asc" in text
    blocks = text.split("Worker: ")[1:]
    assert len(blocks) == len(per_worker)
    for block in blocks:
        lines = block.split("\n")
        assert lines[1] == "name".ljust(30) + "  " + "ncall".ljust(6) + "  "
        rows = [line for line in lines[2:] if line]
        assert len(rows) == 3
        for row in rows:
            assert not row.startswith(("bndl_dask", "asyncio"))
            assert len(row[:30].rstrip()) <= 30
        calls = [int(row[32:38].split("/")[0]) for row in rows]
        assert calls == sorted(calls)

    out = io.StringIO()
    cpu.print_stats(None, strip_dirs=False, file=out)
    rows = [line for line in out.getvalue().split("\n")[5:] if line]
    assert len(rows) == len(merged)
    with pytest.raises(ValueError):
        cpu.print_stats(include="bndl_dask", strip_dirs=False, file=io.StringIO())


def test_long_names_are_cut_at_the_front():
    from bndl_dask.api.profiling import _format_name, _format_time

    assert _format_name("a/b/c.py:1 f", 20) == "a/b/c.py:1 f"
    assert _format_name("some/long/path/module.py:12 function", 20) == "..ule.py:12 function"
    assert _format_time(0.000524, 8) == "0.000524"
    assert _format_time(12.3456789, 8) == "12.34568"
    assert _format_time(123456789.0, 8) == "123456.."


def test_memory_print_top(ctx, memory):
    memory.start()
    held = ctx.range(2000, pcount=2).map(lambda i: str(i) * 20).cache()
    try:
        assert held.count() == 2000
        out = io.StringIO()
        snapshot = memory.print_top(limit=3, file=out)
        lines = out.getvalue().rstrip("\n").split("\n")
        assert isinstance(snapshot, tracemalloc.Snapshot)
        entry = re.compile(r"#(\d) (.+):(\d+) (\d+\.\d) KiB")
        ranks = [int(m.group(1)) for m in map(entry.fullmatch, lines) if m]
        assert ranks == [1, 2, 3]
        for line in lines:
            assert (entry.fullmatch(line) or line.startswith("    ")
                    or re.fullmatch(r"\d+ other: \d+\.\d KiB", line)
                    or re.fullmatch(r"Total allocated size: \d+\.\d KiB", line)), line
        assert re.fullmatch(r"\d+ other: \d+\.\d KiB", lines[-2])
        assert lines[-1].startswith("Total allocated size: ")
        assert not any("<frozen importlib._bootstrap>" in line for line in lines)

        out = io.StringIO()
        memory.print_top(limit=5, compare_to=snapshot, file=out)
        assert out.getvalue().rstrip("\n").split("\n")[-1].startswith("Total allocated size: ")

        out = io.StringIO()
        per_worker = memory.print_top(limit=2, per_worker=True, include="bndl_dask", file=out)
        assert [name for name, _ in per_worker] == sorted(w.name for w in ctx.workers)
        text = out.getvalue()
        assert text.count("Worker: ") == len(per_worker)
        for line in text.split("\n"):
            if line.startswith("#"):
                assert line.split(" ")[1].startswith("bndl_dask/"), line
        with pytest.raises(AssertionError):
            memory.print_top(per_worker=True, compare_to=snapshot, file=io.StringIO())
        merged = memory.take_snapshot()
        assert isinstance(merged, tracemalloc.Snapshot) and merged.traces
    finally:
        held.uncache()
