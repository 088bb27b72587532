"""Every example in the package's docstrings runs here, against the session's cluster.

As PySpark runs the examples of ``rdd.py``: each module's docstring examples are one test, run
in the module's own namespace plus what ``bndl-dask-shell`` starts with, ``ctx`` being the
session's context (2 workers on 127.0.0.1). An example that truly cannot run here (it
needs a remote scheduler, say) is marked ``# doctest: +SKIP``.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import bndl_dask
from bndl_dask.cli import shell

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules_with_examples() -> list[str]:
    names = [bndl_dask.__name__]
    names += [info.name for info in pkgutil.walk_packages(bndl_dask.__path__, "bndl_dask.")]
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = []
    for name in sorted(names):
        module = importlib.import_module(name)
        if any(test.examples for test in finder.find(module, name)):
            found.append(name)
    return found


MODULES = _modules_with_examples()


def test_the_package_has_examples():
    assert len(MODULES) >= 10


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, ctx):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS, verbose=False)
    report = []
    # As PySpark does for rdd.py: the module's own names, plus what bndl-dask-shell starts with
    # (``ctx``, ``executor``, ...) on the session's context.
    namespace = {**shell.namespace(ctx), **vars(module), "ctx": ctx}
    for test in finder.find(module, name, globs=namespace):
        runner.run(test, out=report.append)
    failed, attempted = runner.summarize(verbose=False)
    assert attempted > 0 or failed == 0
    assert failed == 0, "".join(report)
