"""The execute API: jobs and tasks, streaming, dependencies, priorities, locality, task states,
driver-side tasks, barriers and the generator protocol, on the session's worker processes."""

from __future__ import annotations

import concurrent.futures
import time
import uuid

import pytest
from distributed import Event, Queue, get_worker

from bndl_dask.execute import (
    BarrierTask,
    InvocationException,
    Job,
    RmiTask,
    Scheduler,
    Task,
    TaskCancelled,
    current_worker,
    task_context,
)

WAIT = 60  # seconds any gate waits at most: a broken scheduler fails the test, never hangs it


def gate_name() -> str:
    return f"gate-{uuid.uuid4().hex}"


def wait_gate(name: str, value=None):
    """Inside a task: block until the driver opens gate ``name``, then return ``value``.

    Waits in short slices: TaskCancelled reaches a thread only between Python bytecodes.
    """
    event = Event(name)
    deadline = time.monotonic() + WAIT
    while not event.wait(0.05):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {name} was never opened")
    return value


def put(queue_name: str, value, result=None):
    Queue(queue_name).put(value)
    return result


def worker_name(*_args) -> str:
    return current_worker().name


def clock(value):
    """The worker's clock when the task ran (comparable between tasks on one worker)."""
    return value, get_worker().name, time.monotonic_ns()


def rmi(ctx, task_id, method, *args, **options) -> RmiTask:
    return RmiTask(ctx, task_id, method, args, **options)


def run(ctx, tasks, **options) -> list:
    return [task.result() for task in ctx.execute(Job(ctx, tasks), **options)]


class Located(RmiTask):
    """An RmiTask with a fixed locality per worker name."""

    def __init__(self, ctx, task_id, method, args, localities: dict[str, int]):
        super().__init__(ctx, task_id, method, args)
        self.localities = localities

    def locality(self, workers):
        return [(w, self.localities[w.name]) for w in workers if w.name in self.localities]


class DriverTask(Task):
    """A task with its own execute(): it runs on the driver, adding up its dependencies."""

    calls: list = []

    def execute(self, scheduler, worker):
        self.set_executing(worker)
        DriverTask.calls.append((self.id, worker.name))
        self.future.set_result(sum(dep.result() for dep in sorted(self.dependencies)) + 100)
        self.signal_stop()
        return self.future


# -- results -----------------------------------------------------------------------------------

def test_results_in_task_order(ctx):
    tasks = [rmi(ctx, i, pow, 2, i) for i in range(6)]
    assert run(ctx, tasks) == [2 ** i for i in range(6)]


def test_ordered_results_stream(ctx):
    # task 1 only finishes after the driver has received task 0's result: had the results not
    # been streamed, the task's gate would time out and the job fail
    gate = gate_name()
    tasks = [rmi(ctx, 0, abs, -10), rmi(ctx, 1, wait_gate, gate, 11)]
    received = []
    for task in ctx.execute(Job(ctx, tasks)):
        received.append(task.result())
        if task.id == 0:
            Event(gate, client=ctx.client).set()
    assert received == [10, 11]


def test_unordered_results_as_completed(ctx):
    gate = gate_name()
    tasks = [rmi(ctx, 0, wait_gate, gate, "slow"), rmi(ctx, 1, abs, -1)]
    received = []
    for task in ctx.execute(Job(ctx, tasks), order_results=False):
        received.append(task.result())
        if task.id == 1:
            Event(gate, client=ctx.client).set()
    assert received == [1, "slow"]


def test_empty_job_yields_nothing(ctx):
    assert list(ctx.execute(Job(ctx, []))) == []


def test_execute_is_lazy_and_checks_arguments(ctx):
    gen = ctx.execute(Job(ctx, [rmi(ctx, 0, abs, -1)]), concurrency=0)
    with pytest.raises(ValueError):
        next(gen)
    with pytest.raises(ValueError):
        next(ctx.execute(Job(ctx, [rmi(ctx, 0, abs, -1)]), attempts=0))


def test_current_worker_is_one_of_the_workers(ctx):
    names = {w.name for w in ctx.workers}
    results = run(ctx, [rmi(ctx, i, worker_name) for i in range(4)])
    assert set(results) <= names
    handle = run(ctx, [rmi(ctx, 0, current_worker)])[0]
    assert handle in ctx.workers
    with pytest.raises(RuntimeError):
        current_worker()
    with pytest.raises(RuntimeError):
        task_context()


