"""The dashboard's "BNDL jobs" page: over HTTP, in a browser, and on a dscheduler cluster.

The session cluster runs without bokeh's dashboard, but its scheduler's HTTP server still
serves bndl's page and JSON (they need no bokeh), so most tests use it. The driver sends job
records from a thread of its own; tests wait for the final record with ``await_job``.
"""

from __future__ import annotations

import json
import operator
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from distributed import Event
from helpers import first_time, unique
from test_cli import cli_cluster  # noqa: F401  (the shared session fixture)

from bndl_dask import ComputeContext
from bndl_dask.execute.job_records import job_uid
from bndl_dask.execute.spans import job_span_name
from bndl_dask.worker.job_board import JobBoard

WAIT = 60


def http_base(ctx) -> str:
    port = ctx.client.scheduler_info()["services"]["dashboard"]
    return f"http://127.0.0.1:{port}"


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def await_job(ctx, job, state: str | None = None) -> dict:
    """The scheduler's record of ``job`` once it has finished (or reached ``state``)."""
    url = f"{http_base(ctx)}/bndl/jobs/{job_uid(job, ctx._dashboard_feed.driver)}.json"
    deadline = time.monotonic() + WAIT
    while True:
        try:
            record = get_json(url)
            if record["state"] != "running" if state is None else record["state"] == state:
                return record
        except urllib.error.HTTPError as exc:
            if exc.code != 404:  # 404: not reported yet
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job.id} did not reach {state or 'its end'} on the board")
        time.sleep(0.05)  # polling the scheduler's HTTP server, which the feed updates


def fail_first_time(marker: str):
    def pair(i):
        if i == 0 and first_time(marker):
            raise RuntimeError("first attempt fails")
        return i % 3, i
    return pair


def bad_record(i):
    if i == 3:
        raise ValueError("bad record 3")
    return i


@pytest.fixture
def retrying(ctx):
    ctx.conf["bndl.execute.attempts"] = 2
    yield ctx
    del ctx.conf["bndl.execute.attempts"]


def test_shuffle_with_retry_and_failure_over_http(retrying, tmp_path):
    ctx = retrying
    marker = str(tmp_path / "failed-once")
    pairs = ctx.range(12, pcount=4).map(fail_first_time(marker))
    result = pairs.reduce_by_key(operator.add, pcount=3).collect()
    assert sorted(result) == [(0, 18), (1, 22), (2, 26)]
    shuffled = ctx.jobs[-1]
    with pytest.raises(ValueError, match="bad record 3"):
        ctx.range(6, pcount=2).map(bad_record).count()
    failed = ctx.jobs[-1]

    record = await_job(ctx, shuffled)
    assert record["state"] == "done" and record["name"] == "collect"
    assert record["callsite"].startswith("test_jobs_page.py:")
    assert [(s["name"], s["tasks"], s["done"], s["state"]) for s in record["stages"]] == \
        [("stage 1", 4, 4, "done"), ("stage 2", 3, 3, "done")]
    assert (record["tasks_done"], record["tasks_total"], record["retries"]) == (7, 7, 1)
    (failure,) = record["failures"]
    assert failure["retried"] and failure["stage"] == 1 and failure["attempt"] == 1
    assert failure["error"] == "RuntimeError: first attempt fails"
    assert "in pair" in failure["traceback"]  # the worker's traceback of the user's function
    (retried,) = [t for t in record["tasks"] if t["attempts"] > 1]
    assert retried["state"] == "done" and retried["failed_on"] == [failure["worker"]]
    assert retried["worker"] and retried["duration"] is not None
    assert all(t["state"] == "done" and t["worker"] for t in record["tasks"])

    record = await_job(ctx, failed)
    assert record["state"] == "failed" and record["name"] == "count"
    assert "ValueError" in record["error"] and "bad record 3" in record["error"]
    assert "in bad_record" in record["traceback"]
    assert [f["retried"] for f in record["failures"]] == [True, False]
    assert all(f["error"] == "ValueError: bad record 3" for f in record["failures"])

    # the list (newest first) holds both, without task lists
    listed = {job["uid"]: job for job in get_json(f"{http_base(ctx)}/bndl/jobs.json")["jobs"]}
    driver = ctx._dashboard_feed.driver
    assert listed[job_uid(failed, driver)]["state"] == "failed"
    assert "tasks" not in listed[job_uid(shuffled, driver)]


def test_json_matches_ctx_jobs(ctx):
    ctx.range(10, pcount=2).map(operator.neg).set_name("numbers").collect()
    last = await_job(ctx, ctx.jobs[-1])
    assert last["name"] == "collect 'numbers'"
    listed = {job["uid"]: job for job in get_json(f"{http_base(ctx)}/bndl/jobs.json")["jobs"]}
    kept = get_json(f"{http_base(ctx)}/bndl/jobs.json")["max_jobs"]
    driver = ctx._dashboard_feed.driver
    recent = [job for job in ctx.jobs if job.tasks][-kept:]
    for job in recent:
        record = listed.get(job_uid(job, driver))
        if record is None or record["state"] == "running":
            continue  # a job still being reported (only the last one can be)
        assert (record["id"], record["name"], record["description"]) == \
            (job.id, job.name or "job", job.desc or job.name or "job")
        shown = [t for t in job.tasks if t.group != "hidden"]
        assert record["tasks_total"] == len(shown)
        assert [s["stage"] for s in record["stages"]] == \
            sorted({t.group for t in shown},
                   key=lambda g: (0, g, "") if isinstance(g, int) else (1, 0, str(g)))
    assert job_uid(ctx.jobs[-1], driver) in listed


