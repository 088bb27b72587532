"""dask spans for bndl jobs: every job runs in a span named after it, every stage in a child.

dask's own dashboard pages (Fine Performance Metrics, the task stream's span filter) then show
the time of each bndl job and stage. The span travels to the scheduler as the ``span``
annotation of the tasks submitted (``distributed.span`` only sets that annotation).

>>> from bndl_dask.execute import Job, RmiTask
>>> job = Job(None, [RmiTask(None, 0, abs, (-1,), group=1)], name='count', desc='count at x.py:1')
>>> spans = JobSpans(job)
>>> spans.of(job.tasks[0])['name'] == (f'bndl job {job.id}: count at x.py:1', 'stage 1')
True
"""

from __future__ import annotations

from typing import Any

import dask
import distributed

from bndl_dask.execute.job import Job, Task


def job_span_name(job: Job) -> str:
    """The tag of a job's span: its number, action, dataset and call site."""
    return f"bndl job {job.id}: {job.desc or job.name or 'job'}"


def stage_span_name(group: Any) -> str:
    """A stage's name: ``stage 2``; tasks of a job without stages are just ``tasks``."""
    if group is None:
        return "tasks"
    return f"stage {group}" if isinstance(group, int) else str(group)


class JobSpans:
    """The span annotations of one job: the job's, and one per stage (task ``group``)."""

    def __init__(self, job: Job):
        self.stages: dict[Any, dict] = {}
        with distributed.span(job_span_name(job)) as span_id:
            self.id = span_id
            self.job = dask.get_annotations()["span"]
            for group in dict.fromkeys(task.group for task in job.tasks):
                if group is None or group == "hidden":
                    continue  # bookkeeping (barriers) and ungrouped tasks: the job's own span
                with distributed.span(stage_span_name(group)):
                    self.stages[group] = dask.get_annotations()["span"]

    def of(self, task: Task) -> dict:
        """The ``span`` annotation for ``task``'s dask task."""
        return self.stages.get(task.group, self.job)
