"""Names and behaviours the seed documents show (issue 14, section 3).

Seed 004 documents ``ExecutionContext`` as the execute entry point, seed 000 shows
``<RemoteFilesDataset ...>`` as the repr of ``ctx.files('.')``, and BNDL's import-ctx test
expects ``await_workers`` to raise when the lazy context was configured to start no workers.
"""

from __future__ import annotations

import re

import dask.config
import pytest

import bndl_dask
from bndl_dask import ComputeContext, session
from bndl_dask.execute import ExecutionContext, Job, RmiTask

# -- ExecutionContext (seed 004) ------------------------------------------------------------------

def test_compute_context_is_an_execution_context(ctx):
    assert isinstance(ctx, ExecutionContext)
    assert issubclass(ComputeContext, ExecutionContext)
    # everything seed 004 lists, used through the interface's names
    as_execution: ExecutionContext = ctx
    job = Job(ctx, [RmiTask(ctx, i, abs, (-i,)) for i in range(3)])
    assert [t.result() for t in as_execution.execute(job)] == [0, 1, 2]
    assert as_execution.await_workers(2) == as_execution.worker_count == 2
    assert len(as_execution.workers) == 2
    assert hasattr(as_execution.cpu_profiling, "print_stats")
    assert hasattr(as_execution.memory_profiling, "print_top")


def test_execution_context_is_an_interface():
    with pytest.raises(TypeError, match="ComputeContext"):
        ExecutionContext()
    assert ExecutionContext.__abstractmethods__ == {
        "execute", "await_workers", "worker_count", "workers", "cpu_profiling",
        "memory_profiling"}


# -- RemoteFilesDataset (seed 000) ----------------------------------------------------------------

def test_files_repr_is_remote_files_dataset(ctx, tmp_path):
    (tmp_path / "a.txt").write_text("a\n")
    files = ctx.files(str(tmp_path))
    assert re.fullmatch(r"<RemoteFilesDataset \w+>", repr(files)), repr(files)
    from bndl_dask.datasets.files import FilesDataset, RemoteFilesDataset

    assert FilesDataset is RemoteFilesDataset
    assert files.collect() == [(str(tmp_path / "a.txt"), b"a\n")]


# -- no local workers (BNDL's test_importctx) -----------------------------------------------------

@pytest.fixture
def fresh_lazy_context():
    """``bndl_dask.ctx`` standing for a context created afresh; the previous one is restored."""
    previous = session.get_context(create=False)
    session.set_context(None)
    try:
        yield bndl_dask.ctx
    finally:
        made = session.get_context(create=False)
        if made is not None:
            made.stop()
        session.set_context(previous)


def test_await_workers_raises_when_configured_with_no_workers(fresh_lazy_context):
    lazy = fresh_lazy_context
    with dask.config.set({"bndl.compute.worker_count": 0, "bndl.net.dashboard": False}):
        with pytest.raises(RuntimeError, match="no workers available: none connected"):
            lazy.await_workers(connect_timeout=3, stable_timeout=3)
    assert lazy.client.scheduler_info(n_workers=-1)["workers"] == {}  # none was started


def test_a_bad_configured_worker_count_is_refused():
    from bndl_dask.api.cluster import configured_worker_count

    with dask.config.set({"bndl.compute.worker_count": -1}):
        with pytest.raises(ValueError, match="at least 0"):
            configured_worker_count()
    with dask.config.set({"bndl.compute.worker_count": "3"}):
        assert configured_worker_count() == 3


def test_await_workers_below_the_count_asked_for_warns(ctx):
    with pytest.warns(UserWarning, match="3 workers awaited, but only 2 connected"):
        assert ctx.await_workers(3, connect_timeout=0.5, stable_timeout=5) == 2
