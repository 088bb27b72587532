"""One Sphinx build of docs/ per test session, shared by test_docs.py and test_reference.py
(with autodoc over the package a build costs ~25 s of CPU, so conftest.py starts it in the
background when the session's tests are collected)."""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import background_checks

DOCS = Path(__file__).resolve().parent.parent / "docs"
_OUT = Path(tempfile.mkdtemp(prefix="bndl-docs-"))
atexit.register(shutil.rmtree, _OUT, ignore_errors=True)
ARGV = [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(DOCS), str(_OUT / "html")]


def start() -> None:
    """Start the build in the background (conftest.py does, at collection)."""
    background_checks.start("sphinx", ARGV)


@functools.cache
def build_html() -> tuple[subprocess.CompletedProcess, Path]:
    """``sphinx -W`` (warnings are errors, as in CI) into a temporary directory: the finished
    process and the html directory."""
    return background_checks.run("sphinx", ARGV), _OUT / "html"