def test_jobs_and_stages_run_in_dask_spans(ctx):
    ctx.range(8, pcount=2).map(lambda i: (i % 2, i)).reduce_by_key(operator.add).collect()
    job = ctx.jobs[-1]

    def spans(dask_scheduler):
        return [(span.name, sorted(group.name for group in span.groups))
                for span in dask_scheduler.extensions["spans"].spans.values()]

    named = dict(ctx.client.run_on_scheduler(spans))
    name = job_span_name(job)
    assert name.startswith(f"bndl job {job.id}: collect at test_jobs_page.py:")
    for stage in ("stage 1", "stage 2"):
        assert named[(name, stage)], f"no dask tasks in the span of {stage}"
    assert named[(name,)]  # the barrier between the stages


def test_page_is_listed_and_served(ctx):
    base = http_base(ctx)
    assert get_json(f"{base}/individual-plots.json")["Individual BNDL Jobs"] == \
        "/individual-bndl-jobs"
    with urllib.request.urlopen(f"{base}/individual-bndl-jobs", timeout=30) as response:
        page = response.read().decode()
    assert "<title>BNDL jobs</title>" in page and "bndl/jobs.json" in page
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{base}/bndl/jobs/nosuchjob.json", timeout=30)
    assert missing.value.code == 404


def test_board_keeps_the_configured_number_of_jobs(ctx):
    answer = get_json(f"{http_base(ctx)}/bndl/jobs.json")
    assert answer["max_jobs"] == ctx.conf["bndl.dashboard.max_jobs"] == 100
    assert len(answer["jobs"]) <= 2 * answer["max_jobs"]


def test_board_drops_the_oldest_finished_jobs_first():
    board = JobBoard(max_jobs=2)
    board.update([{"uid": "1.a", "state": "running", "tasks": [{"id": "t"}]}])
    board.update([{"uid": f"{i}.a", "state": "done", "tasks": [{"id": "t"}]} for i in (2, 3, 4)])
    assert [job["uid"] for job in board.jobs()] == ["4.a", "3.a", "1.a"]
    assert board.job("2.a") is None and board.job("1.a")["tasks"] == [{"id": "t"}]
    board.update([{"uid": f"{i}.b", "state": "running"} for i in range(3)])  # drivers that died
    assert [job["uid"] for job in board.jobs()] == ["2.b", "1.b", "4.a", "3.a"]
    board.update([{"uid": "1.b", "state": "done", "tasks": [{"id": "u", "order": 1}]}])
    assert board.job("1.b")["state"] == "done" and len(board) == 3


def test_bad_bound_is_refused():
    with pytest.raises(ValueError, match="bndl.dashboard.max_jobs"):
        ComputeContext(worker_count=1, dashboard=False, conf={"bndl.dashboard.max_jobs": 0})


def test_page_on_a_dscheduler_cluster(cli_cluster):  # noqa: F811
    with ComputeContext(cli_cluster.address) as joined:
        assert joined.range(6, pcount=3).map(operator.neg).sum() == -15
        record = await_job(joined, joined.jobs[-1])
        assert record["state"] == "done" and record["tasks_done"] == 3
        base = http_base(joined)
        assert "/individual-bndl-jobs" in get_json(f"{base}/individual-plots.json").values()
        with urllib.request.urlopen(f"{base}/individual-bndl-jobs", timeout=30) as response:
            assert "BNDL jobs" in response.read().decode()


# -- in a browser ---------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def wait_for(name: str):
    def blocked(i):
        if i == 3:  # the other partitions finish, this one waits for the test
            Event(name).wait(WAIT)
        return i
    return blocked


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_page_in_a_browser_while_a_job_runs(retrying, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    ctx = retrying
    screenshots = Path(os.environ.get("BNDL_SCREENSHOT_DIR") or tmp_path)
    screenshots.mkdir(parents=True, exist_ok=True)
    marker = str(tmp_path / "failed-once")  # a finished job with a retry, for the list
    ctx.range(8, pcount=4).map(fail_first_time(marker)).reduce_by_key(operator.add).collect()
    with pytest.raises(ValueError):
        ctx.range(6, pcount=2).map(bad_record).count()

    release = unique("release")
    event = Event(release, client=ctx.client)
    running = ctx.range(4, pcount=4).map(wait_for(release)).set_name("slow numbers")
    outcome: list = []
    action = threading.Thread(target=lambda: outcome.append(running.count()), daemon=True)
    action.start()
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(f"{http_base(ctx)}/individual-bndl-jobs")
                # the running job shows with half its tasks done, and the list updates itself
                page.wait_for_function(
                    "() => [...document.querySelectorAll('tr')].some(r => "
                    "r.textContent.includes(\"count 'slow numbers'\") && "
                    "r.textContent.includes('running') && r.textContent.includes('3/4'))",
                    timeout=WAIT * 1000)
                assert page.locator("text=1 retried").count() >= 1
                assert page.locator("text=ValueError: bad record 3").count() >= 1
                page.screenshot(path=str(screenshots / "bndl-jobs-running.png"), full_page=True)
                event.set()
                page.wait_for_function(
                    "() => [...document.querySelectorAll('tr')].some(r => "
                    "r.textContent.includes(\"count 'slow numbers'\") && "
                    "r.textContent.includes('done') && r.textContent.includes('4/4'))",
                    timeout=WAIT * 1000)
                page.screenshot(path=str(screenshots / "bndl-jobs-done.png"), full_page=True)
                # a job's own page: stages, failures and tasks
                page.locator("tr", has_text="collect").first.locator("a").first.click()
                page.wait_for_selector("text=Task failures", timeout=WAIT * 1000)
                assert page.locator("text=RuntimeError: first attempt fails").count() >= 1
                page.screenshot(path=str(screenshots / "bndl-job.png"), full_page=True)
            finally:
                browser.close()
    finally:
        event.set()
        action.join(WAIT)
    assert outcome == [4]
