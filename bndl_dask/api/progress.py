"""Live progress of jobs: a widget in Jupyter, a text bar on a terminal (futures: see
``futures_progress``).

``ComputeContext.execute()`` tells a ``JobReporter`` (from ``job_reporter``) when the job
starts, when each of its tasks finishes or fails and when the job ends. The reporter only counts;
a renderer thread draws at most ``RENDER_INTERVAL`` apart, so progress never slows a job down.

Where progress shows is the ``bndl.progress`` setting: ``auto`` (a widget in a Jupyter kernel,
a text bar when stderr is a terminal, nothing otherwise), ``widget``, ``text`` or ``none``.
An explicit ``progress(futures)`` with ``auto`` draws a text bar on any stream (``requested``).

With ``text``, a job that runs longer than ``TEXT_DELAY`` draws a line like
``[job 1 count] stage 1 [##########] 2/2 | done in 0.7 s`` on stderr (quicker jobs draw nothing):

>>> import dask
>>> with dask.config.set({'bndl.progress': 'text'}):
...     ctx.range(10).count()
10
"""

from __future__ import annotations

import html
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bndl_dask.api.context import ComputeContext
    from bndl_dask.execute.job import Job, Task

from bndl_dask.api.dashboard import job_page_link
from bndl_dask.execute.job_records import ending_state

#: seconds between two renderings of the same job (at most ~10 updates a second)
RENDER_INTERVAL = 0.1
#: a text bar appears only for jobs running longer than this (quick jobs print nothing)
TEXT_DELAY = 0.5
#: on a stream that is not a terminal, forced text progress prints a line at most this often
TEXT_LOG_INTERVAL = 2.0

MODES = ("auto", "text", "widget", "none")


# -- where to show progress -----------------------------------------------------------------------

def in_notebook() -> bool:
    """True inside a Jupyter (ipykernel) kernel with ipywidgets installed."""
    shell_module = sys.modules.get("IPython")
    if shell_module is None:
        return False
    try:
        shell = shell_module.get_ipython()
        import ipywidgets  # noqa: F401
    except Exception:
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:
        return False


def resolve_mode(setting: str | None, requested: bool = False) -> str:
    """Turn a ``bndl.progress`` setting into 'widget', 'text' or 'none'.

    ``auto`` draws a text bar only on a terminal, unless the progress was ``requested`` (an
    explicit ``progress(futures)``): then it is drawn on any stream, as dask's is.

    >>> resolve_mode('auto', requested=True)   # no notebook here
    'text'
    """
    setting = (setting or "auto").lower() if isinstance(setting, str) else "none"
    if setting not in MODES:
        raise ValueError(f"bndl.progress must be one of {MODES}, not {setting!r}")
    if setting != "auto":
        return setting
    if in_notebook():
        return "widget"
    if requested or _isatty(sys.stderr):
        return "text"
    return "none"


# -- job state ------------------------------------------------------------------------------------

class StageProgress:
    """Tasks of one stage: how many there are, which finished, which failed."""

    def __init__(self, name: Any, total: int):
        self.name = name
        self.total = total
        self.done: set = set()
        self.failed: set = set()

    @property
    def label(self) -> str:
        return f"stage {self.name}" if self.name is not None else "tasks"


class JobProgress:
    """What a renderer shows: a job's stages with their task counts, elapsed time and outcome.

    ``state`` is 'running', 'done', 'failed' or 'stopped' (its consumer stopped reading early).
    """

    def __init__(self, job: Job):
        self.job_id = job.id
        self.name = job.name or "job"
        self.desc = job.desc or ""
        self.stages: dict[Any, StageProgress] = {}
        self._stage_of: dict[Any, StageProgress] = {}
        for task in job.tasks:
            if task.group == "hidden":
                continue  # barriers are bookkeeping, not work the user asked for
            stage = self.stages.get(task.group)
            if stage is None:
                stage = self.stages[task.group] = StageProgress(task.group, 0)
            stage.total += 1
            self._stage_of[task.id] = stage
        self.started = time.monotonic()
        self.finished: float | None = None
        self.state = "running"
        self.error: str | None = None
        self.lock = threading.Lock()
        self.version = 0  # bumped on every change; renderers skip drawing unchanged state

    def sorted_stages(self) -> list[StageProgress]:
        def key(stage: StageProgress):
            return (0, stage.name, "") if isinstance(stage.name, int) else (1, 0, str(stage.name))

        return sorted(self.stages.values(), key=key)

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def failures(self) -> int:
        return sum(len(s.failed) for s in self.stages.values())

    def task_finished(self, task: Task) -> None:
        stage = self._stage_of.get(task.id)
        if stage is None:
            return
        with self.lock:
            if task.failed:
                stage.failed.add(task.id)
            else:
                stage.done.add(task.id)
                stage.failed.discard(task.id)
            self.version += 1

    def end(self, error: BaseException | None = None) -> None:
        with self.lock:
            if self.finished is not None:
                return
            self.finished = time.monotonic()
            self.state = ending_state(error)
            if self.state == "failed":
                self.error = f"{type(error).__name__}: {error}".strip().rstrip(":")
            self.version += 1


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes}m{seconds:02d}s"


