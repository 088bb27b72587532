"""One Sphinx build of docs/ per test session, shared by test_docs.py and test_reference.py
(with autodoc over the package a build costs ~25 s of CPU)."""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


@functools.cache
def build_html() -> tuple[subprocess.CompletedProcess, Path]:
    """``sphinx -W`` (warnings are errors, as in CI) into a temporary directory: the finished
    process and the html directory."""
    out = Path(tempfile.mkdtemp(prefix="bndl-docs-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(DOCS),
                           str(out / "html")], capture_output=True, text=True, timeout=600)
    return done, out / "html"