# -- dependencies and priorities ---------------------------------------------------------------

def test_task_arguments_are_results_of_other_tasks(ctx):
    a = rmi(ctx, 0, pow, 2, 3)
    b = rmi(ctx, 1, pow, 3, 2)
    c = rmi(ctx, 2, divmod, b, a)
    d = RmiTask(ctx, 3, dict, (), {"a": a, "c": c})
    assert a in c.dependencies and c in a.dependents and c in d.dependencies
    assert run(ctx, [d, c, b, a]) == [{"a": 8, "c": (1, 1)}, (1, 1), 9, 8]


def test_dependencies_run_first(ctx):
    # b depends on a without taking its result: it must still run after a has finished
    queue_name = gate_name()
    a = rmi(ctx, 0, put, queue_name, "a", "a done")
    b = rmi(ctx, 1, lambda name: Queue(name).get(timeout=0.001), queue_name)
    b.add_dependency(a)
    assert run(ctx, [a, b]) == ["a done", "a"]


def hold_until_queued(job_token: str, count: int) -> bool:
    """Occupy this worker's thread until ``count`` tasks of the job wait in its queue."""
    worker = get_worker()
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        queued = [key for key, ts in list(worker.state.tasks.items())
                  if job_token in str(key) and ts.state in ("ready", "constrained")]
        if len(queued) >= count:
            return True
        time.sleep(0.005)  # polling the worker's own state, with a deadline
    raise TimeoutError(f"{count} tasks of {job_token} never queued here")


def test_lower_priority_runs_first(ctx):
    worker = ctx.workers[0]
    assert worker.nthreads == 1
    tasks = [rmi(ctx, i, clock, i, priority=-i) for i in range(5)]
    job = Job(ctx, tasks)
    # the worker's only thread is busy until all of the job's tasks wait for it
    blocker = ctx.client.submit(hold_until_queued, f"-j{job.id}-", 5,
                                workers=[worker.address], pure=False)
    try:
        results = [task.result() for task in ctx.execute(job, workers=[worker])]
        assert blocker.result() is True
    finally:
        blocker.release()
    assert [value for value, _, _ in results] == list(range(5))
    assert {name for _, name, _ in results} == {worker.name}
    by_start = sorted(results, key=lambda r: r[2])
    assert [value for value, _, _ in by_start] == [4, 3, 2, 1, 0]


# -- locality ----------------------------------------------------------------------------------

def test_forbidden_workers_never_run_a_task(ctx):
    workers = ctx.workers
    allowed = workers[-1].name
    localities = {w.name: -1 for w in workers if w.name != allowed}
    tasks = [Located(ctx, i, worker_name, (), localities) for i in range(6)]
    assert run(ctx, tasks) == [allowed] * 6


def test_preferred_worker_is_used(ctx):
    workers = ctx.workers
    preferred = workers[0].name
    tasks = [Located(ctx, i, worker_name, (), {preferred: 2}) for i in range(4)]
    assert run(ctx, tasks) == [preferred] * 4


def test_task_forbidden_everywhere_fails_the_job(ctx):
    localities = {w.name: -1 for w in ctx.workers}
    with pytest.raises(Exception, match="cannot be executed on any available workers"):
        run(ctx, [Located(ctx, 0, worker_name, (), localities)])
    assert run(ctx, [rmi(ctx, 0, abs, -3)]) == [3]


def test_workers_argument_limits_the_job(ctx):
    only = ctx.workers[1]
    assert run(ctx, [rmi(ctx, i, worker_name) for i in range(4)], workers=[only]) == \
        [only.name] * 4


# -- barrier -----------------------------------------------------------------------------------

def test_barrier_joins_many_to_many_with_n_plus_m_edges(ctx):
    writers = [rmi(ctx, ("w", i), pow, 10, i) for i in range(4)]
    barrier = BarrierTask(ctx, ("b", 4), writers)
    readers = [rmi(ctx, ("r", j), lambda xs, j: sum(xs) * j, barrier, j) for j in range(3)]
    tasks = writers + [barrier] + readers
    edges = sum(len(t.dependencies) for t in tasks)
    assert edges == len(writers) + len(readers)
    assert barrier.group == "hidden"
    results = run(ctx, tasks)
    assert results[4] == [1, 10, 100, 1000]
    assert results[5:] == [0, 1111, 2222]