# -- renderers ------------------------------------------------------------------------------------

class TextRenderer:
    """One line per job on stderr, redrawn in place on a terminal."""

    def __init__(self, stream: IO[str] | None = None, width: int = 10):
        self._stream = stream
        self.width = width
        self.shown = False
        self._last_line = 0.0

    @property
    def stream(self) -> IO[str]:
        return self._stream or sys.stderr  # looked up late: pytest and notebooks swap it

    def line(self, progress: JobProgress) -> str:
        parts = []
        for stage in progress.sorted_stages():
            filled = int(self.width * len(stage.done) / stage.total) if stage.total else 0
            bar = "#" * filled + "-" * (self.width - filled)
            failed = f" ({len(stage.failed)} failed)" if stage.failed else ""
            parts.append(f"{stage.label} [{bar}] {len(stage.done)}/{stage.total}{failed}")
        if progress.state == "running":
            status = _seconds(progress.elapsed)
        elif progress.state == "done":
            status = f"done in {_seconds(progress.elapsed)}"
        elif progress.state == "stopped":
            status = f"stopped after {_seconds(progress.elapsed)}"
        else:
            status = f"failed after {_seconds(progress.elapsed)}: {progress.error}"
        return f"[job {progress.job_id} {progress.name}] " + " | ".join(parts + [status])

    def start(self, progress: JobProgress) -> None:
        pass  # quick jobs print nothing; ``update`` shows the bar once the job takes a while

    def update(self, progress: JobProgress) -> None:
        if progress.elapsed < TEXT_DELAY:
            return
        stream = self.stream
        if _isatty(stream):
            stream.write("\r\x1b[2K" + self.line(progress))
            stream.flush()
        elif time.monotonic() - self._last_line >= TEXT_LOG_INTERVAL:
            stream.write(self.line(progress) + "\n")
            stream.flush()
            self._last_line = time.monotonic()
        self.shown = True

    def finish(self, progress: JobProgress) -> None:
        stream = self.stream
        if not self.shown and progress.state == "done" and progress.elapsed < TEXT_DELAY:
            return
        prefix = "\r\x1b[2K" if _isatty(stream) else ""
        stream.write(prefix + self.line(progress) + "\n")
        stream.flush()


class WidgetRenderer:
    """An ipywidgets box per job: a title, a bar per stage (done/total, failures) and the error."""

    def __init__(self, link: str | None = None):
        import ipywidgets

        self.widgets = ipywidgets
        self.link = link  # the job's page on the dashboard
        self.box: Any = None  # ipywidgets, made by start()
        self.title: Any = None
        self.bars: list[tuple[StageProgress, Any, Any]] = []
        self.message: Any = None

    def start(self, progress: JobProgress) -> None:
        w = self.widgets
        self.title = w.HTML()
        rows = [self.title]
        for stage in progress.sorted_stages():
            bar = w.IntProgress(value=0, min=0, max=max(stage.total, 1),
                                layout=w.Layout(width="50%"))
            label = w.Label()
            self.bars.append((stage, bar, label))
            rows.append(w.HBox([w.Label(stage.label, layout=w.Layout(width="6em")), bar, label]))
        self.message = w.HTML()
        rows.append(self.message)
        self.box = w.VBox(rows)
        self.box.add_class("bndl-progress")
        self._draw(progress)
        from IPython.display import display

        display(self.box)

    def _draw(self, progress: JobProgress) -> None:
        state = progress.state
        name = html.escape(f"{progress.name}")
        when = _seconds(progress.elapsed)
        status = {"running": f"running, {when}", "done": f"done in {when}",
                  "stopped": f"stopped after {when}", "failed": f"failed after {when}"}[state]
        failures = progress.failures
        if failures:
            status += f", {failures} failed task{'s' if failures > 1 else ''}"
        self.title.value = f"<b>Job {progress.job_id}</b> {name}: {html.escape(status)}"
        if self.link:
            self.title.value += (f' (<a href="{html.escape(self.link)}" target="_blank">'
                                 f'stages and tasks on the dashboard</a>)')
        for stage, bar, label in self.bars:
            bar.value = len(stage.done)
            failed = f", {len(stage.failed)} failed" if stage.failed else ""
            label.value = f"{len(stage.done)}/{stage.total} tasks{failed}"
            if state == "failed" and (stage.failed or len(stage.done) < stage.total):
                bar.bar_style = "danger"
            elif len(stage.done) >= stage.total:
                bar.bar_style = "success"
            elif stage.failed:
                bar.bar_style = "warning"
            else:
                bar.bar_style = "info"
        if progress.error:
            self.message.value = (f"<pre style='color: #a00; white-space: pre-wrap'>"
                                  f"{html.escape(progress.error)}</pre>")

    def update(self, progress: JobProgress) -> None:
        self._draw(progress)

    def finish(self, progress: JobProgress) -> None:
        self._draw(progress)


