"""The "BNDL jobs" page and its JSON, as Tornado handlers on the scheduler's HTTP server.

Routes (after the dashboard's prefix, if any):

* ``individual-bndl-jobs``: recent jobs (``?job=<uid>``: one job with its stages and tasks),
  a page that fetches the JSON below every second;
* ``bndl/jobs.json``: ``{"jobs": [...]}``, the newest first, without task lists;
* ``bndl/jobs/<uid>.json``: one job with its tasks;
* ``individual-plots.json``: dask's list of individual pages, with this one added, so that
  dask-labextension offers it as a JupyterLab pane.

Handlers added with ``add_handlers`` come before the server's own routes, which is how the
page list is extended.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tornado import web

PAGE = "individual-bndl-jobs"
PAGE_TITLE = "Individual BNDL Jobs"  # as dask titles its pages ("Individual Task Stream")
TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")


class _BoardHandler(web.RequestHandler):
    def initialize(self, board) -> None:
        self.board = board

    def _json(self, value: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.write(json.dumps(value, default=str))


class JobsJson(_BoardHandler):
    def get(self) -> None:
        self._json({"jobs": self.board.jobs(), "max_jobs": self.board.max_jobs})


class JobJson(_BoardHandler):
    def get(self, uid: str) -> None:
        job = self.board.job(uid)
        if job is None:
            raise web.HTTPError(404, f"no job {uid} (finished jobs beyond the last "
                                     f"{self.board.max_jobs} are not kept)")
        self._json(job)


class JobsPage(web.RequestHandler):
    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        with open(os.path.join(TEMPLATES, "bndl_jobs.html"), encoding="utf-8") as page:
            self.write(page.read())


def _individual_plots_handler():
    """dask's handler of ``individual-plots.json``, answering with this page added."""
    from distributed.http.scheduler.info import IndividualPlots

    class WithBndlJobs(IndividualPlots):
        def initialize(self, dask_server=None, extra=None, page: str = PAGE) -> None:
            super().initialize(dask_server=dask_server, extra=extra)
            self.page = page

        def write(self, chunk) -> None:
            if isinstance(chunk, dict):
                chunk = {**chunk, PAGE_TITLE: self.page}
            super().write(chunk)

    return WithBndlJobs


def _prefix(application) -> str:
    """The dashboard's URL prefix ('/' unless the scheduler was given one), read off the route
    of dask's own ``individual-plots.json``."""
    for rule in application.wildcard_router.rules:
        pattern = getattr(rule.matcher, "regex", None)
        if pattern is not None and pattern.pattern.endswith("individual-plots.json$"):
            return pattern.pattern[:-len("individual-plots.json$")]
    return "/"


def mount_pages(scheduler, board) -> bool:
    """Add the routes to ``scheduler``'s HTTP server; False when it has none."""
    application = getattr(scheduler, "http_application", None)
    if application is None:
        return False
    prefix = _prefix(application)
    routes = [
        (prefix + "bndl/jobs.json", JobsJson, {"board": board}),
        (prefix + r"bndl/jobs/([^/]+)\.json", JobJson, {"board": board}),
        (prefix + PAGE, JobsPage),
    ]
    try:
        plots = _individual_plots_handler()
    except ImportError:  # an older distributed: the page works, it is just not listed
        plots = None
    if plots is not None:
        routes.append((prefix + "individual-plots.json", plots,
                       {"dask_server": scheduler, "page": prefix + PAGE}))
    application.add_handlers(r".*", routes)
    return True
