"""The "BNDL jobs" page on the dask dashboard, from the context's side.

``register_dashboard`` installs the scheduler plugin that serves the page
(worker/dashboard_plugin.py) and returns the feed that sends this driver's jobs to it;
``jobs_page_link`` and ``job_page_link`` are the addresses the context, its notebook view and
the progress widgets link to.

>>> link = jobs_page_link(ctx)    # the session context runs without a dashboard
>>> link is None
True
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin

from bndl_dask.api.executor import served_dashboard_link
from bndl_dask.execute.dashboard_feed import DashboardFeed
from bndl_dask.execute.job import Job
from bndl_dask.execute.job_records import job_uid
from bndl_dask.worker.dashboard_pages import PAGE
from bndl_dask.worker.dashboard_plugin import PLUGIN_NAME, BndlDashboardPlugin

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from distributed import Client


def register_dashboard(client: Client, conf: Any) -> DashboardFeed | None:
    """Install the page's scheduler plugin (once per scheduler) and return this driver's feed;
    None when the scheduler would not take the plugin (e.g. bndl_dask is not installed where it
    runs): jobs then run as before, without the page."""
    max_jobs = int(conf["bndl.dashboard.max_jobs"])  # whole numbers >= 1 (util/config.py)
    max_tasks = int(conf["bndl.dashboard.max_tasks"])
    try:
        client.register_plugin(BndlDashboardPlugin(max_jobs), name=PLUGIN_NAME)
    except Exception as exc:
        logger.warning("The scheduler did not take bndl's dashboard plugin (%s); the dask "
                       "dashboard will not show a BNDL jobs page", exc)
        return None
    return DashboardFeed(client, max_tasks=max_tasks)


def jobs_page_link(ctx: Any) -> str | None:
    """The address of the "BNDL jobs" page; None when no dashboard is served."""
    if getattr(ctx, "_dashboard_feed", None) is None:
        return None
    try:
        link = served_dashboard_link(ctx.client)
    except Exception:
        return None
    return urljoin(link, PAGE) if link else None


def job_page_link(ctx: Any, job: Job) -> str | None:
    """The address of ``job``'s page on the dashboard; None when no dashboard is served."""
    link = jobs_page_link(ctx)
    feed = getattr(ctx, "_dashboard_feed", None)
    if link is None or feed is None:
        return None
    return f"{link}?job={quote(job_uid(job, feed.driver))}"
