"""The package is typed: mypy finds no errors in bndl_dask/, examples/ and tests/typing_usage.py,
whose ``assert_type`` calls pin what a type checker infers through a pipeline.

mypy reads its settings from pyproject.toml ([tool.mypy]); the cache goes to a temporary
directory, so each run checks from scratch (about 30 s on a busy 2-core machine; conftest.py
starts it in the background when the session's tests are collected).
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from pathlib import Path

import background_checks
import pytest

ROOT = Path(__file__).resolve().parent.parent
MYPY_CACHE = Path(tempfile.mkdtemp(prefix="bndl-mypy-cache-"))
atexit.register(shutil.rmtree, MYPY_CACHE, ignore_errors=True)
MYPY = [sys.executable, "-m", "mypy", "--cache-dir", str(MYPY_CACHE),
        "bndl_dask", "examples", "tests/typing_usage.py"]


def start() -> None:
    """Start mypy in the background (conftest.py does, at collection, if mypy is installed)."""
    background_checks.start("mypy", MYPY, cwd=ROOT)


def test_package_is_marked_typed():
    assert (ROOT / "bndl_dask" / "py.typed").exists()
    assert '"py.typed"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


@pytest.mark.timeout(600)  # ~25 s of CPU, far longer on a busy machine
def test_mypy_finds_no_errors():
    pytest.importorskip("mypy")
    done = background_checks.run("mypy", MYPY, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert "Success: no issues found" in done.stdout