# -- task objects ------------------------------------------------------------------------------

def test_task_defaults_and_repr(ctx):
    task = rmi(ctx, (3, 1), abs, -1)
    assert task.priority == (3, 1)
    assert task.name == "task 3.1" and task.desc == "unknown task 3.1"
    assert not task.started and not task.done and not task.pending
    assert task.attempts == 0 and task.executed_on == []
    assert repr(task) == "<RmiTask 3.1 none>"
    job = Job(ctx, [rmi(ctx, 0, abs, 1, group=1), rmi(ctx, 1, abs, 1, group=2)], name="j")
    assert [t.id for t in job.group(1)] == [0]


def test_task_states_blocked_pending_done(ctx):
    gate = gate_name()
    held = rmi(ctx, 0, wait_gate, gate, 5)
    after = rmi(ctx, 1, lambda x: x + 1, held)
    quick = rmi(ctx, 2, abs, -7)
    states = {}
    for task in ctx.execute(Job(ctx, [held, after, quick]), order_results=False):
        if task is quick:
            assert quick.done and quick.succeeded and not quick.failed
            assert quick.result() == 7 and quick.attempts == 1
            assert quick.executed_on and quick.executed_on[0] in {w.name for w in ctx.workers}
            states["held"] = (held.state, held.started, held.pending, held.done)
            states["after"] = (after.state, after.started, after.pending, after.done)
            Event(gate, client=ctx.client).set()
        elif task is after:
            states["after done"] = (after.state, after.done, after.succeeded, after.result())
            assert held.state == "done" and held.result() == 5
    assert states["held"] == ("pending", True, True, False)
    assert states["after"] == ("blocked", False, False, False)
    assert states["after done"] == ("done", True, True, 6)


def test_failed_task_state(ctx):
    failing = rmi(ctx, 0, int, "x")
    with pytest.raises(ValueError):
        run(ctx, [failing])
    assert failing.failed and failing.done and not failing.succeeded
    assert isinstance(failing.exception(), ValueError)
    assert failing.state == "failed"
    with pytest.raises(ValueError):
        failing.result()


def test_tasks_marked_done_are_not_executed(ctx):
    queue_name = gate_name()
    first = rmi(ctx, 0, put, queue_name, 0, "computed")
    first.mark_done("given")
    second = rmi(ctx, 1, lambda x: x + "!", first)
    assert run(ctx, [first, second]) == ["given", "given!"]
    assert first.attempts == 0
    assert Queue(queue_name, client=ctx.client).qsize() == 0


def test_mark_failed_and_cancel(ctx):
    task = rmi(ctx, 0, abs, 1)
    task.mark_done(1)
    assert task.succeeded
    task.mark_failed(KeyError("gone"))
    assert task.failed and isinstance(task.exception(), KeyError)
    other = rmi(ctx, 1, abs, 1)
    other.cancel()
    assert other.cancelled
    with pytest.raises(concurrent.futures.CancelledError):
        other.set_executing(ctx.workers[0])


def test_driver_side_task_is_executed_when_ready(ctx):
    DriverTask.calls.clear()
    a = rmi(ctx, 0, abs, -1)
    b = rmi(ctx, 1, abs, -2)
    local = DriverTask(ctx, 2)
    local.add_dependency(a)
    local.add_dependency(b)
    after = rmi(ctx, 3, lambda x: x * 2, local)
    assert run(ctx, [a, b, local, after]) == [1, 2, 103, 206]
    assert [call[0] for call in DriverTask.calls] == [2]
    assert DriverTask.calls[0][1] in {w.name for w in ctx.workers}
    assert local.attempts == 1


# -- the generator -----------------------------------------------------------------------------

def held(gate: str, started: str, cancelled: str, value):
    try:  # the cancel may land while the put still waits for its reply
        Queue(started).put(value)
        return wait_gate(gate, value)
    except TaskCancelled:
        Queue(cancelled).put(value)
        raise


