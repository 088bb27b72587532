"""Slow checks that are plain subprocesses (the Sphinx build, mypy) start when the session's
tests are collected and run at low priority beside the cluster tests, which leave most of a
core idle while they wait on their workers. The tests that need a check's result wait for it;
a check no selected test needs is never started.

>>> done = run("echo", [sys.executable, "-c", "print('hi')"])
>>> done.returncode, done.stdout
(0, 'hi\\n')
"""

from __future__ import annotations

import atexit
import os
import subprocess
import tempfile
from pathlib import Path

_started: dict[str, tuple[subprocess.Popen, Path, Path]] = {}


def start(name: str, argv: list[str], cwd: Path | None = None) -> None:
    """Start check ``name`` (once) at low priority; its output goes to temporary files."""
    if name in _started:
        return
    out = Path(tempfile.mkstemp(prefix=f"bndl-{name}-", suffix=".out")[1])
    err = Path(tempfile.mkstemp(prefix=f"bndl-{name}-", suffix=".err")[1])
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen(argv, cwd=cwd, stdout=stdout, stderr=stderr,
                                   stdin=subprocess.DEVNULL, preexec_fn=lambda: os.nice(10))
    _started[name] = (process, out, err)
    atexit.register(_discard, name)


def run(name: str, argv: list[str], cwd: Path | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess:
    """The finished check ``name``: the one started at collection, else started now."""
    start(name, argv, cwd)
    process, out, err = _started[name]
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return subprocess.CompletedProcess(argv, process.returncode,
                                       out.read_text(encoding="utf-8"),
                                       err.read_text(encoding="utf-8"))


def _discard(name: str) -> None:
    process, out, err = _started.pop(name)
    if process.poll() is None:
        process.kill()
    out.unlink(missing_ok=True)
    err.unlink(missing_ok=True)
