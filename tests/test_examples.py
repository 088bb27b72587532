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
    elif name == "pyspark_wordcount.py":
        _check_pyspark_wordcount(load_example(name), out.splitlines())
    elif name == "futures_walkthrough.py":
        assert out.rstrip().endswith("walkthrough complete")


def _check_pyspark_wordcount(example, lines: list[str]) -> None:
    """The PySpark program's answers equal serial Python's over the same texts."""
    counts = Counter(w for text in example.TEXTS.values() for w in example.words(text))
    assert lines[0] == f"{len(counts)} distinct words, {sum(counts.values())} in total"
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    assert lines[1:4] == [f"{n:5d}  {w}" for w, n in top]
    per_kind: dict[str, list[int]] = {}
    for word, kind in example.WORD_KINDS:
        if word in counts:
            per_kind.setdefault(kind, []).append(counts[word])
    assert lines[4:4 + len(per_kind)] == [f"{kind}: {sum(ns)} uses of {len(ns)} words"
                                          for kind, ns in sorted(per_kind.items())]
    lengths = [len(w) for w in counts]
    assert (f"word length: mean {sum(lengths) / len(lengths):.2f}, longest {max(lengths)}"
            in lines)
    histogram = [sum(lo <= n < hi for n in lengths) for lo, hi in ((1, 4), (4, 8))]
    histogram.append(sum(8 <= n <= 16 for n in lengths))
    assert f"length histogram [1, 4, 8, 16]: {histogram}" in lines
