"""``dashboard_link`` is an address only where the dask dashboard is served: its BNDL jobs page.

dask's own ``Client.dashboard_link`` names the scheduler's HTTP server even when that server has
no dashboard pages (bokeh missing, or the dashboard switched off); bndl answers None then.
"""

from __future__ import annotations

import importlib.util
import urllib.request

import distributed

from bndl_dask import ComputeContext
from bndl_dask.api.dashboard import job_page_link
from bndl_dask.api.progress import JobReporter, WidgetRenderer

HAS_BOKEH = importlib.util.find_spec("bokeh") is not None


def test_dashboard_link_only_where_a_dashboard_is_served():
    with ComputeContext(worker_count=1) as ctx:  # the dashboard on (bndl.net.dashboard)
        link = ctx.dashboard_link
        with distributed.Client(ctx.client.scheduler.address, set_as_default=False) as client:
            assert client.dashboard_link  # dask's answer, with or without pages behind it
            other = ComputeContext(client)  # a plain dask client: the same answer as ours
            assert other.dashboard_link == link
            other.stop()
        if HAS_BOKEH:
            assert link.startswith("http://127.0.0.1:")
            page = urllib.request.urlopen(link, timeout=30).read().decode()
            assert "needs bokeh" not in page
            assert f'href="{link}"' in ctx._repr_html_()
            # the link is the BNDL jobs page; a job's progress widget links to its own page
            assert link.endswith("/individual-bndl-jobs") and "BNDL jobs" in page
            assert ctx.range(4, pcount=2).count() == 4
            job = ctx.jobs[-1]
            job_link = job_page_link(ctx, job)
            assert job_link == f"{link}?job={job.id}.{ctx._dashboard_feed.driver}"
            reporter = JobReporter(job, WidgetRenderer(job_link))
            reporter.job_finished()
            assert f'href="{job_link}"' in reporter.renderer.title.value
        else:
            assert link is None
            assert ctx.executor.dashboard_link is None
            assert "not served" in ctx._repr_html_()


def test_no_dashboard_link_when_switched_off(ctx):
    # the session cluster runs with dashboard=False; a second client to it asks the scheduler
    with distributed.Client(ctx.client.scheduler.address, set_as_default=False) as client:
        other = ComputeContext(client)
        assert client.dashboard_link and other.dashboard_link is None
        other.stop()
