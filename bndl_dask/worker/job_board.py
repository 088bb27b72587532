"""The scheduler's record of bndl jobs for the dashboard: what drivers report, kept bounded.

Drivers send each job's record (a JSON-able dict, see ``bndl_dask.execute.job_records``) while
it runs and when it ends; a task record replaces the one with the same id, so a driver sends
only the tasks that changed. The board keeps the last ``max_jobs`` finished jobs and at most
``max_jobs`` running ones (those of a driver that died never finish); a job holds at most the
task details its driver sent (capped at ``bndl.dashboard.max_tasks``), so memory stays bounded
on a cluster that runs for weeks.

>>> board = JobBoard(max_jobs=1)
>>> board.update([{'uid': '1.a', 'id': 1, 'state': 'done', 'tasks': [{'id': '0'}]},
...               {'uid': '2.a', 'id': 2, 'state': 'done', 'tasks': []}])
>>> [job['uid'] for job in board.jobs()]      # the newest first; job 1 was dropped
['2.a']
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

FINISHED = ("done", "failed", "stopped")


class JobBoard:
    """Job records by ``uid`` (a job id unique across drivers), in the order they arrived."""

    def __init__(self, max_jobs: int = 100):
        if max_jobs < 1:
            raise ValueError(f"bndl.dashboard.max_jobs must be at least 1, got {max_jobs}")
        self.max_jobs = max_jobs
        self._jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._tasks: dict[str, dict[str, dict]] = {}
        self._lock = threading.Lock()  # handlers run on the event loop, tests call from others

    def update(self, records: Iterable[dict[str, Any]]) -> None:
        """Merge job records sent by a driver: task records by task id, the rest replaced."""
        with self._lock:
            for record in records:
                uid = str(record["uid"])
                tasks = self._tasks.setdefault(uid, {})
                for task in record.get("tasks", ()):
                    tasks[str(task["id"])] = task
                self._jobs[uid] = {k: v for k, v in record.items() if k != "tasks"}
                self._jobs.move_to_end(uid)
            self._trim()

    def _trim(self) -> None:
        finished = [uid for uid, job in self._jobs.items() if job.get("state") in FINISHED]
        # running jobs of drivers that died never finish: bounded the same way
        running = [uid for uid, job in self._jobs.items() if job.get("state") not in FINISHED]
        for uids in (finished, running):
            for uid in uids[:max(len(uids) - self.max_jobs, 0)]:
                self._drop(uid)

    def _drop(self, uid: str) -> None:
        del self._jobs[uid]
        self._tasks.pop(uid, None)

    def jobs(self) -> list[dict[str, Any]]:
        """Every job's summary (stages, counts, failures; no task list), the newest first."""
        with self._lock:
            return [dict(job) for job in reversed(self._jobs.values())]

    def job(self, uid: str) -> dict[str, Any] | None:
        """One job's record with its tasks, or None when it is not (or no longer) kept."""
        with self._lock:
            job = self._jobs.get(uid)
            if job is None:
                return None
            tasks = sorted(self._tasks.get(uid, {}).values(), key=lambda t: t.get("order", 0))
            return {**job, "tasks": tasks}

    def __len__(self) -> int:
        return len(self._jobs)
