"""Failures: the user's own exception types, attempts on datasets, cancellation reaching running
tasks, and workers SIGKILLed in the middle of a job (one private cluster for the killing)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from distributed import Event, Queue
from helpers import first_time, unique

from bndl_dask import ComputeContext
from bndl_dask.execute import (
    BarrierTask,
    InvocationException,
    Job,
    RmiTask,
    TaskCancelled,
    current_worker,
)

WAIT = 60




def busy_until(deadline: float) -> None:
    """Keep the thread busy in short steps (TaskCancelled lands between them)."""
    while time.monotonic() < deadline:
        time.sleep(0.01)
    raise TimeoutError("nobody stopped this task")


@pytest.fixture(scope="module")
def kctx():
    """2 worker processes x 3 threads that tests may cancel tasks on and SIGKILL."""
    context = ComputeContext(worker_count=2, threads_per_worker=3, dashboard=False)
    context.await_workers(2)
    yield context
    context.stop()


def ready(ctx) -> None:
    """Wait until both workers are back (the nanny restarts a killed one)."""
    ctx.client.wait_for_workers(2, timeout=WAIT)


def in_thread(target) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = target()
        except BaseException as exc:  # noqa: B036 - handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


# -- errors on datasets ------------------------------------------------------------------------

def test_map_error_keeps_its_type(ctx):
    def fail(i):
        raise ValueError("test")

    with pytest.raises(ValueError) as info:
        ctx.range(10).map(fail).collect()
    assert isinstance(info.value, InvocationException)
    assert type(info.value.__cause__) is ValueError and info.value.__cause__.args == ("test",)
    assert ctx.range(10).count() == 10


def test_failure_on_one_worker_needs_a_second_attempt(ctx):
    bad = ctx.workers[0].name

    def fails_on_bad(i):
        if current_worker().name == bad:
            raise RuntimeError("bad worker")
        return i

    data = ctx.range(10, pcount=len(ctx.workers)).map(fails_on_bad)
    previous = ctx.conf["bndl.execute.attempts"]
    try:
        ctx.conf["bndl.execute.attempts"] = 1
        with pytest.raises(RuntimeError):
            data.count()
        ctx.conf["bndl.execute.attempts"] = 2
        assert data.count() == 10
    finally:
        ctx.conf["bndl.execute.attempts"] = previous


# -- cancellation ------------------------------------------------------------------------------

def cancellable(started: str, ready_for_0: str, cancelled: str, i: int) -> int:
    try:  # the cancel may land while a put still waits for its reply
        Queue(started).put(i)
        Queue(ready_for_0).put(i)
        busy_until(time.monotonic() + WAIT)
    except TaskCancelled:
        Queue(cancelled).put(i)
        raise
    return i


def fail_when_others_run(ready_for_0: str, others: int):
    queue = Queue(ready_for_0)
    for _ in range(others):
        queue.get(timeout=WAIT)
    raise ValueError(1)


def test_failure_cancels_running_and_queued_tasks(kctx):
    ready(kctx)
    started, ready_for_0, cancelled = unique("started"), unique("ready"), unique("cancelled")
    slots = 2 * 3  # workers x concurrency
    tasks = [RmiTask(kctx, 0, fail_when_others_run, (ready_for_0, slots - 1))]
    tasks += [RmiTask(kctx, i, cancellable, (started, ready_for_0, cancelled, i))
              for i in range(1, 10)]
    with pytest.raises(ValueError) as info:
        list(kctx.execute(Job(kctx, tasks), concurrency=3, attempts=1))
    assert isinstance(info.value, InvocationException)
    assert info.value.__cause__.args == (1,)
    cancelled_queue = Queue(cancelled, client=kctx.client)
    interrupted = {cancelled_queue.get(timeout=WAIT) for _ in range(slots - 1)}
    started_queue = Queue(started, client=kctx.client)
    assert set(started_queue.get(batch=True)) == interrupted  # the running ones, and no others
    assert len(interrupted) == slots - 1
    assert [t.id for t in tasks if t.succeeded] == []
    assert [r.result() for r in kctx.execute(Job(kctx, [RmiTask(kctx, 0, abs, (-2,))]))] == [2]


# -- workers that die --------------------------------------------------------------------------

def writer(i: int) -> int:
    return i


def reader(marker: str, pids: str, j: int, written: list) -> int:
    if j == 0 and first_time(marker):
        Queue(pids).put(os.getpid())  # the test kills this process now
        busy_until(time.monotonic() + WAIT)
    return sum(written) * 10 + j


def test_sigkill_mid_job_still_gives_correct_results(kctx, tmp_path):
    ready(kctx)
    pids = unique("pids")
    writers = [RmiTask(kctx, ("w", i), writer, (i,)) for i in range(6)]
    barrier = BarrierTask(kctx, ("b", 6), writers)
    readers = [RmiTask(kctx, ("r", j), reader, (str(tmp_path / "killed"), pids, j, barrier))
               for j in range(4)]
    job = Job(kctx, writers + [barrier] + readers)
    # attempts=1: the reader lost with its worker must not count as a failed attempt
    thread, outcome = in_thread(
        lambda: [t.result() for t in kctx.execute(job, attempts=1)])
    pid = Queue(pids, client=kctx.client).get(timeout=WAIT)
    os.kill(pid, signal.SIGKILL)
    thread.join(WAIT * 2)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["value"][7:] == [150, 151, 152, 153]
    assert outcome["value"][6] == list(range(6))


class OnlyOn(RmiTask):
    """May only run on one worker (all others forbidden)."""

    def __init__(self, ctx, task_id, method, args, name: str):
        super().__init__(ctx, task_id, method, args)
        self.only = name

    def locality(self, workers):
        return [(w, -1) for w in workers if w.name != self.only]


def hold(gate: str, value):
    event = Event(gate)
    deadline = time.monotonic() + WAIT
    while not event.wait(0.05):
        if time.monotonic() > deadline:
            raise TimeoutError("gate never opened")
    return value


def test_task_restricted_to_a_dead_worker_does_not_hang(kctx):
    ready(kctx)
    victim = kctx.workers[0]
    pids = kctx.client.run(os.getpid)
    gate = unique("gate")
    first = RmiTask(kctx, 0, hold, (gate, 1))
    pinned = OnlyOn(kctx, 1, lambda x: (x, current_worker().name), (first,), victim.name)
    thread, outcome = in_thread(
        lambda: [t.result() for t in kctx.execute(Job(kctx, [first, pinned]), attempts=1)])
    os.kill(pids[victim.address], signal.SIGKILL)
    Event(gate, client=kctx.client).set()
    thread.join(WAIT)
    assert not thread.is_alive(), "the job hangs on a task restricted to a dead worker"
    if "error" in outcome:  # the worker was not back yet: a clear error
        assert "cannot be executed on any available workers" in str(outcome["error"])
    else:  # the worker was restarted under its name: the task went there
        assert outcome["value"] == [1, (1, victim.name)]
