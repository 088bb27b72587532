"""What the dashboard shows of a job: its record as plain JSON-able data, taken on the driver.

A ``JobRecorder`` looks at a running job (its tasks and its scheduler's failure policy) when
asked and returns the job's record, with only the task records that changed since the last
look. The scheduler's ``JobBoard`` (worker/job_board.py) merges them. Task details are kept for
at most ``max_tasks`` tasks of a job (those that failed or were retried always), so a job of a
million tasks does not ship a million rows; its stage counts cover every task.

>>> from bndl_dask.execute import Job, RmiTask
>>> job = Job(None, [RmiTask(None, i, abs, (-i,), group=1) for i in range(3)], name='count')
>>> record = JobRecorder(job, driver='me').record()
>>> record['state'], record['stages'][0]['tasks'], len(record['tasks'])
('running', 3, 3)
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Sequence
from typing import Any

from bndl_dask.execute.job import Job, Task
from bndl_dask.execute.spans import job_span_name, stage_span_name

#: failures listed in a job's summary (all of them are on its tasks' records)
FAILURES_LISTED = 20


def _format_error(error: BaseException | None) -> tuple[str, str]:
    """``(one line, traceback)`` of an error: the user's exception and the remote traceback
    when a task raised it."""
    if error is None:
        return "", ""
    own = getattr(error, "error", None)  # a TaskFailure wraps the user's exception
    if isinstance(own, BaseException):
        line = f"{type(own).__name__}: {own}"
    elif getattr(error, "remote_traceback", None) and error.__cause__ is not None:
        # the job's error (invocation_error): the user's exception, where it was raised
        cause = error.__cause__
        where = " on ".join(str(part) for part in (getattr(error, "task", None),
                                                       getattr(error, "worker", None)) if part)
        line = f"{type(cause).__name__}: {cause}" + (f" (in {where})" if where else "")
    else:
        line = f"{type(error).__name__}: {error}"
    remote = getattr(error, "remote_traceback", "") or ""
    if not remote:
        remote = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return line.strip().rstrip(":"), remote


def ending_state(error: BaseException | None) -> str:
    """How a job that ended with ``error`` (None: it did not raise) is shown: done, stopped
    (the caller closed its iterator) or failed.

    >>> ending_state(None), ending_state(GeneratorExit()), ending_state(ValueError())
    ('done', 'stopped', 'failed')
    """
    if error is None:
        return "done"
    return "stopped" if isinstance(error, GeneratorExit) else "failed"


def _seconds(task: Task) -> float | None:
    """How long the task has run (from having its inputs to its result), None before."""
    if task.started_on is None:
        return None
    if task.stopped_on is None:
        return time.time() - task.started_on.timestamp()
    return max((task.stopped_on - task.started_on).total_seconds(), 0.0)


def task_label(task: Task) -> str:
    """A task's id as the page shows it: ``('ab12.w', 3)`` becomes ``ab12.w.3``."""
    if isinstance(task.id, tuple):
        return ".".join(map(str, task.id))
    return str(task.id)


def job_uid(job: Job, driver: str) -> str:
    """A job's id on the scheduler's board: unique also among drivers that count from 1."""
    return f"{job.id}.{driver}"


