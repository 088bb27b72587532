"""Every example script runs to completion (each in its own process and embedded cluster)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))


def run_example(name: str, tmp_path: Path) -> str:
    env = dict(os.environ, DASK_BNDL__PROGRESS="none")
    done = subprocess.run([sys.executable, str(EXAMPLES / name)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name[:-3]}", EXAMPLES / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the examples keep their work under a __main__ guard
    return module


def test_examples_present():
    assert {"wordcount.py", "futures_walkthrough.py"} <= set(SCRIPTS)
    assert (EXAMPLES / "quickstart.ipynb").exists()


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_runs(name, tmp_path):
    out = run_example(name, tmp_path)
    if name == "wordcount.py":
        wordcount = load_example(name)
        expected = Counter(w for text in wordcount.CORPUS.values()
                           for line in text.splitlines() for w in wordcount.words(line))
        assert (f"{len(expected)} distinct words, {sum(expected.values())} in total"
                in out.splitlines())
        top = [re.fullmatch(r"\s*(\d+)  (\w+)", line).groups() for line in out.splitlines()[:3]]
        assert [(w, int(n)) for n, w in top] == sorted(
            expected.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    elif name == "futures_walkthrough.py":
        assert out.rstrip().endswith("walkthrough complete")
