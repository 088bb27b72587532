"""Progress of dask futures, asked for with ``progress(futures)``: a widget in Jupyter, a text bar
anywhere else (also on a log file or a pipe, as dask's own ``progress`` draws).

The caller's thread waits for the futures and draws; see ``progress``.
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

from bndl_dask.api.progress import (
    RENDER_INTERVAL,
    TEXT_LOG_INTERVAL,
    _isatty,
    _seconds,
    in_notebook,
    resolve_mode,
)


def progress(*futures: Any, mode: str | None = None, **kwargs: Any) -> None:
    """Show the progress of dask futures (or collections of them) until they finish.

    Progress asked for is always drawn: in Jupyter a widget, anywhere else a text bar like
    dask's on standard output, also when that is a log file or a pipe (``bndl.progress: auto``, the
    default, only keeps the bars of dataset actions quiet there). ``mode`` (or the
    ``bndl.progress`` setting) picks 'widget' or 'text', or 'none' to wait without drawing.
    The call returns when every future is done (finished or failed), so the widget saved with
    a notebook shows the final state. Keyword arguments (``multi``, ``complete``, ...) hand the
    drawing to ``distributed.progress``.

    >>> from bndl_dask import progress
    >>> futures = ctx.executor.map(pow, range(10), range(10))
    >>> progress(futures)   # the first line, a line at most every few seconds, the last line
    [...] | ...% Completed | ...
    [########################################] | 100% Completed | ... s
    """
    from distributed import futures_of

    if mode is None:
        import dask.config

        mode = dask.config.get("bndl.progress", "auto")
    mode = resolve_mode(mode, requested=True)
    if mode == "widget" and not in_notebook():
        mode = "text"  # a widget shown nowhere would hide the progress asked for
    flat = list({f.key: f for f in _flatten(futures_of(futures))}.values())
    # the futures' own client, not whichever dask thinks is the default (there may be several)
    client = next((f.client for f in flat if getattr(f, "client", None)), None)
    if client is None:
        return
    with client.as_current():
        if mode == "none":
            from distributed import wait

            wait(flat)
        elif kwargs:
            _dask_progress(futures, mode, client, kwargs)
        else:
            counts = FuturesProgress(flat)
            _follow(flat, FuturesWidget(counts) if mode == "widget" else FuturesText(counts))


def _dask_progress(futures: tuple, mode: str, client: Any, kwargs: dict) -> None:
    """dask's own bars, for its options (``multi``, ``group_by``, ...)."""
    from distributed.diagnostics.progressbar import progress as dask_progress

    kwargs.setdefault("scheduler", client.scheduler.address)
    if mode == "text":
        dask_progress(*futures, notebook=False, **kwargs)
        return
    bar = dask_progress(*futures, notebook=True, **kwargs)
    from IPython.display import display

    # dask's widget listens on the kernel's current IOLoop, which recent ipykernels do not run
    # between cells; the client's own loop thread always runs
    client.loop.add_callback(bar.listen)
    display(bar.widget)


def _follow(futures: list, view: Any) -> None:
    """Draw ``view`` from this thread until the futures are done (finished or failed).

    Drawing from the caller, not from the client's event loop after the call returned, is what
    makes a notebook executed headlessly (nbclient, nbconvert) save the final state: messages
    sent after a cell finished are not recorded.
    """
    from distributed import wait

    view.start()
    pending = [f for f in futures if not f.done()]
    while pending:
        try:
            wait(pending, timeout=2 * RENDER_INTERVAL)
        except TimeoutError:
            pass  # not all done yet: redraw and wait again
        pending = [f for f in pending if not f.done()]
        if pending:
            view.update()
    view.counts.end()
    view.finish()


class FuturesProgress:
    """Futures counted by kind (their key prefix, e.g. the function name): done, failed, total."""

    def __init__(self, futures: list):
        from distributed.utils import key_split

        self.groups: dict[str, list] = {}
        for future in futures:
            self.groups.setdefault(key_split(future.key), []).append(future)
        self.started = time.monotonic()
        self.finished: float | None = None

    def end(self) -> None:
        self.finished = time.monotonic()

    def counts(self) -> list[tuple[str, int, int, int]]:
        """``(kind, done, failed, total)`` per kind of future."""
        rows = []
        for name, members in self.groups.items():
            statuses = [f.status for f in members]
            failed = sum(s in ("error", "cancelled", "lost") for s in statuses)
            rows.append((name, statuses.count("finished"), failed, len(members)))
        return rows

    def status(self) -> str:
        elapsed = _seconds((self.finished or time.monotonic()) - self.started)
        failed = sum(row[2] for row in self.counts())
        if self.finished is None:
            return f"running, {elapsed}"
        return f"{failed} failed, after {elapsed}" if failed else f"done in {elapsed}"

    def summary(self) -> str:
        """One line: ``futures: abs 4/4 | done in 0.1 s``."""
        parts = [f"{name} {done}/{total}" + (f", {failed} failed" if failed else "")
                 for name, done, failed, total in self.counts()]
        return "futures: " + " | ".join(parts + [self.status()])


class FuturesText:
    """dask's text bar for futures, on stdout: redrawn in place on a terminal; elsewhere (a log,
    a pipe) a line at most every ``TEXT_LOG_INTERVAL`` seconds and the final one."""

    def __init__(self, counts: FuturesProgress, stream: IO[str] | None = None, width: int = 40):
        self.counts = counts
        self.stream = stream or sys.stdout
        self.width = width
        self._last_line = 0.0

    def line(self) -> str:
        rows = self.counts.counts()
        total = sum(row[3] for row in rows)
        ended = sum(row[1] + row[2] for row in rows)
        failed = sum(row[2] for row in rows)
        fraction = ended / total if total else 1.0
        elapsed = (self.counts.finished or time.monotonic()) - self.counts.started
        failures = f" | {failed} failed" if failed else ""
        return (f"[{'#' * int(self.width * fraction):<{self.width}}] | "
                f"{int(100 * fraction)}% Completed | {_seconds(elapsed)}{failures}")

    def start(self) -> None:
        self.update()

    def update(self) -> None:
        if _isatty(self.stream):
            self.stream.write("\r\x1b[2K" + self.line())
        elif time.monotonic() - self._last_line >= TEXT_LOG_INTERVAL:
            self.stream.write(self.line() + "\n")
            self._last_line = time.monotonic()
        self.stream.flush()

    def finish(self) -> None:
        prefix = "\r\x1b[2K" if _isatty(self.stream) else ""
        self.stream.write(prefix + self.line() + "\n")
        self.stream.flush()


class FuturesWidget:
    """A bar per kind of future with done/total, the elapsed time and failures.

    The display carries a ``text/plain`` summary next to the widget, updated with it, for
    viewers that cannot run widgets (a notebook on GitHub, ``nbconvert --to markdown``).
    """

    def __init__(self, counts: FuturesProgress):
        import ipywidgets as w

        self.counts = counts
        self.title = w.HTML()
        self.bars = {}
        rows = [self.title]
        for name, _, _, total in counts.counts():
            bar = w.IntProgress(value=0, min=0, max=max(total, 1), layout=w.Layout(width="50%"))
            label = w.Label()
            self.bars[name] = (bar, label)
            rows.append(w.HBox([w.Label(name, layout=w.Layout(width="12em")), bar, label]))
        self.box = w.VBox(rows)
        self.box.add_class("bndl-progress")
        self.handle = None

    def _draw(self) -> dict:
        for name, done, failed, total in self.counts.counts():
            bar, label = self.bars[name]
            bar.value = done
            label.value = f"{done}/{total} tasks" + (f", {failed} failed" if failed else "")
            bar.bar_style = "danger" if failed else "success" if done == total else "info"
        self.title.value = f"<b>Futures</b>: {html.escape(self.counts.status())}"
        return {**self.box._repr_mimebundle_(), "text/plain": self.counts.summary()}

    def start(self) -> None:
        from IPython.display import display

        self.handle = display(self._draw(), raw=True, display_id=True)

    def update(self) -> None:
        bundle = self._draw()
        if self.handle is not None:
            self.handle.update(bundle, raw=True)

    finish = update


def _flatten(futures: Iterable[Any]) -> Iterable[Any]:
    for item in futures:
        if isinstance(item, (list, tuple, set)):
            yield from _flatten(item)
        else:
            yield item
