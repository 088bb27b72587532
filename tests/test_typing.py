"""The package is typed: mypy finds no errors in bndl_dask/, examples/ and tests/typing_usage.py,
whose ``assert_type`` calls pin what a type checker infers through a pipeline.

mypy reads its settings from pyproject.toml ([tool.mypy]); the cache goes to a temporary
directory, so each run checks from scratch (about 30 s on a busy 2-core machine).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_package_is_marked_typed():
    assert (ROOT / "bndl_dask" / "py.typed").exists()
    assert '"py.typed"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


@pytest.mark.timeout(600)  # ~25 s of CPU, far longer on a busy machine
def test_mypy_finds_no_errors(tmp_path):
    pytest.importorskip("mypy")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache"),
         "bndl_dask", "examples", "tests/typing_usage.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert "Success: no issues found" in done.stdout
