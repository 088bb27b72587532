"""The benchmark harness still runs: one quick W6 round in a subprocess (no timing checked)."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_w6_run_prints_tables():
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "run.py"), "--quick",
         "--workloads", "W6", "--engines", "bndl_dask", "--no-memory"],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Median wall time per call" in proc.stdout
    lines = proc.stdout.splitlines()
    w6_rows = [line for line in lines if line.startswith("W6 ")]
    assert w6_rows, proc.stdout
    # the medians row: 20 samples, a time for serial and for bndl_dask, no error
    assert w6_rows[0].split()[1] == "20"
    assert "ERROR" not in proc.stdout and "WRONG" not in proc.stdout
    assert "PROBLEM" not in proc.stdout


def test_isolated_rounds_stop_and_restart_the_engines():
    # --isolate: each engine runs alone, so round 2 restarts the clusters round 1 stopped
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "run.py"), "--quick", "--isolate",
         "--repeat", "2", "--workloads", "W1", "--engines", "bndl_dask,dask_graph",
         "--no-memory"],
        capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    w1_rows = [line for line in proc.stdout.splitlines() if line.startswith("W1 ")]
    assert w1_rows and w1_rows[0].split()[1] == "2", proc.stdout  # both rounds sampled
    assert "ERROR" not in proc.stdout and "WRONG" not in proc.stdout, proc.stdout


def test_variants_are_named_after_what_changed():
    sys.path.insert(0, ROOT)
    from benchmarks import run

    args = run.parse_args(["--quick", "--workloads", "W1,W2,W4,W6,W8", "--partitions", "8",
                           "--sweep", "4,8", "--scale", "3", "--keys", "int,tuple"])
    workloads, _engines, _notes = run.select(args)
    assert list(workloads) == [
        "W1@4", "W1@8", "W2@4", "W2@8", "W2@8x3", "W2:tuple@4", "W2:tuple@8", "W2:tuple@8x3",
        "W4@4", "W4@8", "W4@8x3", "W6", "W8@4", "W8@8", "W8@8x3", "W8:tuple@4", "W8:tuple@8",
        "W8:tuple@8x3"]
    assert workloads["W2:tuple@8x3"].quick == {"scale": 0.03, "pcount": 8, "keys": "tuple"}
    assert workloads["W6"].full["pcount"] == 2  # what W6 measures: left alone
    assert set(workloads["W8@4"].engines) >= {"serial", "bndl_dask", "dask_graph", "pyspark"}


def test_quick_sweep_scale_and_key_types_run():
    # the new key-wise workloads (left_outer_join, subtract_by_key) with string keys, in a
    # one-count sweep and scaled: every table printed, every result equal to serial's. The
    # subprocess timeout is below pytest's, so that a slow run is killed, not left behind.
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "run.py"), "--quick",
         "--workloads", "W8,W9", "--engines", "bndl_dask", "--no-memory", "--partitions", "4",
         "--sweep", "4", "--scale", "2", "--keys", "str"],
        capture_output=True, text=True, timeout=100, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Partition sweep" in out and "Scale: 2x the records" in out
    sweep_rows = [line.split() for line in out.splitlines() if line.startswith("W8:str ")
                  or line.startswith("W9:str ")]
    assert ["W8:str", "bndl_dask"] in [row[:2] for row in sweep_rows]
    assert any(line.startswith("W9:str@4x2 ") for line in out.splitlines())
    assert "ERROR" not in out and "WRONG" not in out and "PROBLEM" not in out