class JobRecorder:
    """Takes the records of one job; ``scheduler`` (when given) tells retries and placement."""

    def __init__(self, job: Job, driver: str, scheduler: Any = None, max_tasks: int = 1000,
                 span_id: str | None = None):
        self.job = job
        self.uid = job_uid(job, driver)
        self.driver = driver
        self.scheduler = scheduler
        self.max_tasks = max_tasks
        self.span_id = span_id
        self.submitted = time.time()
        self.state = "running"
        self.error: tuple[str, str] = ("", "")
        self._order = {task: i for i, task in enumerate(job.tasks)}
        self._sent: dict[Any, tuple] = {}
        self._lock = threading.Lock()  # the feed's thread and the job's end both record

    def end(self, error: BaseException | None) -> None:
        self.state = ending_state(error)
        if self.state == "failed":
            self.error = _format_error(error)

    def _failures(self) -> dict[Task, list[tuple[str | None, BaseException | None]]]:
        errors = getattr(getattr(self.scheduler, "failures", None), "errors", None)
        for _ in range(5):  # the scheduler thread may add one meanwhile
            try:
                return {task: list(found) for task, found in list((errors or {}).items())}
            except RuntimeError:
                continue
        return {}

    def _addresses(self) -> dict[str, str]:
        workers = getattr(self.scheduler, "workers", ()) or ()
        return {w.address: w.name for w in workers}

    def _locality(self, task: Task, names: dict[str, str]) -> str:
        """Where dask was told to run the task (a preference, or a restriction such as a retry
        avoiding a worker) and whether it ran there."""
        placed = getattr(getattr(self.scheduler, "state", None), "placed_on", {}).get(task)
        if not placed:
            return "any worker"
        preferred = ", ".join(sorted(names.get(a, a) for a in placed))
        worker = task.executed_on_last()
        if worker is None or worker in preferred.split(", "):
            return f"placed on {preferred}"
        return f"ran elsewhere (placed on {preferred})"

    def _task_state(self, task: Task) -> str:
        if task.done:
            return "failed" if task.failed else "done"
        return "running" if task.pending else "waiting"

    def record(self) -> dict[str, Any]:
        """The job's record; ``tasks`` holds the task records that changed since the last call."""
        with self._lock:
            return self._record()

    def _record(self) -> dict[str, Any]:
        failures = self._failures()
        names = self._addresses()
        stages: dict[Any, dict[str, Any]] = {}
        changed: list[dict] = []
        listed: list[dict] = []
        detailed = 0
        for task in self.job.tasks:
            if task.group == "hidden":
                continue  # barriers: bookkeeping, not work the user asked for
            state = self._task_state(task)
            errors = failures.get(task, [])
            stage = stages.setdefault(task.group, {
                "stage": task.group, "name": stage_span_name(task.group), "tasks": 0, "done": 0,
                "running": 0, "failed": 0, "retries": 0, "started": None, "finished": None})
            stage["tasks"] += 1
            if state in ("done", "running", "failed"):
                stage[state] += 1
            retried = len(errors) - (1 if state == "failed" else 0)
            stage["retries"] += max(retried, 0)
            if task.started_on is not None:
                started = task.started_on.timestamp()
                stage["started"] = min(stage["started"] or started, started)
            if task.stopped_on is not None and state in ("done", "failed"):
                stage["finished"] = max(stage["finished"] or 0, task.stopped_on.timestamp())
            for attempt, (worker, error) in enumerate(errors, 1):
                line, trace = _format_error(error)
                listed.append({"task": task_label(task), "stage": task.group,
                               "partition": getattr(task, "part_idx", None), "worker": worker,
                               "attempt": attempt, "error": line, "traceback": trace,
                               "retried": attempt < len(errors) or state != "failed"})
            detailed += 1
            if detailed > self.max_tasks and not errors:
                continue
            row = self._task_row(task, state, errors, names)
            signature = tuple(sorted((k, str(v)) for k, v in row.items() if k != "duration"))
            if self._sent.get(task) != signature or state == "running":
                self._sent[task] = signature
                changed.append(row)
        stage_list = [self._finish_stage(s) for s in _stage_order(stages.values())]
        done = sum(s["done"] for s in stage_list)
        total = sum(s["tasks"] for s in stage_list)
        now = time.time()
        stopped = self.job.stopped_on.timestamp() if self.job.stopped_on and \
            self.state != "running" else None
        name = self.job.name or "job"
        desc = self.job.desc or name
        return {
            "uid": self.uid, "id": self.job.id, "driver": self.driver, "name": name,
            "description": desc, "callsite": desc.rpartition(" at ")[2] if " at " in desc else "",
            "span": job_span_name(self.job), "span_id": self.span_id,
            "state": self.state, "submitted": self.submitted,
            "duration": (stopped or now) - self.submitted,
            "stages": stage_list, "tasks_total": total, "tasks_done": done,
            "retries": sum(s["retries"] for s in stage_list),
            "failures": listed[-FAILURES_LISTED:], "failure_count": len(listed),
            "error": self.error[0] or None, "traceback": self.error[1] or None,
            "tasks_detailed": min(detailed, self.max_tasks), "tasks": changed,
        }

    def _task_row(self, task: Task, state: str, errors: Sequence, names: dict) -> dict:
        line, _ = _format_error(errors[-1][1]) if errors else ("", "")
        return {
            "id": task_label(task), "order": self._order[task], "stage": task.group,
            "partition": getattr(task, "part_idx", None),
            "description": task.desc or task.name or "", "state": state,
            "worker": task.executed_on_last(), "attempts": max(task.attempts, len(errors)),
            "failed_on": [w for w, _ in errors if w], "duration": _seconds(task),
            "locality": self._locality(task, names), "error": line or None,
        }

    @staticmethod
    def _finish_stage(stage: dict) -> dict:
        if stage["started"] is not None:
            end = stage["finished"] if stage["done"] + stage["failed"] >= stage["tasks"] \
                else time.time()
            stage["duration"] = max(end - stage["started"], 0.0)
        else:
            stage["duration"] = None
        stage["state"] = ("done" if stage["done"] == stage["tasks"] else
                          "failed" if stage["failed"] else
                          "running" if stage["running"] or stage["done"] else "waiting")
        return stage


def _stage_order(stages) -> list[dict]:
    return sorted(stages, key=lambda s: (0, s["stage"], "") if isinstance(s["stage"], int)
                  else (1, 0, str(s["stage"])))
