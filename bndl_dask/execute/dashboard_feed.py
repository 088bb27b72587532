"""Sending a driver's jobs to the dashboard: the records of running jobs twice a second, the
final record of each job as soon as it ends.

A thread of its own does the sending (``client.run_on_scheduler`` into the scheduler's
``JobBoard``), so a job never waits for the dashboard; a scheduler without bndl's dashboard
plugin, or a closed client, only stops the feed.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from bndl_dask.execute.job import Job
from bndl_dask.execute.job_records import JobRecorder
from bndl_dask.worker.dashboard_plugin import receive_job_records

logger = logging.getLogger(__name__)

#: seconds between two sends while jobs run
INTERVAL = 0.5


class DashboardFeed:
    """Feeds the scheduler's job board from one driver (one per ``JobRunner``).

    >>> feed = DashboardFeed(ctx.client, max_tasks=10)
    >>> feed.driver != DashboardFeed(ctx.client).driver   # each feed names its own jobs
    True
    """

    def __init__(self, client, max_tasks: int = 1000, interval: float = INTERVAL):
        self.client = client
        self.driver = uuid.uuid4().hex[:6]
        self.max_tasks = max_tasks
        self.interval = interval
        self._running: dict[str, JobRecorder] = {}
        self._final: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def started(self, job: Job, scheduler: Any = None, span_id: str | None = None) -> JobRecorder:
        """Start showing ``job`` (run by ``scheduler``)."""
        recorder = JobRecorder(job, self.driver, scheduler, self.max_tasks, span_id)
        with self._lock:
            self._running[recorder.uid] = recorder
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="bndl-dashboard-feed")
                self._thread.start()
        self._wake.set()
        return recorder

    def ended(self, recorder: JobRecorder, error: BaseException | None) -> None:
        """The job is over: its final record is taken now (before its tasks let go of their
        results) and sent at once."""
        recorder.end(error)
        try:
            final = recorder.record()
        except Exception:  # the dashboard must never break a job
            logger.debug("recording job %s failed", recorder.uid, exc_info=True)
            final = None
        with self._lock:
            self._running.pop(recorder.uid, None)
            if final is not None and not self._stopped:
                self._final.append(final)
        self._wake.set()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._wake.set()

    def _take(self) -> list[dict[str, Any]]:
        with self._lock:
            records, self._final = self._final, []
            running = list(self._running.values())
        for recorder in running:
            try:
                records.append(recorder.record())
            except Exception:
                logger.debug("recording job %s failed", recorder.uid, exc_info=True)
        return records

    def _loop(self) -> None:
        while True:
            with self._lock:
                idle = not self._running and not self._final
            self._wake.wait(None if idle else self.interval)  # an idle driver sends nothing
            self._wake.clear()
            if self._stopped:
                return
            records = self._take()
            if not records:
                continue
            try:
                self.client.run_on_scheduler(receive_job_records, records)
            except Exception as exc:
                if getattr(self.client, "status", None) in ("closing", "closed"):
                    return
                logger.debug("sending job records to the scheduler failed: %s", exc)
