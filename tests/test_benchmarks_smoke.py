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
