"""The scheduler's rules with real worker processes: per-worker concurrency, attempts (never on a
worker the task failed on), DependenciesFailed / FailedDependency re-runs, tasks marked done, and
BNDL's three-stage barrier jobs."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import pytest
from distributed import Event, Queue, get_worker
from helpers import first_time, unique

from bndl_dask.execute import (
    BarrierTask,
    DependenciesFailed,
    FailedDependency,
    InvocationException,
    Job,
    RmiTask,
    Task,
    current_worker,
)

WAIT = 60




def record(queue_name: str, value) -> None:
    Queue(queue_name).put(value)


def drain(ctx, queue_name: str) -> Counter:
    queue = Queue(queue_name, client=ctx.client)
    return Counter(queue.get(batch=True)) if queue.qsize() else Counter()


def rmi(ctx, task_id, method, *args, **options) -> RmiTask:
    return RmiTask(ctx, task_id, method, args, **options)


def run(ctx, tasks, **options) -> list:
    return [(task.id, task.result()) for task in ctx.execute(Job(ctx, tasks), **options)]


# -- concurrency -------------------------------------------------------------------------------

def measured(gate: str, started: str, i: int) -> int:
    """Count this job's tasks running at once on this worker process; hold until the gate."""
    worker = get_worker()
    state = worker.__dict__.setdefault(
        "_bndl_test_running", {"lock": threading.Lock(), "now": 0, "max": 0})
    with state["lock"]:
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
    try:
        Queue(started).put(i)
        event = Event(gate)
        deadline = time.monotonic() + WAIT
        while not event.wait(0.05):
            if time.monotonic() > deadline:
                raise TimeoutError("gate never opened")
    finally:
        with state["lock"]:
            state["now"] -= 1
    return i


def peak(dask_worker) -> int:
    state = dask_worker.__dict__.get("_bndl_test_running")
    return state["max"] if state else 0


def test_concurrency_caps_tasks_per_worker(make_ctx):
    ctx = make_ctx(worker_count=2, threads_per_worker=4)
    ctx.await_workers(2)
    gate, started = unique("gate"), unique("started")
    tasks = [rmi(ctx, i, measured, gate, started, i) for i in range(10)]
    results = []

    def consume():
        results.extend(t.result() for t in ctx.execute(Job(ctx, tasks), concurrency=2))

    consumer = threading.Thread(target=consume)
    consumer.start()
    try:
        queue = Queue(started, client=ctx.client)
        first = [queue.get(timeout=WAIT) for _ in range(4)]  # 2 slots x 2 workers are busy
        assert len(set(first)) == 4
        assert ctx.client.run(peak) == {w.address: 2 for w in ctx.workers}
    finally:
        Event(gate, client=ctx.client).set()
        consumer.join(WAIT)
    assert results == list(range(10))
    assert set(ctx.client.run(peak).values()) == {2}


# -- attempts ----------------------------------------------------------------------------------

def flaky(marker: str) -> str:
    """Fails the first time it runs anywhere, then succeeds."""
    if first_time(marker):
        raise ValueError("flaky", current_worker().name)
    return current_worker().name


def test_flaky_task_succeeds_on_another_worker(ctx, tmp_path):
    task = rmi(ctx, 0, flaky, str(tmp_path / "flaky"))
    for done in ctx.execute(Job(ctx, [rmi(ctx, 1, abs, -1), task]), attempts=2):
        if done is task:
            name = task.result()
            first, second = task.executed_on  # read during the job: release() trims it
            assert first != second  # never retried on the worker it failed on
            assert name == second
    assert task.attempts == 2


def test_flaky_task_fails_the_job_with_one_attempt(ctx, tmp_path):
    with pytest.raises(ValueError) as info:
        run(ctx, [rmi(ctx, 0, flaky, str(tmp_path / "flaky"))], attempts=1)
    assert isinstance(info.value, InvocationException)
    assert info.value.__cause__.args[0] == "flaky"


def always_fails(queue_name: str):
    record(queue_name, current_worker().name)
    raise KeyError("no")


def test_attempts_are_used_up(ctx):
    queue_name = unique("fails")
    with pytest.raises(KeyError):
        run(ctx, [rmi(ctx, 0, always_fails, queue_name)], attempts=2)
    ran_on = drain(ctx, queue_name)
    assert sorted(ran_on.values()) == [1, 1]  # once on each worker, not twice on one


# -- DependenciesFailed and FailedDependency ----------------------------------------------------

def writer(queue_name: str, i: int):
    record(queue_name, ("w", i))
    return i, current_worker().name


def reader(queue_name: str, marker: str, *written):
    record(queue_name, "r")
    if first_time(marker):
        # the outputs of writers 1 and 2 are "gone" from the workers that ran them
        failures: dict = {}
        for i in (1, 2):
            failures.setdefault(written[i][1], []).append(("w", i))
        raise DependenciesFailed(failures)
    return sum(i for i, _ in written)


