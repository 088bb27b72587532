"""Shared fixtures: one embedded cluster of worker processes for the whole session.

Tests that kill workers or change settings make their own context (``make_ctx``).
"""

from __future__ import annotations

import pytest

from bndl_dask import ComputeContext

SESSION_WORKERS = 2


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
