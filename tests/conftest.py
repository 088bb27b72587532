"""Shared fixtures: one embedded cluster of worker processes for the whole session.

Tests that kill workers or change settings make their own context (``make_ctx``).
"""

from __future__ import annotations

import importlib.util

import pytest

from bndl_dask import ComputeContext

SESSION_WORKERS = 2


def pytest_collection_modifyitems(config, items):
    """Start the slow subprocess checks (Sphinx, mypy) the selected tests need, so they run in
    the background while the cluster tests run (see background_checks.py)."""
    if config.option.collectonly:
        return
    names = {item.path.name for item in items}
    if names & {"test_docs.py", "test_reference.py"}:
        import docs_build

        docs_build.start()
    for item in items:
        if item.name == "test_mypy_finds_no_errors" and importlib.util.find_spec("mypy"):
            item.module.start()
            break


@pytest.fixture(scope="session")
def ctx():
    context = ComputeContext(worker_count=SESSION_WORKERS, dashboard=False)
    context.await_workers(SESSION_WORKERS)
    yield context
    context.stop()


@pytest.fixture
def make_ctx():
    """Factory for private contexts; all are stopped after the test."""
    made = []

    def factory(**kwargs):
        kwargs.setdefault("dashboard", False)
        context = ComputeContext(**kwargs)
        made.append(context)
        return context

    yield factory
    for context in made:
        context.stop()
