"""The scheduler plugin behind the dashboard's "BNDL jobs" page.

``ComputeContext`` registers it with ``client.register_plugin``, so it runs on any dask
scheduler the context joins (``dscheduler``, ``dask scheduler``, an embedded cluster), provided
bndl_dask is installed there as it is on the workers. On start it keeps a ``JobBoard`` and adds
the page's routes to the scheduler's own HTTP server (dashboard_pages.py): nothing new listens.
Drivers send their jobs' records with ``receive_job_records`` (``client.run_on_scheduler``).
"""

from __future__ import annotations

import logging
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

from bndl_dask.worker.dashboard_pages import mount_pages
from bndl_dask.worker.job_board import JobBoard

logger = logging.getLogger(__name__)

PLUGIN_NAME = "bndl-dashboard"


class BndlDashboardPlugin(SchedulerPlugin):
    """Keeps the last ``max_jobs`` finished jobs of every driver and serves them.

    Registered once per scheduler: a second context joining the same scheduler finds it there
    (``idempotent``) and shares its board.
    """

    name = PLUGIN_NAME
    idempotent = True

    def __init__(self, max_jobs: int = 100):
        self.max_jobs = int(max_jobs)
        self.board: JobBoard | None = None
        self.pages = False

    def start(self, scheduler) -> None:  # type: ignore[override]  # dask also takes a plain call
        self.board = JobBoard(self.max_jobs)
        try:
            self.pages = mount_pages(scheduler, self.board)
        except Exception:  # the board still answers scripts; the scheduler must not suffer
            logger.exception("could not add the BNDL jobs page to the dashboard")


def receive_job_records(records: list[dict[str, Any]], dask_scheduler=None) -> bool:
    """Merge a driver's job records into the board (run on the scheduler); False when the
    scheduler has no bndl dashboard plugin."""
    plugin = dask_scheduler.plugins.get(PLUGIN_NAME) if dask_scheduler is not None else None
    if plugin is None or plugin.board is None:
        return False
    plugin.board.update(records)
    return True

