"""Live progress of dataset actions and futures, and the context's notebook view."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import distributed
import pytest

import bndl_dask
from bndl_dask.api import progress as progress_module
from bndl_dask.api.futures_progress import FuturesProgress, FuturesText, FuturesWidget
from bndl_dask.api.progress import JobReporter, WidgetRenderer, resolve_mode
from bndl_dask.execute import BarrierTask, Job, RmiTask


def _fail_on_three(i):
    if i == 3:
        raise ValueError("three")
    return i


def _two_stage_job(ctx) -> Job:
    """3 tasks in stage 1, a barrier, 2 tasks in stage 2 that read the barrier's results."""
    first = [RmiTask(ctx, ("a", i), abs, (-i,), group=1) for i in range(3)]
    barrier = BarrierTask(ctx, ("b", 0), first)
    second = [RmiTask(ctx, ("c", i), sum, (barrier,), group=2) for i in range(2)]
    return Job(ctx, first + [barrier] + second, name="two-stage")


@pytest.fixture
def progress_mode(ctx, monkeypatch):
    """Set ``bndl.progress`` on the shared context for one test; text bars show at once."""
    monkeypatch.setattr(progress_module, "TEXT_DELAY", 0.0)

    def set_mode(mode):
        ctx.conf["bndl.progress"] = mode

    yield set_mode
    del ctx.conf["bndl.progress"]


def test_modes():
    assert resolve_mode("none") == "none"
    assert resolve_mode("TEXT") == "text"
    assert resolve_mode("widget") == "widget"
    # pytest's stderr is not a terminal and this is no notebook: auto shows nothing
    assert resolve_mode("auto") == "none"
    with pytest.raises(ValueError):
        resolve_mode("loud")


def test_text_progress_per_stage(ctx, progress_mode, capsys):
    progress_mode("text")
    job = _two_stage_job(ctx)
    results = [task.result() for task in ctx.execute(job)]
    assert results[-2:] == [3, 3]
    err = capsys.readouterr().err
    final = err.strip().split("\n")[-1]
    assert final.startswith(f"[job {job.id} two-stage] ")
    assert "stage 1 [##########] 3/3 | stage 2 [##########] 2/2 | done in " in final
    assert "hidden" not in err


def test_text_progress_shows_failure(ctx, progress_mode, capsys):
    progress_mode("text")
    with pytest.raises(ValueError):
        ctx.range(4, pcount=2).map(_fail_on_three).collect()
    final = capsys.readouterr().err.strip().split("\n")[-1]
    assert "failed after" in final and "ValueError" in final and "three" in final
    assert "(1 failed)" in final


def test_no_progress_when_not_interactive(ctx, capsys):
    assert ctx.conf["bndl.progress"] == "auto"
    assert ctx.range(10).count() == 10
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_widget_reaches_completion(ctx):
    job = _two_stage_job(ctx)
    reporter = JobReporter(job, WidgetRenderer())
    for task in ctx.execute(job):
        reporter.task_finished(task)
    reporter.job_finished()
    renderer = reporter.renderer
    assert [(stage.name, bar.value, bar.max, bar.bar_style, label.value)
            for stage, bar, label in renderer.bars] == [
        (1, 3, 3, "success", "3/3 tasks"), (2, 2, 2, "success", "2/2 tasks")]
    assert renderer.title.value.startswith(f"<b>Job {job.id}</b> two-stage: done in ")

    failing = _two_stage_job(ctx)
    reporter = JobReporter(failing, WidgetRenderer())
    reporter.job_failed(RuntimeError("lost"))
    assert "failed after" in reporter.renderer.title.value
    assert "RuntimeError: lost" in reporter.renderer.message.value
    assert {bar.bar_style for _, bar, _ in reporter.renderer.bars} == {"danger"}


def test_widget_mode_runs_actions(ctx, progress_mode):
    progress_mode("widget")
    assert ctx.range(100).map(str).count() == 100


def test_futures_progress(ctx, capsys):
    executor = ctx.executor
    futures = executor.map(pow, range(5), range(5), pure=False)
    bndl_dask.progress(futures, mode="none")
    assert all(f.done() for f in futures)
    futures = executor.map(pow, range(5, 10), range(5), pure=False)
    bndl_dask.progress(futures, mode="text")
    assert all(f.done() for f in futures)
    assert "100% Completed" in capsys.readouterr().out
    assert executor.gather(futures) == [pow(i, j) for i, j in zip(range(5, 10), range(5))]


def _negate_or_fail(i):
    if i == 3:
        raise ValueError("three")
    return -i


def test_explicit_progress_draws_on_a_pipe(tmp_path):
    """progress(futures) asked for by the user draws dask's text bar when stdout is a pipe."""
    script = tmp_path / "futures.py"
    script.write_text(textwrap.dedent("""
        from bndl_dask import ComputeContext, progress

        with ComputeContext(worker_count=1, dashboard=False) as ctx:
            futures = ctx.executor.map(abs, range(-4, 0))
            progress(futures)
            print("results", ctx.executor.gather(futures))
            ctx.range(10).count()  # an action's bar stays quiet off a terminal
    """))
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("DASK_BNDL__") and k != "BNDL_CONF"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True,
                          text=True, timeout=120, env=environ)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "100% Completed" in done.stdout
    assert done.stdout.rstrip().endswith("results [4, 3, 2, 1]")
    assert "[job " not in done.stdout + done.stderr


def test_explicit_progress_follows_an_explicit_mode():
    assert resolve_mode("auto", requested=True) == "text"
    assert resolve_mode("none", requested=True) == "none"
    assert resolve_mode("widget", requested=True) == "widget"


def test_futures_views_reach_the_final_state(ctx):
    executor = ctx.executor
    futures = executor.map(_negate_or_fail, range(5), pure=False)
    distributed.wait(futures)
    counts = FuturesProgress(futures)
    counts.end()
    widget = FuturesWidget(counts)
    widget.update()
    (bar, label), = widget.bars.values()
    assert (bar.value, bar.max, bar.bar_style, label.value) == (4, 5, "danger",
                                                               "4/5 tasks, 1 failed")
    assert counts.summary().startswith("futures: negate_or_fail 4/5, 1 failed | 1 failed, after ")
    stream = io.StringIO()
    FuturesText(counts, stream).finish()
    assert stream.getvalue().startswith(f"[{'#' * 40}] | 100% Completed | ")
    assert stream.getvalue().endswith(" | 1 failed\n")

    futures = executor.map(abs, range(-4, 0), pure=False)
    distributed.wait(futures)
    counts = FuturesProgress(futures)
    counts.end()
    widget = FuturesWidget(counts)
    widget.update()
    (bar, label), = widget.bars.values()
    assert (bar.value, bar.bar_style, label.value) == (4, "success", "4/4 tasks")
    assert counts.summary().startswith("futures: abs 4/4 | done in ")
    assert "<b>Futures</b>: done in " in widget.title.value


def test_context_html(ctx):
    page = ctx._repr_html_()
    assert "<b>ComputeContext</b>" in page
    assert "<th style='text-align: left'>Workers</th><td style='text-align: left'>2</td>" in page
    assert "Threads" in page and "Memory" in page and "Dashboard" in page