def test_closing_the_generator_aborts_the_job(ctx):
    gate, started, cancelled = gate_name(), gate_name(), gate_name()
    tasks = [rmi(ctx, 0, abs, -1)] + [rmi(ctx, i, held, gate, started, cancelled, i)
                                      for i in range(1, 5)]
    worker = ctx.workers[0]  # one thread: one held task runs, the others wait for it
    gen = ctx.execute(Job(ctx, tasks), workers=[worker])
    assert next(gen).result() == 1
    started_queue = Queue(started, client=ctx.client)
    running = started_queue.get(timeout=WAIT)
    gen.close()  # returns without waiting for the held task: it is cancelled
    assert Queue(cancelled, client=ctx.client).get(timeout=WAIT) == running
    assert started_queue.qsize() == 0  # the queued ones never started
    assert run(ctx, [rmi(ctx, 0, abs, -5)]) == [5]


def test_keyboard_interrupt_propagates(ctx):
    gate = gate_name()
    tasks = [rmi(ctx, 0, abs, -1), rmi(ctx, 1, wait_gate, gate, 1)]
    gen = ctx.execute(Job(ctx, tasks))
    assert next(gen).result() == 1
    with pytest.raises(KeyboardInterrupt):
        gen.throw(KeyboardInterrupt)
    assert run(ctx, [rmi(ctx, 0, abs, -5)]) == [5]


def test_errors_name_worker_and_task(ctx):
    def explode(x):
        raise ValueError("boom", x)

    with pytest.raises(ValueError) as info:
        run(ctx, [rmi(ctx, 0, abs, 1), rmi(ctx, 7, explode, 3, desc="exploding task")])
    exc = info.value
    assert isinstance(exc, InvocationException)
    assert type(exc.__cause__) is ValueError and exc.__cause__.args == ("boom", 3)
    assert "explode" in exc.remote_traceback and "boom" in exc.remote_traceback
    assert exc.worker in {w.name for w in ctx.workers}
    assert exc.worker in str(exc) and "exploding task" in str(exc)
    assert run(ctx, [rmi(ctx, 0, abs, -5)]) == [5]  # the context is still usable


def test_scheduler_directly(ctx):
    events = []
    a = rmi(ctx, "a", pow, 2, 5)
    b = rmi(ctx, "b", str, a)
    Scheduler([b, a], events.append, ctx.workers, concurrency=1, attempts=1).run()
    assert events[-1] is None
    assert [t.id for t in events[:-1]] == ["a", "b"]
    assert b.result() == "32"
    with pytest.raises(ValueError):
        Scheduler([], events.append, ctx.workers)
    with pytest.raises(ValueError):
        Scheduler([rmi(ctx, 1, abs, 1), rmi(ctx, 1, abs, 2)], events.append, ctx.workers)
    with pytest.raises(Exception, match="No workers"):
        Scheduler([rmi(ctx, 1, abs, 1)], events.append, [])


def test_scheduler_errors_are_typed(ctx):
    """The scheduler's own failures are SchedulerErrors a caller can catch by kind."""
    from bndl_dask.execute import NoWorkersError, SchedulerError, UnplaceableTaskError

    with pytest.raises(NoWorkersError, match="No workers"):
        Scheduler([rmi(ctx, 1, abs, 1)], [].append, [])
    localities = {w.name: -1 for w in ctx.workers}
    with pytest.raises(UnplaceableTaskError) as caught:
        run(ctx, [Located(ctx, 0, worker_name, (), localities)])
    assert isinstance(caught.value, SchedulerError) and isinstance(caught.value, RuntimeError)


def test_execute_settings_come_from_the_conf_and_are_checked():
    from bndl_dask.execute.settings import ExecuteSettings, max_result_size

    defaults = ExecuteSettings.from_conf()
    assert (defaults.liveness_interval, defaults.no_workers_grace) == (1.0, 30.0)
    mine = ExecuteSettings.from_conf({"bndl.execute.refused_grace": 3})
    assert mine.refused_grace == 3.0 and mine.liveness_interval == 1.0
    with pytest.raises(ValueError, match="bndl.execute.no_workers_grace"):
        ExecuteSettings.from_conf({"bndl.execute.no_workers_grace": -1})
    assert max_result_size("1GiB") == 2**30 and max_result_size(0) is None
    with pytest.raises(ValueError, match="max_result_size"):
        max_result_size("plenty")