def test_dependencies_failed_reruns_exactly_the_named_tasks(ctx, tmp_path):
    queue_name = unique("deps")
    writers = [rmi(ctx, ("w", i), writer, queue_name, i) for i in range(4)]
    read = rmi(ctx, ("r", 0), reader, queue_name, str(tmp_path / "read"), *writers)
    other = rmi(ctx, ("x", 0), lambda w: w[0], writers[1])
    results = dict(run(ctx, writers + [read, other], attempts=1))
    assert results[("r", 0)] == 6 and results[("x", 0)] == 1
    counts = drain(ctx, queue_name)
    assert counts == {("w", 0): 1, ("w", 1): 2, ("w", 2): 2, ("w", 3): 1, "r": 2}, counts


def lost_once(queue_name: str, marker: str):
    record(queue_name, "lost")
    if first_time(marker):
        raise FailedDependency()
    return "found"


def test_failed_dependency_raised_by_a_task_reruns_it(ctx, tmp_path):
    queue_name = unique("lost")
    task = rmi(ctx, 0, lost_once, queue_name, str(tmp_path / "lost"))
    assert run(ctx, [task], attempts=1) == [(0, "found")]
    assert drain(ctx, queue_name) == {"lost": 2}


class ConsumesOnce(Task):
    """Driver-side task: the first time, it finds its dependency's output gone (marks it failed
    after the fact, as BNDL's shuffle readers do with their barrier) and fails itself."""

    runs = 0

    def execute(self, scheduler, worker):
        self.set_executing(worker)
        ConsumesOnce.runs += 1
        (dep,) = self.dependencies
        if ConsumesOnce.runs == 1:
            dep.mark_failed(FailedDependency())
            self.future.set_exception(DependenciesFailed({}))
        else:
            self.future.set_result(dep.result()[0] + 1)
        self.signal_stop()


def test_task_marked_failed_after_the_fact_runs_again(ctx):
    queue_name = unique("posthoc")
    ConsumesOnce.runs = 0
    source = rmi(ctx, 0, writer, queue_name, 0)
    consumer = ConsumesOnce(ctx, 1)
    consumer.add_dependency(source)
    results = dict(run(ctx, [source, consumer], attempts=1))
    assert results == {0: (0, source.executed_on_last()), 1: 1}
    assert ConsumesOnce.runs == 2
    assert drain(ctx, queue_name) == {("w", 0): 2}


# -- BNDL's test_scheduler: 3 groups of 5 joined by barriers -----------------------------------

def member(task_id, marker_dir: str, fail_once: dict, *inputs):
    """Returns its own id; once, may fail as ``fail_once[task_id]`` says."""
    spec = fail_once.get(task_id)
    if spec is not None and first_time(os.path.join(marker_dir, "-".join(map(str, task_id)))):
        kind, payload = spec
        if kind == "error":
            raise RuntimeError("transient")
        raise DependenciesFailed({None: payload})
    return task_id


def three_groups(ctx, marker_dir: str, fail_once: dict) -> list[Task]:
    tasks: list[Task] = []
    barrier = None
    for group in range(1, 4):
        members = [RmiTask(ctx, (group, i), member,
                           (((group, i)), marker_dir, fail_once) + ((barrier,) if barrier else ()),
                           group=group) for i in range(5)]
        tasks.extend(members)
        if group < 3:
            barrier = BarrierTask(ctx, (group, 9), members)
            tasks.append(barrier)
    return tasks


def check_ids(ctx, tasks, **options) -> None:
    yielded = []
    for task in ctx.execute(Job(ctx, tasks), **options):
        yielded.append(task)
        if not isinstance(task, BarrierTask):
            assert task.result() == task.id
    assert yielded == tasks  # every task once, in order


def test_transient_failure_uses_a_second_attempt(ctx, tmp_path):
    tasks = three_groups(ctx, str(tmp_path), {(2, 3): ("error", None)})
    check_ids(ctx, tasks, attempts=2)
    attempts = {t.id: t.attempts for t in tasks}
    assert attempts.pop((2, 3)) == 2
    assert set(attempts.values()) == {1}


def test_dependencies_failed_across_barriers(ctx, tmp_path):
    fail_once = {(2, 1): ("deps", [(1, 0), (1, 2)]), (3, 4): ("deps", [(2, 1), (2, 3), (2, 4)])}
    tasks = three_groups(ctx, str(tmp_path), fail_once)
    check_ids(ctx, tasks, attempts=1)


def test_groups_marked_done_are_not_executed(ctx, tmp_path):
    tasks = three_groups(ctx, str(tmp_path), {})
    for task in tasks:
        if task.group != 3:
            task.mark_done([(2, i) for i in range(5)] if task.id == (2, 9) else task.id)
    check_ids(ctx, tasks)
    assert {t.attempts for t in tasks if t.group in (1, 2, "hidden")} == {0}
    assert {t.attempts for t in tasks if t.group == 3} == {1}