# -- the reporter execute() talks to --------------------------------------------------------------

class NullReporter:
    """Reports nothing (progress is off)."""

    def task_finished(self, task: Task) -> None:
        pass

    def job_failed(self, error: BaseException) -> None:
        pass

    def job_finished(self) -> None:
        pass


class JobReporter(NullReporter):
    """Counts a job's progress; a thread renders it at most every ``RENDER_INTERVAL`` seconds.

    The final state is drawn by the thread that ends the job, so the widget or text bar is
    complete when the action returns.
    """

    def __init__(self, job: Job, renderer: TextRenderer | WidgetRenderer):
        self.progress = JobProgress(job)
        self.renderer = renderer
        self._stop = threading.Event()
        self._ended = False
        renderer.start(self.progress)
        self._thread = threading.Thread(target=self._render_loop, daemon=True,
                                        name=f"bndl-progress-{job.id}")
        self._thread.start()

    def _render_loop(self) -> None:
        drawn = -1
        last_tick = 0.0
        while not self._stop.wait(RENDER_INTERVAL):
            now = time.monotonic()
            # redraw on news, and once a second anyway so the elapsed time moves
            if self.progress.version != drawn or now - last_tick >= 1.0:
                drawn = self.progress.version
                last_tick = now
                try:
                    self.renderer.update(self.progress)
                except Exception:  # a broken display must never break the job
                    return

    def task_finished(self, task: Task) -> None:
        self.progress.task_finished(task)

    def _end(self, error: BaseException | None) -> None:
        if self._ended:
            return
        self._ended = True
        self.progress.end(error)
        self._stop.set()
        self._thread.join()
        try:
            self.renderer.finish(self.progress)
        except Exception:
            pass

    def job_failed(self, error: BaseException) -> None:
        self._end(error)

    def job_finished(self) -> None:
        self._end(None)


def job_reporter(ctx: ComputeContext, job: Job) -> NullReporter:
    """The reporter for ``job`` according to ``ctx.conf['bndl.progress']``."""
    try:
        mode = resolve_mode(ctx.conf.get("bndl.progress", "auto"))
    except ValueError:
        mode = "none"
    if mode == "none" or not job.tasks:
        return NullReporter()
    try:
        renderer = WidgetRenderer(job_page_link(ctx, job)) if mode == "widget" \
            else TextRenderer()
        return JobReporter(job, renderer)
    except Exception:
        # e.g. ipywidgets missing: progress is a nicety, the job must run regardless
        return NullReporter()


# -- the context in a notebook --------------------------------------------------------------------

def context_html(ctx: ComputeContext) -> str:
    """The notebook view of a ``ComputeContext``: workers, threads, memory and dashboard."""
    if ctx.stopped:
        return "<b>ComputeContext</b> (stopped)"
    try:
        workers = ctx.workers
        scheduler = ctx.client.scheduler.address
    except Exception as exc:  # a repr must not raise
        return f"<b>ComputeContext</b> (unavailable: {html.escape(str(exc))})"
    threads = sum(w.nthreads for w in workers)
    memory = sum(w.memory_limit or 0 for w in workers)
    link = ctx.dashboard_link
    dask_link = ctx.executor.dashboard_link if link else None
    dashboard = "not served"
    if link:
        dashboard = f'<a href="{html.escape(link)}" target="_blank">{html.escape(link)}</a>'
        if dask_link and dask_link != link:
            dashboard += (f' (BNDL jobs; dask: <a href="{html.escape(dask_link)}" '
                          f'target="_blank">status</a>)')
    rows = [
        ("Scheduler", html.escape(str(scheduler))),
        ("Workers", str(len(workers))),
        ("Threads", str(threads)),
        ("Memory", f"{memory / 2**30:.2f} GiB" if memory else "unlimited"),
        ("Dashboard", dashboard),
    ]
    cells = "".join(f"<tr><th style='text-align: left'>{k}</th><td style='text-align: left'>"
                    f"{v}</td></tr>" for k, v in rows)
    return f"<div><b>ComputeContext</b><table>{cells}</table></div>"
