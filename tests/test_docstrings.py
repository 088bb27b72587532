"""Every example in the package's docstrings runs here, against the session's cluster.

As PySpark runs the examples of ``rdd.py``: each module's docstring examples are one test, run
in the module's own namespace plus what ``bndl-dask-shell`` starts with, ``ctx`` being the
session's context (2 workers on 127.0.0.1). Examples must leave that context as they found it:
running, with the same settings, still the default dask client and the shared context.

An example that truly cannot run here (it needs a remote scheduler, say) is marked
``# doctest: +SKIP``; ``test_skipped_examples_stay_few`` makes adding one a conscious decision.
"""

from __future__ import annotations

import doctest
import importlib
import pathlib
import pkgutil

import distributed
import pytest

import bndl_dask
from bndl_dask import session
from bndl_dask.cli import shell

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
PACKAGE_DIR = pathlib.Path(bndl_dask.__file__).parent
#: the ``+SKIP`` markers allowed in bndl_dask/ (lower it when you make a skipped example run)
MAX_SKIPPED = 0


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


def _default_client():
    try:
        return distributed.default_client()
    except ValueError:  # no client at all
        return None


def test_the_package_has_examples():
    assert len(MODULES) >= 40


def test_skipped_examples_stay_few():
    skips = [f"{path.relative_to(PACKAGE_DIR)}:{number}"
             for path in sorted(PACKAGE_DIR.rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if "+SKIP" in line]
    assert len(skips) <= MAX_SKIPPED, (
        f"{len(skips)} docstring examples are skipped ({', '.join(skips)}); make them run on "
        f"the session context, or raise MAX_SKIPPED with a reason next to the marker")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, ctx):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS, verbose=False)
    settings = dict(ctx.conf)
    client = _default_client()
    shared = session.get_context(create=False)
    report = []
    # As PySpark does for rdd.py: the module's own names, plus what bndl-dask-shell starts with
    # (``ctx``, ``executor``, ...) on the session's context.
    namespace = {**shell.namespace(ctx), **vars(module), "ctx": ctx}
    for test in finder.find(module, name, globs=namespace):
        runner.run(test, out=report.append)
    failed, _ = runner.summarize(verbose=False)
    assert failed == 0, "".join(report)
    assert not ctx.stopped, "an example stopped the session's context"
    assert dict(ctx.conf) == settings, "an example changed a setting and did not restore it"
    assert _default_client() is client, "an example left another dask client as the default"
    assert session.get_context(create=False) is shared, "an example changed the shared context"
