"""BNDL's scheduler semantics on dask futures: the event loop of one job.

The scheduler hands every remote task of a job to dask in one graph submission (graph.py):
dependencies are dask keys, locality becomes worker restrictions and per-worker concurrency a
dask resource (placement.py), priorities become dask priorities. Tasks with no locality and no
inputs but barrier results are marked as data producers, so that dask spreads them by load as it
does root tasks. dask then runs the job on its own. The driver only steps in when

* a task fails: it is retried (up to ``attempts``, never on a worker it failed on while another
  worker exists) together with the dependents dask failed along with it (failures.py);
* a task raises ``DependenciesFailed``: the named dependencies are re-run, then the task, without
  using up attempts;
* a worker the job relies on disappears while dask waits for it (a task restricted to it or
  preferring only workers that are gone; liveness.py);
* results stream back: tasks are reported to ``done`` as they finish; final results stay on the
  workers until read (results.py).

Plain ``Task`` subclasses with their own ``execute()`` are called by the scheduler when their
dependencies are done, as in BNDL.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from dask._task_spec import TaskRef

from bndl_dask.execute.exceptions import (
    FailedDependency,
    JobAborted,
    JobStuckError,
    NoWorkersError,
    SchedulerError,
    UnplaceableTaskError,
    root_exc,
)
from bndl_dask.execute.failures import FailurePolicy, Recovery, user_error
from bndl_dask.execute.graph import (
    TaskKeys,
    WaveGraph,
    job_token,
    topological,
)
from bndl_dask.execute.job import Task
from bndl_dask.execute.liveness import WorkerLiveness
from bndl_dask.execute.placement import Placement, free_to_spread
from bndl_dask.execute.results import LeafFetcher, LeafResult
from bndl_dask.execute.settings import ExecuteSettings
from bndl_dask.execute.speculation import Speculator
from bndl_dask.execute.state import JobState
from bndl_dask.worker.identity import WorkerHandle
from bndl_dask.worker.runtime import (
    TaskFailure,
    TaskMeta,
    TaskOutcome,
    inject_cancel,
    invoke,
    unshipped_failure,
)

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from distributed import Client


class Scheduler:
    """Runs ``tasks`` on ``workers``; calls ``done(task)`` for every task that succeeds, ``done``
    with the failed task or an exception when the job fails, and ``done(None)`` last.

    ``concurrency`` caps the tasks of this job running at once on one worker (``None``: as many
    as the worker has threads); ``attempts`` is the number of tries a task gets when its own
    code raises. ``prefetch`` bounds how many finished final results are fetched to the driver
    ahead of being read. ``whole_cluster`` says that ``workers`` are all workers of the cluster
    (tasks then only get restrictions they need). ``settings`` holds the timeouts
    (``bndl.execute.*``); ``span_of(task)`` gives a task's dask span annotation.

    >>> from bndl_dask.execute import Job, RmiTask, Scheduler
    >>> events = []
    >>> tasks = [RmiTask(ctx, i, abs, (-i,)) for i in range(3)]
    >>> Scheduler(tasks, events.append, ctx.workers).run()
    >>> sorted(t.result() for t in events if t is not None)   # in the order they finished
    [0, 1, 2]
    """

    def __init__(self, tasks: Iterable[Task], done: Callable[[Any], None],
                 workers: Sequence[WorkerHandle], concurrency: int | None = 1,
                 attempts: int = 1, *, client: Client | None = None,
                 on_outcome: Callable[[Task, TaskOutcome], None] | None = None,
                 job_id: int = 0, whole_cluster: bool = False, prefetch: int | None = None,
                 settings: ExecuteSettings | None = None,
                 span_of: Callable[[Task], dict] | None = None):
        self.tasks = sorted(tasks)
        if not self.tasks:
            raise ValueError("A scheduler needs at least one task")
        ids = [task.id for task in self.tasks]
        if len(set(ids)) != len(ids):
            raise ValueError("Task ids must be unique within a job")
        if not workers:
            raise NoWorkersError("No workers available")
        self.client = client if client is not None else self._client_of(self.tasks)
        self.settings = settings or ExecuteSettings.from_conf()
        self._rank = {task: rank for rank, task in enumerate(self.tasks)}
        self.placement = Placement(self.tasks, self._rank, concurrency, whole_cluster)
        self.liveness = WorkerLiveness(self.client, workers, whole_cluster,
                                       self.settings.no_workers_grace,
                                       on_joined=self.placement.learn,
                                       stall_timeout=self.settings.stall_timeout)
        if (concurrency is not None and concurrency < 1) or attempts < 1:
            raise ValueError("concurrency and attempts must be >= 1")
        self.done = done
        self.concurrency = concurrency
        self.attempts = attempts
        self.job_id = job_id
        self.token = job_token(job_id)
        self.whole_cluster = whole_cluster
        self.failures = FailurePolicy(attempts)
        self.keys = TaskKeys(self.tasks, self._rank, self.token)
        self._on_outcome_hook = on_outcome or (lambda task, outcome: None)
        self._span_of = span_of  # the dask span (job, stage) of each task (spans.py)
        self._fetcher = LeafFetcher(
            self.client, self.settings.result_prefetch if prefetch is None else prefetch)
        self._by_id = {task.id: task for task in self.tasks}
        for task in self.tasks:
            for alias in task.aliases:
                self._by_id.setdefault(alias, task)
        self._events: queue.Queue = queue.Queue()
        self._lock = threading.RLock()
        self._aborted: BaseException | None = None
        self._abort_requested = threading.Event()
        self._finished = False

        self.state = JobState()
        self.recovery = Recovery(self.state, self.keys, self.liveness, self.failures,
                                 self._by_id, self.settings.failure_timeout)
        self._local_load: dict[str, int] = defaultdict(int)
        self.speculator = Speculator(self, self.settings.speculation,
                                     self.settings.liveness_interval) \
            if self.settings.speculation is not None else None
        for task in self.tasks:
            task.add_listener(_ignore, self._task_signalled)

    @property
    def workers(self) -> list[WorkerHandle]:
        """The job's workers (those that left included, those that joined added)."""
        return self.liveness.workers

    @staticmethod
    def _client_of(tasks: Sequence[Task]):
        for task in tasks:
            ctx = getattr(task, "ctx", None)
            if ctx is not None:
                return ctx.client
        raise ValueError("No dask client: give the scheduler a client or tasks with a context")

    # -- public control --------------------------------------------------------------------------

    def abort(self, exc: BaseException | None = None) -> None:
        """Stop the job from any thread: queued tasks never start, running ones are cancelled."""
        with self._lock:
            if self._aborted is None:
                self._aborted = exc or JobAborted("Scheduler aborted")
        self._abort_requested.set()
        self._events.put(("abort",))

    def run(self) -> None:
        """Execute the whole job in the calling thread."""
        interval = self.settings.liveness_interval
        try:
            self._start()
            next_check = time.monotonic() + interval
            while not self._finished:
                batch = []
                try:
                    batch.append(self._events.get(
                        timeout=max(0.0, next_check - time.monotonic())))
                    while True:  # handle everything that arrived together in one go
                        batch.append(self._events.get_nowait())
                except queue.Empty:
                    pass
                if batch:
                    self._handle(batch)
                # checked on a clock, not only when idle: a busy job can still wait on a
                # restriction to a worker that is gone
                if not self._finished and time.monotonic() >= next_check:
                    self._check_workers()
                    next_check = time.monotonic() + interval
        except BaseException as exc:  # the job fails as a whole, the consumer sees why
            if self._aborted is None:
                # e.g. dask's ClosedClientError on submission: say what happened instead
                self._aborted = self.liveness.scheduler_lost(exc) or exc
            self._cancel_everything()
            self.done(self._aborted)
        finally:
            self._release_futures()
            for task in self.tasks:
                task.remove_listener(_ignore, self._task_signalled)
            self.done(None)

    # -- start-up --------------------------------------------------------------------------------

    def _start(self) -> None:
        self.placement.learn(self.workers)
        self.placement.decide_slots(self.client, self.workers)
        for task in self.tasks:
            if task.succeeded:  # marked done before the job: never executed
                self.state.succeeded.add(task)
                task.state = "done"
                self.done(task)
        if all(task in self.state.succeeded for task in self.tasks):
            self._finished = True
            return
        self._schedule()

    # -- scheduling ------------------------------------------------------------------------------

    def _ready_to_submit(self, task: Task, wave: set[Task]) -> bool:
        for dep in task.dependencies:
            if dep in self.state.succeeded or dep in wave:
                continue
            if dep.remote and dep in self.state.in_flight and dep not in self.state.parked:
                future = self.state.dask.get(dep)
                if future is not None and future.status not in ("error", "cancelled"):
                    continue  # dask passes the result on when it is there
            return False
        return True

    def _schedule(self) -> None:
        """Submit every remote task that can go to dask now; start ready driver-side tasks."""
        if self._aborted is not None:
            return
        wave: list[Task] = []
        wave_set: set[Task] = set()
        # only the tasks not yet handed out: looking at every task per event would cost
        # O(tasks) per finished task
        open_tasks = sorted(self.state.unsubmitted(self.tasks), key=self._rank.__getitem__)
        changed = True
        while changed:  # dependencies ordered after their dependents need another pass
            changed = False
            for task in open_tasks:  # sorted by priority
                if self.state.waiting(task) or task in wave_set:
                    continue
                if task.remote:
                    if self._ready_to_submit(task, wave_set):
                        wave.append(task)
                        wave_set.add(task)
                        changed = True
                elif all(dep in self.state.succeeded for dep in task.dependencies):
                    self._execute_local(task)
        if wave:
            self._submit(topological(wave, wave_set))
        if not self.state.in_flight and not self.state.parked and \
                not self.state.succeeded.issuperset(self.tasks):
            stuck = [t for t in self.tasks if t not in self.state.succeeded]
            raise JobStuckError(
                f"No tasks executable (all tasks have dependencies): {stuck[:5]}")

    def _placement(self, task: Task) -> dict[str, Any]:
        alive = self.liveness.alive()
        allowed = self.placement.allowed(task, alive)
        # the job's worker list may predate a worker that joined just now: look again
        if not allowed and self.liveness.adopt_joined():
            alive = self.liveness.alive()
            allowed = self.placement.allowed(task, alive)
        if not allowed:
            raise UnplaceableTaskError(f"{task} cannot be executed on any available workers"
                                       + self.liveness.gone_note())
        return self.placement.annotations(task, self.failures.avoiding(task, allowed),
                                          len(alive))

    def _submit(self, wave: list[Task]) -> None:
        graph = WaveGraph(self.token)
        wave_set = set(wave)
        for task in wave:
            key = self.keys.next(task)
            remote_deps, literals = [], {}
            for dep in sorted(task.dependencies):
                if dep in wave_set or (dep.remote and dep in self.state.dask and (
                        dep in self.state.in_flight or self.state.dask[dep].status == "finished")):
                    remote_deps.append(dep)
                else:  # ran on the driver, was marked done, or its result was already fetched
                    literals[dep] = self.state.value_of(dep)
            spec = task.spec(remote_deps, literals)
            refs = [TaskRef(self.keys.get(d)) if d in wave_set else self.state.dask[d]
                    for d in remote_deps]
            meta = TaskMeta(key, task.id, task.desc or task.name, self.token,
                            self.failures.is_final(task))
            annotations = self._placement(task)
            if self._span_of is not None:
                annotations = {**annotations, "span": self._span_of(task)}
            self.state.placed_on[task] = frozenset(annotations.get("workers", ()))
            graph.add(key, meta, spec, refs, annotations, free_to_spread(task, annotations))
        # with the previous jobs' releases in the same message: see DeferredReleases.submit
        futures = self._fetcher.releases.submit(graph.graph(), graph.keys)
        by_key = dict(zip(graph.keys, futures)) if isinstance(futures, list) else futures
        for task in wave:
            future = by_key[self.keys.get(task)]
            self.state.dask[task] = future
            self.state.in_flight.add(task)
            if all(d in self.state.succeeded for d in task.dependencies):
                self._set_pending(task)
            else:
                task.state = "blocked"
            generation = self.keys.generation[task]
            future.add_done_callback(
                lambda fut, task=task, gen=generation: self._events.put(("dask", task, gen, fut)))

    def _set_pending(self, task: Task) -> None:
        """Handed to dask with its inputs available: the task is ``pending`` from now on."""
        task.state = "pending"
        if task.future is None or task.future.done():
            task.future = concurrent.futures.Future()
            task.signal_start()

    def _execute_local(self, task: Task) -> None:
        workers = self.placement.allowed(task, self.liveness.alive())
        if not workers:
            raise UnplaceableTaskError(f"{task} cannot be executed on any available workers"
                                       + self.liveness.gone_note())
        workers = self.failures.avoiding(task, workers)
        preferred = self.placement.preferred_among(task, workers)
        worker = min(preferred or workers, key=lambda w: self._local_load[w.name])
        self.state.in_flight.add(task)
        self._local_load[worker.name] += 1
        task.state = "pending"
        try:
            task.execute(self, worker)
        except concurrent.futures.CancelledError:
            self.state.in_flight.discard(task)
            self._local_load[worker.name] -= 1
            return
        except Exception as exc:
            self.state.mark_failed(task, exc)
        future = task.future
        if future is None:
            raise SchedulerError(f"{task}.execute() did not give the task a future")
        future.add_done_callback(
            lambda fut, task=task, w=worker.name: self._events.put(("local", task, fut, w)))

    def execute_remote(self, task: Task, worker: WorkerHandle) -> concurrent.futures.Future:
        """Run one RmiTask on ``worker`` outside the batch (an RmiTask subclass with its own
        ``execute()`` that calls ``RmiTask.execute``)."""
        task.set_executing(worker)
        key = self.keys.single(task)
        literals = {dep: self.state.value_of(dep) for dep in task.dependencies}
        spec = task.spec([], literals)
        meta = TaskMeta(key, task.id, task.desc or task.name, self.token,
                        self.failures.is_final(task))
        dask_future = self.client.submit(invoke, meta, spec, key=key, workers=[worker.address],
                                         allow_other_workers=False, pure=False)
        result_future = task.future

        def finish(fut):
            try:
                outcome = fut.result()
                self._on_outcome_hook(task, outcome)
                result_future.set_result(outcome.value)
            except TaskFailure as failure:
                result_future.set_exception(user_error(task, failure))
            except BaseException as exc:
                result_future.set_exception(exc)
            finally:
                task.signal_stop()

        # fut.result() blocks: not on the client's event loop
        dask_future.add_done_callback(lambda fut: threading.Thread(
            target=finish, args=(fut,), daemon=True).start())
        return result_future

    def _task_signalled(self, task: Task) -> None:
        """Stop listener on every task: notices tasks marked failed after the fact."""
        if self.state.marking or self._finished or not task.done:
            return
        try:
            exc = task.future.exception(timeout=0)
        except BaseException:
            return
        if isinstance(root_exc(exc) if exc is not None else None, FailedDependency):
            self._events.put(("marked", task))

    # -- events ----------------------------------------------------------------------------------

    def _handle(self, batch: list[tuple]) -> None:
        if self._abort_requested.is_set() or any(e[0] == "abort" for e in batch):
            self._cancel_everything()
            self.done(self._aborted)
            self._finished = True
            return
        to_fetch: list[tuple[Task, Any]] = []
        leaves: list[tuple[Task, Any]] = []
        failures: list[tuple[Task, BaseException | None, Any]] = []
        for event in batch:
            kind = event[0]
            if kind == "copy":  # a speculative copy finished: the task's outcome if it won
                event = self.speculator.adopt(event) or ("ignored",)
                kind = event[0]
            if kind == "dask":
                _, task, generation, future = event
                if generation != self.keys.generation.get(task) or task not in self.state.in_flight:
                    continue  # a superseded attempt
                if future.status == "finished":
                    if task.dependents:
                        to_fetch.append((task, future))
                    else:
                        leaves.append((task, future))
                elif future.status in ("error", "cancelled", "lost"):
                    failures.append((task, None, future))
            elif kind == "local":
                _, task, future, worker = event
                self._local_load[worker] -= 1
                if task not in self.state.in_flight:
                    continue
                self.state.in_flight.discard(task)
                if future.cancelled():
                    failures.append((task, concurrent.futures.CancelledError(), None))
                elif future.exception() is not None:
                    failures.append((task, future.exception(), None))
                else:
                    self._task_succeeded(task)
            elif kind == "marked":
                self.recovery.marked_failed(event[1])
        if to_fetch:
            self._fetch(to_fetch, failures)
        # after the fetches: a leaf that finished in the same batch as one of its inputs is
        # seen done only once that input is (the consumer may look at both)
        with self._fetcher.together():
            for task, future in leaves:
                self._leaf_succeeded(task, future)
        for task, exc, future in failures:
            if self._aborted is not None:
                break
            if future is not None and self.state.dask.get(task) is not future:
                continue  # superseded by an earlier failure in this batch (e.g. its input lost)
            error = self.recovery.task_failed(task, exc, future, self._aborted is not None)
            if error is not None:
                self.done(task)
                self._aborted = error
        if self._aborted is not None:
            self._cancel_everything()
            self.done(self._aborted)
            self._finished = True
            return
        if self.state.succeeded.issuperset(self.tasks):
            self._finished = True
            return
        self._schedule()

    def _fetch(self, items: list[tuple[Task, Any]], failures: list) -> None:
        futures = [future for _, future in items]
        try:
            outcomes = self.client.gather(futures, errors="skip")
        except Exception:
            outcomes = None
        if outcomes is None or len(outcomes) != len(items):  # some vanished meanwhile: one by one
            outcomes = []
            for _task, future in items:
                try:
                    outcomes.append(future.result())
                except BaseException:
                    outcomes.append(None)
        for (task, future), outcome in zip(items, outcomes):
            if outcome is None:
                failures.append((task, None, future))
                continue
            if unshipped_failure(outcome) is not None:  # the result could not leave its worker
                failures.append((task, unshipped_failure(outcome), future))
                continue
            self.state.outcomes[task] = outcome
            self.state.in_flight.discard(task)
            task.executed_on.append(outcome.worker)
            task.attempts += 1
            self._on_outcome_hook(task, outcome)
            if task.future is not None and not task.future.done():
                task.future.set_result(outcome.value)
            else:
                task.future = concurrent.futures.Future()
                task.future.set_result(outcome.value)
            self._task_succeeded(task)

    def _leaf_succeeded(self, task: Task, future) -> None:
        self.state.in_flight.discard(task)
        task.attempts += 1
        task.future = LeafResult(future, self._fetcher,
                                 lambda outcome, t=task: self._leaf_outcome(t, outcome),
                                 rank=self._rank[task])
        del self.state.dask[task]  # the LeafResult owns the dask future now
        self._task_succeeded(task)

    def _leaf_outcome(self, task: Task, outcome: TaskOutcome) -> None:
        task.executed_on.append(outcome.worker)
        self._on_outcome_hook(task, outcome)

    def _task_succeeded(self, task: Task) -> None:
        self.state.succeeded.add(task)
        if self.speculator is not None:
            self.speculator.succeeded(task)
        task.state = "done"
        for dependent in task.dependents:
            if dependent in self.state.in_flight and dependent.remote and \
                    all(d in self.state.succeeded for d in dependent.dependencies):
                self._set_pending(dependent)
        if task.started_on is None:
            task.signal_start()
        if task.stopped_on is None:  # a driver-side task has signalled its stop itself
            self.state.signal_stop(task)
        self.done(task)

    # -- failures and liveness ------------------------------------------------------------------

    def _check_workers(self) -> None:
        """Notice workers that left while tasks are restricted to them (dask would wait)."""
        if self.state.parked_since is not None and \
                time.monotonic() - self.state.parked_since > self.settings.refused_grace:
            refused = sorted(self.state.parked)[:5]
            raise JobStuckError(f"Tasks were refused by workers on which this job was "
                                f"cancelled, but no failure arrived: {refused}")
        if self.speculator is not None:
            self.speculator.check()
        if not self.liveness.check():
            return
        addresses = {w.address for w in self.liveness.alive()}
        # also loose preferences: dask leaves a task it could not place while no worker was
        # running waiting for its preferred workers, even when others join later
        stranded = [t for t in self.state.in_flight if t.remote and self.state.placed_on.get(t)
                    and not self.state.placed_on[t] & addresses]
        for task in stranded:
            logger.info("%s was placed on workers that are gone; placing it again", task)
            self.state.invalidate_downstream(task)
            self.state.forget_attempt(task)
        if stranded:
            self._schedule()

    # -- teardown --------------------------------------------------------------------------------

    def _cancel_everything(self) -> None:
        in_flight = [self.state.dask[t] for t in self.state.in_flight if t in self.state.dask]
        for task in self.tasks:
            if task.future is not None and not task.future.done():
                task.future.cancel()
        if in_flight or self.state.parked:
            try:  # tasks not started never will; running ones get TaskCancelled in their thread
                self.client.run(inject_cancel, job=self.token, on_error="return")
            except Exception:
                logger.debug("cancelling the job on the workers failed", exc_info=True)
        if in_flight:
            try:
                self.client.cancel(in_flight)
            except Exception:
                logger.debug("cancelling futures failed", exc_info=True)
        self.state.in_flight.clear()
        self.state.parked.clear()

    def _release_futures(self) -> None:
        self._fetcher.releases.add(self.state.dask.values())
        self.state.dask.clear()


def _ignore(_task: Task) -> None:
    pass
