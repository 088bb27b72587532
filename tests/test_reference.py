"""The API reference (docs/reference/) covers every public name, and builds with warnings as
errors.

The public names are computed, not listed, so a name added to the package later is checked
too: the methods and properties of ``Dataset``, ``ComputeContext`` and ``Executor`` (those
``Executor`` inherits from dask's ``Client`` must at least be named on its page),
``bndl_dask.__all__`` and every key of ``bndl.yaml``. The build's ``objects.inv`` says what the
reference documents.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from docs_build import build_html

import bndl_dask
from bndl_dask import ComputeContext, Dataset, Executor

#: the build runs autodoc over the package: ~25 s of CPU, far longer on a busy machine
pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parent.parent


def _public(cls: type) -> list[str]:
    return sorted(name for name in dir(cls) if not name.startswith("_"))


def _defined_in_bndl(cls: type, name: str) -> bool:
    origin = next(c for c in cls.__mro__ if name in vars(c))
    return origin.__module__.startswith("bndl_dask")


def _settings(tree: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in tree.items():
        if isinstance(value, dict):
            keys += _settings(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


@pytest.fixture(scope="module")
def built() -> Path:
    pytest.importorskip("sphinx")
    done, html = build_html()  # the build test_docs.py checks too
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return html


@pytest.fixture(scope="module")
def documented(built) -> dict[str, set[str]]:
    """Object type ('py:method', 'std:setting', ...) -> the names the reference documents."""
    from sphinx.util.inventory import InventoryFile

    inventory = InventoryFile.loads((built / "objects.inv").read_bytes(), uri="")
    return {kind: set(objects) for kind, objects in inventory.data.items()}


def _missing(documented: dict[str, set[str]], names: list[str], kind: str = "py:") -> list[str]:
    every = set().union(*(objs for k, objs in documented.items() if k.startswith(kind)))
    return [name for name in names if name not in every]


def test_every_dataset_method_is_in_a_group(documented):
    missing = _missing(documented, [f"bndl_dask.Dataset.{n}" for n in _public(Dataset)])
    assert not missing, (f"not in docs/reference/dataset.rst: {missing}; add each to the "
                         "method-group it belongs to")


def test_every_context_method_is_documented(documented):
    missing = _missing(documented, [f"bndl_dask.ComputeContext.{n}"
                                    for n in _public(ComputeContext)])
    assert not missing, f"not in docs/reference/context.rst: {missing}"


def test_every_executor_method_is_documented(documented, built):
    own = [n for n in _public(Executor) if _defined_in_bndl(Executor, n)]
    missing = _missing(documented, [f"bndl_dask.Executor.{n}" for n in own])
    assert not missing, f"not in docs/reference/executor.rst: {missing}"
    page = (built / "reference" / "executor.html").read_text(encoding="utf-8")
    inherited = [n for n in _public(Executor) if not _defined_in_bndl(Executor, n)]
    assert inherited, "Executor inherits dask's Client methods"
    unnamed = [n for n in inherited if f">{n}<" not in page]
    assert not unnamed, f"the executor page does not name {unnamed}"


def test_every_package_name_is_documented(documented):
    """Under its package name (``bndl_dask.Dataset``) or where it is defined
    (``bndl_dask.execute.exceptions.TaskCancelled``); dask's ``wait`` and ``as_completed``
    by their package name."""
    missing = []
    for name in bndl_dask.__all__:
        obj = getattr(bndl_dask, name)
        defined = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
        if _missing(documented, [f"bndl_dask.{name}"]) and _missing(documented, [defined]):
            missing.append(name)
    assert not missing, f"bndl_dask.__all__ names missing from the reference: {missing}"


def test_every_setting_is_documented(documented):
    defaults = yaml.safe_load((ROOT / "bndl_dask" / "bndl.yaml").read_text(encoding="utf-8"))
    keys = _settings(defaults)
    assert len(keys) >= 20
    missing = [key for key in keys if key not in documented.get("std:setting", set())]
    assert not missing, f"bndl.yaml keys missing from docs/reference/settings.rst: {missing}"


def test_every_command_has_its_help(built):
    page = (built / "reference" / "cli.html").read_text(encoding="utf-8")
    for program in ("dscheduler", "dworker", "bndl-dask-shell"):
        assert f"usage: {program}" in page or f"Usage: {program}" in page, program
