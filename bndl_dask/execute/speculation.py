"""Speculative execution: a copy of a straggling task on another worker (opt-in).

As Spark's ``spark.speculation``: once ``quantile`` of a stage's tasks are done, a task of the
stage that has been running (executing on its worker, not queued) for longer than
``multiplier`` times the stage's median task time gets one copy, restricted to the other
workers it may run on. dask has no speculation of its own; the scheduler of a job asks dask's
scheduler how long each running task of the job has been executing (dask's heartbeats report
it) and submits the copy as a separate dask future on the same inputs.

The first of the two to finish is the task's outcome: the other is cancelled and its outcome is
never looked at. Side effects the driver applies from an outcome (accumulator updates, the
location of cached or shuffled blocks a task wrote) are therefore applied once, from the
winner; blocks the loser wrote on its own worker are never read and go with their shuffle or
cache. When the copy wins, the task's dependents that dask holds waiting on the original are
submitted again on the copy's result.

Task times count from the moment a task starts executing on its worker, not from when it was
queued, so a task waiting for a thread is not mistaken for a straggler.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from bndl_dask.execute.job import RmiTask, Task
from bndl_dask.execute.settings import SpeculationSettings
from bndl_dask.worker.runtime import TaskMeta, interrupt_attempt, invoke

if TYPE_CHECKING:
    from bndl_dask.execute.scheduler import Scheduler

logger = logging.getLogger(__name__)

#: tasks shorter than this are never copied (Spark's spark.speculation.minTaskRuntime)
MIN_TASK_SECONDS = 0.1


def _executing(keys: list, dask_scheduler=None) -> dict:
    """On the dask scheduler: ``key -> (seconds executing so far, worker address)`` of those of
    ``keys`` that run now (as the workers' heartbeats last reported them)."""
    wanted = set(keys)
    return {ts.key: (seconds, ws.address)
            for ws in dask_scheduler.workers.values()
            for ts, seconds in ws.executing.items() if ts.key in wanted}


class _QuietProbe(logging.Filter):
    """Drops distributed's INFO line for each run of ``_executing`` on the scheduler (once per
    check): with an embedded cluster it would print on the driver every second."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "_executing" not in record.getMessage()


_quiet_probe = _QuietProbe()


class Speculator:
    """Copies stragglers of one job (``scheduler``); see the module's docstring.

    The driver checks once per ``bndl.execute.liveness_interval``: a task seen executing gets
    its start estimated from the seconds dask reports; a task that finished before it was ever
    seen counts as lasting one interval.
    """

    def __init__(self, scheduler: Scheduler, settings: SpeculationSettings, interval: float):
        self.scheduler = scheduler
        self.settings = settings
        self.interval = interval
        self.copies: dict[Task, Any] = {}  # task -> the dask future of its copy
        #: compute seconds of each finished task, by stage (the label part of its dask key)
        self.finished: dict[str, list[float]] = defaultdict(list)
        self._started: dict[Task, float] = {}  # the current attempt's start (driver clock)
        #: task -> (the original's worker, the workers its copy may run on)
        self._where: dict[Task, tuple[list[str], list[str]]] = {}
        logging.getLogger("distributed.worker").addFilter(_quiet_probe)  # idempotent

    def succeeded(self, task: Task) -> None:
        """``task`` is done: note its time, cancel its copy if that still runs."""
        if not task.remote:
            return
        started = self._started.pop(task, None)
        seconds = time.monotonic() - started if started is not None else self.interval
        self.finished[self.scheduler.keys.labels[task]].append(seconds)
        copy = self.copies.get(task)
        if copy is not None and not copy.done() and self.scheduler.state.dask.get(task) \
                is not copy:
            self._cancel(copy, self._where[task][1])

    def _cancel(self, loser, workers: list[str]) -> None:
        """Cancel the attempt that lost: its dask future, and its thread if it still runs."""
        client = self.scheduler.client
        try:
            client.cancel([loser])
            done = client.run(interrupt_attempt, key=loser.key, workers=workers, on_error="return")
            logger.debug("interrupting %s: %s", loser.key, done)
        except Exception:
            logger.debug("cancelling %s failed", loser.key, exc_info=True)

    def check(self) -> None:
        """Note when running tasks started; copy the stragglers of stages mostly done."""
        sched = self.scheduler
        state = sched.state
        running = {sched.keys.get(t): t for t in state.in_flight
                   if t.remote and sched.keys.get(t) is not None}
        if not running:
            return
        try:
            times = sched.client.run_on_scheduler(_executing, list(running))
        except Exception:  # e.g. a scheduler that cannot unpickle bndl_dask: no speculation
            logger.debug("speculation: could not ask the scheduler", exc_info=True)
            return
        now = time.monotonic()
        logger.debug("speculation: executing %s, finished %s", times, dict(self.finished))
        for key, (seconds, _) in times.items():
            self._started.setdefault(running[key], now - seconds)
        stages: dict[str, list[Task]] = defaultdict(list)
        for task in sched.tasks:
            if task.remote:
                stages[sched.keys.labels[task]].append(task)
        for label, tasks in stages.items():
            done = sum(task in state.succeeded for task in tasks)
            if done == len(tasks) or done < self.settings.quantile * len(tasks) \
                    or not self.finished.get(label):
                continue
            limit = max(MIN_TASK_SECONDS,
                        self.settings.multiplier * statistics.median(self.finished[label]))
            for task in tasks:
                key = sched.keys.get(task)
                if key in times and task not in self.copies and \
                        now - self._started[task] > limit:
                    self._copy(task, times[key][1], now - self._started[task], limit)

    def _copy(self, task: Task, address: str, seconds: float, limit: float) -> None:
        sched = self.scheduler
        state = sched.state
        alive = sched.liveness.alive()
        others = [w.address for w in sched.placement.allowed(task, alive) if w.address != address]
        if not others:
            return
        deps = sorted(task.dependencies)
        if any(dep.remote and state.dask.get(dep) is None and dep not in state.outcomes
               for dep in deps):
            return
        remote = [d for d in deps if d.remote and d in state.dask]
        literals = {d: state.value_of(d) for d in deps if d not in remote}
        if not isinstance(task, RmiTask):
            return  # barriers run on the driver: nothing to copy
        spec = task.spec(remote, literals)
        label = sched.keys.labels[task]
        key = (f"{label}-{sched.token}-copy", sched.keys.rank[task],
               sched.keys.generation[task])
        # never final: a copy that fails must not cancel the job on its worker
        meta = TaskMeta(key, task.id, task.desc or task.name, sched.token, False)
        future = sched.client.submit(invoke, meta, spec, *(state.dask[d] for d in remote),
                                     key=key, workers=others, allow_other_workers=False,
                                     pure=False)
        self.copies[task] = future
        self._where[task] = ([address], others)
        logger.info("%s has run %.1f s on %s (the stage's limit: %.2f s): a copy runs on %s",
                    task, seconds, address, limit, ", ".join(others))
        generation = sched.keys.generation[task]
        future.add_done_callback(lambda fut, t=task, g=generation: sched._events.put(
            ("copy", t, g, fut)))

    def adopt(self, event: tuple) -> tuple | None:
        """A copy finished: the task's ``("dask", ...)`` event when the copy won, else None."""
        _, task, generation, future = event
        sched = self.scheduler
        state = sched.state
        copy = self.copies.get(task)
        if copy is None or copy is not future:
            return None
        if generation != sched.keys.generation.get(task) or task not in state.in_flight \
                or copy.status != "finished":
            return None  # the original won, or was superseded, or the copy failed
        original = state.dask.get(task)
        state.dask[task] = future
        # dependents dask holds waiting on the original: submitted again on the copy's result
        state.invalidate_downstream(task)
        if original is not None and original is not future:
            self._cancel(original, self._where[task][0])
        logger.info("the copy of %s finished first", task)
        return ("dask", task, generation, future)
