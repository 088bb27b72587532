"""BNDL's scheduler semantics on dask futures.

The scheduler hands every remote task of a job to dask in one graph submission: dependencies are
dask keys, locality becomes worker restrictions, priorities become dask priorities and per-worker
concurrency a dask resource. Tasks with no locality and no inputs but barrier results are marked
as data producers, so that dask spreads them by load as it does root tasks. dask then runs the
job on its own. The driver only steps in when

* a task fails: it is retried (up to ``attempts``, never on a worker it failed on while another
  worker exists) together with the dependents dask failed along with it;
* a task raises ``DependenciesFailed``: the named dependencies are re-run, then the task, without
  using up attempts;
* a worker the job relies on disappears while dask waits for it (a task restricted to it or
  preferring only workers that are gone);
* results stream back: tasks are reported to ``done`` as they finish.

Plain ``Task`` subclasses with their own ``execute()`` are called by the scheduler when their
dependencies are done, as in BNDL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import heapq
import itertools
import logging
import queue
import re
import threading
import time
import uuid
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from dask._task_spec import Task as DaskTask
from dask._task_spec import TaskRef
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer
from distributed.scheduler import KilledWorker

from bndl_dask.execute.exceptions import (
    DependenciesFailed,
    FailedDependency,
    WorkersKilled,
    invocation_error,
    root_exc,
)
from bndl_dask.execute.job import BarrierTask, Task
from bndl_dask.worker.identity import WorkerHandle
from bndl_dask.worker.runtime import (
    TaskFailure,
    TaskMeta,
    TaskOutcome,
    inject_cancel,
    invoke,
    unshipped_failure,
)
from bndl_dask.worker.slots import SLOT_RESOURCE, SLOTS

logger = logging.getLogger(__name__)

#: how often (seconds) the scheduler checks that the workers it relies on are still there
_LIVENESS_INTERVAL = 1.0
#: how long (seconds) a job waits for workers to come back when all of them are gone
_NO_WORKERS_GRACE = 30.0
#: at most this many finished final results are fetched from the workers in one round trip
_FETCH_BATCH = 64

#: tells this driver process's job keys from other drivers' (who count jobs from 1 as well)
_PROCESS_TOKEN = uuid.uuid4().hex[:10]
_schedulers = itertools.count(1)

#: per dask client: addresses of workers known to offer bndl's concurrency slots
_slot_workers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


#: seconds an idle client waits before finished jobs' futures are released after all
_RELEASE_DELAY = 2.0


class _DeferredReleases:
    """Releases of a job's dask futures, held back until the next job's graph has gone out.

    dask's client batches its messages to the scheduler: after it sent one, the next waits up
    to 10 ms. Released futures at the end of a job would so hold up the next job's submission;
    sent just after that submission they cost nothing. A client that stays idle releases them
    after ``_RELEASE_DELAY`` seconds (the results stay on the workers until then).
    """

    def __init__(self, client):
        self.client = client
        self.lock = threading.Lock()
        self.futures: list = []
        self.epoch = 0

    def add(self, futures: Iterable) -> None:
        with self.lock:
            self.futures.extend(futures)
            epoch = self.epoch
        try:
            self.client.loop.add_callback(self._later, epoch)
        except Exception:  # the client is closing: release now
            self.flush()

    def _later(self, epoch: int) -> None:  # on the client's event loop
        self.client.loop.call_later(_RELEASE_DELAY, self._flush_if_idle, epoch)

    def _flush_if_idle(self, epoch: int) -> None:
        if epoch == self.epoch:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            futures, self.futures = self.futures, []
            self.epoch += 1
        for future in futures:
            try:
                future.release()
            except Exception:
                pass


_deferred: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_deferred_lock = threading.Lock()


def _deferred_releases(client) -> _DeferredReleases:
    with _deferred_lock:
        releases = _deferred.get(client)
        if releases is None:
            releases = _deferred[client] = _DeferredReleases(client)
        return releases


class _LeafFetcher:
    """Fetches final results from the workers, at most ``prefetch`` ahead of the consumer.

    Results of final tasks stay on the workers until fetched. As tasks finish, up to
    ``prefetch`` of their results are fetched in the background, those first in job order first
    (the order ordered consumers read in), so that the transfer overlaps with the tasks still
    running; each consumed (``forget``-ed) result makes room for the next. A result asked for
    that is not on its way is fetched at once, with further finished ones in the same round trip
    while there is room. So the driver holds at most ``prefetch`` results ahead of the one being
    consumed (``icollect`` stays bounded).
    """

    def __init__(self, client, prefetch: int = _FETCH_BATCH):
        self.client = client
        self.prefetch = max(1, prefetch)
        self.lock = threading.Lock()
        self.unread: dict[_LeafResult, None] = {}
        self.releases = _deferred_releases(client)
        #: leaves being fetched in the background -> the concurrent future of their outcome
        self.pending: dict[_LeafResult, concurrent.futures.Future] = {}
        self.ahead = 0  # leaves fetched in the background and not consumed yet
        #: finished leaves by rank, the next to fetch ahead first (entries of leaves read or
        #: pending meanwhile are skipped when they come up)
        self._by_rank: list[tuple[int, int, _LeafResult]] = []

    def finished(self, leaf: _LeafResult) -> None:
        """``leaf``'s task is done: fetch its result in the background if there is room."""
        with self.lock:
            self.unread[leaf] = None
            heapq.heappush(self._by_rank, (leaf.rank, id(leaf), leaf))
            self._fetch_ahead()

    def consumed(self, leaf: _LeafResult) -> None:
        with self.lock:
            if leaf.fetched_ahead:
                leaf.fetched_ahead = False
                self.ahead -= 1
            self._fetch_ahead()

    def _fetch_ahead(self) -> None:  # under the lock
        while self.ahead < self.prefetch:
            found = self._next_unread(1)
            if not found:
                return
            leaf = found[0]
            try:
                self.pending[leaf] = asyncio.run_coroutine_threadsafe(
                    self.client._gather([leaf._dask_future]), self.client.loop.asyncio_loop)
            except Exception:  # the client is closing: the consumer's own fetch will tell
                heapq.heappush(self._by_rank, (leaf.rank, id(leaf), leaf))
                return
            leaf.fetched_ahead = True
            self.ahead += 1

    def _next_unread(self, count: int, besides: _LeafResult | None = None) -> list:
        """Up to ``count`` finished leaves, lowest rank first, neither read nor on their way
        nor ``besides`` (the one being read now); taken off the heap, under the lock."""
        found: list[_LeafResult] = []
        while len(found) < count and self._by_rank:
            leaf = heapq.heappop(self._by_rank)[2]
            if leaf is not besides and leaf in self.unread and leaf not in self.pending:
                found.append(leaf)
        return found

    def fetch(self, leaf: _LeafResult, timeout: float | None) -> None:
        with self.lock:
            if leaf._dask_future is None:
                return
            pending = self.pending.pop(leaf, None)
        if pending is not None:
            try:
                outcome = pending.result(timeout)[0]
            except Exception:
                pass  # fetched again below, which raises what went wrong
            else:
                with self.lock:
                    self.unread.pop(leaf, None)
                    leaf._resolve(outcome)
                return
        with self.lock:
            if leaf._dask_future is None:
                return
            # the others come along ahead of the consumer: they count against ``prefetch``
            others = self._next_unread(max(self.prefetch - self.ahead, 0), leaf)
            batch = [leaf] + others
            try:
                outcomes = self.client.gather([item._dask_future for item in batch])
            except Exception:
                batch = [leaf]  # one of the others is in trouble: it raises when it is read
                for other in others:
                    heapq.heappush(self._by_rank, (other.rank, id(other), other))
                outcomes = [leaf._dask_future.result(timeout=timeout)]
            for item, outcome in zip(batch, outcomes):
                self.unread.pop(item, None)
                item._resolve(outcome)
                if item is not leaf:
                    item.fetched_ahead = True
                    self.ahead += 1


class _LeafResult(concurrent.futures.Future):
    """A finished task's result that is fetched from its worker ahead of or when asked for."""

    _UNFETCHED = object()

    def __init__(self, dask_future, fetcher: _LeafFetcher,
                 on_outcome: Callable[[TaskOutcome], None], rank: int = 0):
        super().__init__()
        self.rank = rank
        self.fetched_ahead = False
        self._dask_future = dask_future
        self._fetcher = fetcher
        self._on_outcome = on_outcome
        self.set_result(self._UNFETCHED)
        fetcher.finished(self)

    def _resolve(self, outcome: TaskOutcome) -> None:
        if unshipped_failure(outcome) is not None:  # the result could not leave its worker
            raise invocation_error(outcome.error, outcome.worker, None)
        self._on_outcome(outcome)
        self._result = outcome.value
        self._fetcher.releases.add((self._dask_future,))
        self._dask_future = None

    def result(self, timeout: float | None = None) -> Any:
        if self._dask_future is not None:
            self._fetcher.fetch(self, timeout)
        if self._result is self._CONSUMED:
            raise RuntimeError("this task's result was already consumed and released")
        return self._result

    _CONSUMED = object()

    def forget(self) -> None:
        """Drop the fetched value (the consumer is done with it)."""
        if self._dask_future is None:
            self._result = self._CONSUMED
            self._fetcher.consumed(self)


class Scheduler:
    """Runs ``tasks`` on ``workers``; calls ``done(task)`` for every task that succeeds, ``done``
    with the failed task or an exception when the job fails, and ``done(None)`` last.

    ``concurrency`` caps the tasks of this job running at once on one worker; ``attempts`` is
    the number of tries a task gets when its own code raises. ``prefetch`` bounds how many
    finished final results are fetched to the driver ahead of being read. ``whole_cluster``
    says that ``workers`` are all workers of the cluster (tasks then only get restrictions
    they need).

    >>> from bndl_dask.execute import Job, RmiTask, Scheduler
    >>> events = []
    >>> tasks = [RmiTask(ctx, i, abs, (-i,)) for i in range(3)]      # doctest: +SKIP
    >>> Scheduler(tasks, events.append, ctx.workers).run()           # doctest: +SKIP
    >>> [t.result() for t in events if t is not None]                 # doctest: +SKIP
    [0, 1, 2]
    """

    def __init__(self, tasks: Iterable[Task], done: Callable[[Any], None],
                 workers: Sequence[WorkerHandle], concurrency: int = 1, attempts: int = 1,
                 *, client=None, on_outcome: Callable[[Task, TaskOutcome], None] | None = None,
                 job_id: int = 0, whole_cluster: bool = False,
                 prefetch: int = _FETCH_BATCH):
        self.tasks = sorted(tasks)
        if not self.tasks:
            raise ValueError("A scheduler needs at least one task")
        ids = [task.id for task in self.tasks]
        if len(set(ids)) != len(ids):
            raise ValueError("Task ids must be unique within a job")
        if not workers:
            raise Exception("No workers available")
        if concurrency < 1 or attempts < 1:
            raise ValueError("concurrency and attempts must be >= 1")
        self.done = done
        self.workers = list(workers)
        self.concurrency = concurrency
        self.attempts = attempts
        self.job_id = job_id
        # keys must be unique on the cluster, also among drivers that count jobs from 1
        self.token = f"j{job_id}-{_PROCESS_TOKEN}{next(_schedulers)}"
        self.whole_cluster = whole_cluster
        self.client = client if client is not None else self._client_of(self.tasks)
        self._on_outcome_hook = on_outcome or (lambda task, outcome: None)
        self._fetcher = _LeafFetcher(self.client, prefetch)
        self._by_id = {task.id: task for task in self.tasks}
        self._rank = {task: rank for rank, task in enumerate(self.tasks)}
        self._events: queue.Queue = queue.Queue()
        self._lock = threading.RLock()
        self._aborted: BaseException | None = None
        self._abort_requested = threading.Event()
        self._finished = False
        self._marking = False  # the scheduler itself marks a task failed (not news to it)

        self._generation: dict[Task, int] = {}
        self._dask: dict[Task, Any] = {}  # current dask future per remote task
        self._keys: dict[Task, tuple[str, int, int]] = {}
        # the workers each submitted task was restricted to or told to prefer (addresses)
        self._placed_on: dict[Task, frozenset[str]] = {}
        self._in_flight: set[Task] = set()
        self._parked: set[Task] = set()  # refused by a worker on which the job was cancelled
        self._parked_since: float | None = None
        self._succeeded: set[Task] = set()
        self._outcomes: dict[Task, TaskOutcome] = {}
        self._failures: dict[Task, int] = defaultdict(int)
        self._failed_on: dict[Task, set[str]] = defaultdict(set)
        self._forbidden: dict[Task, set[str]] = {}
        self._preferred: dict[Task, list[str]] = {}
        self._failed_workers: set[str] = set()
        self._no_workers_since: float | None = None
        self._local_load: dict[str, int] = defaultdict(int)
        self._use_slots = False
        self._spread_turn = 0  # round-robin position of barrier readers under slots
        self._labels = {task: _key_label(task) for task in self.tasks}
        for task in self.tasks:
            task.add_listener(_ignore, self._task_signalled)

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
                self._aborted = exc or Exception("Scheduler aborted")
        self._abort_requested.set()
        self._events.put(("abort",))

    def run(self) -> None:
        """Execute the whole job in the calling thread."""
        try:
            self._start()
            next_check = time.monotonic() + _LIVENESS_INTERVAL
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
                    next_check = time.monotonic() + _LIVENESS_INTERVAL
        except BaseException as exc:  # the job fails as a whole, the consumer sees why
            if self._aborted is None:
                # e.g. dask's ClosedClientError on submission: say what happened instead
                self._aborted = self._scheduler_lost(exc) or exc
            self._cancel_everything()
            self.done(self._aborted)
        finally:
            self._release_futures()
            for task in self.tasks:
                task.remove_listener(_ignore, self._task_signalled)
            self.done(None)

    # -- start-up --------------------------------------------------------------------------------

    def _learn_locality(self, workers: Sequence[WorkerHandle]) -> None:
        """Ask every task where it may and prefers to run among ``workers``."""
        names = [w.name for w in self.workers]
        for task in self.tasks:
            forbidden, preferred = self._forbidden.setdefault(task, set()), {}
            for worker, locality in task.locality(workers) or ():
                name = worker.name if isinstance(worker, WorkerHandle) else str(worker)
                if locality < 0:
                    forbidden.add(name)
                elif locality > 0:
                    preferred[name] = locality
            if preferred:
                best = max(preferred.values())
                self._preferred[task] = [n for n in names if preferred.get(n) == best]

    def _start(self) -> None:
        self._learn_locality(self.workers)
        self._use_slots = self._needs_slots()
        for task in self.tasks:
            if task.succeeded:  # marked done before the job: never executed
                self._succeeded.add(task)
                task.state = "done"
                self.done(task)
        if all(task in self._succeeded for task in self.tasks):
            self._finished = True
            return
        self._schedule()

    def _needs_slots(self) -> bool:
        """Whether dask must enforce ``concurrency`` (some worker has more threads than that)."""
        if all(w.nthreads <= self.concurrency for w in self.workers):
            return False
        known = _slot_workers.setdefault(self.client, set())
        if all(w.address in known for w in self.workers):
            return True
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        known.update(address for address, w in info.items()
                     if SLOT_RESOURCE in (w.get("resources") or {}))
        if all(w.address in known for w in self.workers if w.address in info):
            return True
        logger.warning(
            "Workers run more threads than bndl.execute.concurrency=%d and some were started "
            "without bndl's worker plugin; concurrency is not capped on them", self.concurrency)
        return False

    # -- scheduling ------------------------------------------------------------------------------

    def _ready_to_submit(self, task: Task, wave: set[Task]) -> bool:
        for dep in task.dependencies:
            if dep in self._succeeded or dep in wave:
                continue
            if dep.remote and dep in self._in_flight and dep not in self._parked:
                future = self._dask.get(dep)
                if future is not None and future.status not in ("error", "cancelled"):
                    continue  # dask passes the result on when it is there
            return False
        return True

    def _waiting(self, task: Task) -> bool:
        return task in self._succeeded or task in self._in_flight or task in self._parked

    def _schedule(self) -> None:
        """Submit every remote task that can go to dask now; start ready driver-side tasks."""
        if self._aborted is not None:
            return
        wave: list[Task] = []
        wave_set: set[Task] = set()
        changed = True
        while changed:  # dependencies ordered after their dependents need another pass
            changed = False
            for task in self.tasks:  # sorted by priority
                if self._waiting(task) or task in wave_set:
                    continue
                if task.remote:
                    if self._ready_to_submit(task, wave_set):
                        wave.append(task)
                        wave_set.add(task)
                        changed = True
                elif all(dep in self._succeeded for dep in task.dependencies):
                    self._execute_local(task)
        if wave:
            self._submit(_topological(wave, wave_set))
        if not self._in_flight and not self._parked and \
                not all(t in self._succeeded for t in self.tasks):
            stuck = [t for t in self.tasks if t not in self._succeeded]
            raise Exception(f"No tasks executable (all tasks have dependencies): {stuck[:5]}")

    def _gone_note(self) -> str:
        if not self._failed_workers:
            return ""
        return f" (workers lost during the job: {', '.join(sorted(self._failed_workers))})"

    def _alive_workers(self) -> list[WorkerHandle]:
        return [w for w in self.workers if w.name not in self._failed_workers]

    def _placement(self, task: Task) -> dict[str, Any]:
        alive = self._alive_workers()
        allowed = [w for w in alive if w.name not in self._forbidden[task]]
        if not allowed and self.whole_cluster:
            # the job's worker list may predate a worker that joined just now: look again
            if self._adopt_joined(self.client.scheduler_info(n_workers=-1)["workers"]):
                alive = self._alive_workers()
                allowed = [w for w in alive if w.name not in self._forbidden[task]]
        if not allowed:
            raise Exception(f"{task} cannot be executed on any available workers"
                            + self._gone_note())
        # a retry avoids the workers the task failed on, while another worker is left
        fresh = [w for w in allowed if w.name not in self._failed_on[task]] or allowed
        annotations: dict[str, Any] = {"priority": -self._rank[task]}
        preferred = [w.address for w in fresh if w.name in self._preferred.get(task, ())]
        if len(fresh) < len(alive) or not self.whole_cluster:
            # dask cannot prefer within a strict subset: being allowed comes first
            annotations["workers"] = tuple(sorted(w.address for w in fresh))
        elif preferred:
            annotations["workers"] = tuple(sorted(preferred))
            annotations["allow_other_workers"] = True
        if self._use_slots:
            annotations["resources"] = {SLOT_RESOURCE: SLOTS // self.concurrency}
            if "workers" not in annotations and task.dependencies and \
                    self._reads_only_barriers(task):
                # a task with a resource restriction cannot be a root task to dask (see
                # _free_to_spread): readers of a barrier get a worker each in turn instead
                annotations["workers"] = (self._next_spread_worker(fresh),)
                annotations["allow_other_workers"] = True
        return annotations

    @staticmethod
    def _reads_only_barriers(task: Task) -> bool:
        return all(isinstance(dep, BarrierTask) or not dep.remote for dep in task.dependencies)

    @classmethod
    def _free_to_spread(cls, task: Task, annotations: dict[str, Any]) -> bool:
        """Whether nothing ties ``task`` to a worker: no restriction or preference, and no
        input but small barrier results.

        dask is told such a task is a root task (a "data producer"), which it spreads over the
        workers by their load. Otherwise it would put all tasks reading one barrier on the
        worker holding the barrier's result.
        """
        return "workers" not in annotations and "resources" not in annotations and \
            cls._reads_only_barriers(task)

    def _next_spread_worker(self, workers: list[WorkerHandle]) -> str:
        """The next of ``workers`` in a round-robin (a loose preference: if it is gone when
        dask places the task, the liveness check places the task again)."""
        ordered = sorted(workers, key=lambda w: w.name)
        self._spread_turn += 1
        return ordered[(self._spread_turn - 1) % len(ordered)].address

    def _submit(self, wave: list[Task]) -> None:
        layers: dict[tuple, dict[str, tuple]] = defaultdict(dict)
        layer_annotations: dict[tuple, dict] = {}
        wave_set = set(wave)
        keys = []
        for task in wave:
            generation = self._generation.get(task, -1) + 1
            self._generation[task] = generation
            # a tuple key: dask groups tasks (for placement) by its first part, this job's
            # stage, and names them (on its dashboard) by the label
            key = (f"{self._labels[task]}-{self.token}", self._rank[task], generation)
            self._keys[task] = key
            remote_deps, literals = [], {}
            for dep in sorted(task.dependencies):
                if dep in wave_set or (dep.remote and dep in self._dask and (
                        dep in self._in_flight or self._dask[dep].status == "finished")):
                    remote_deps.append(dep)
                else:  # ran on the driver, was marked done, or its result was already fetched
                    literals[dep] = self._value_of(dep)
            spec = task.spec(remote_deps, literals)
            refs = [TaskRef(self._keys[d]) if d in wave_set else self._dask[d]
                    for d in remote_deps]
            final = self._failures[task] + 1 >= self.attempts
            meta = TaskMeta(key, task.id, task.desc or task.name, self.token, final)
            annotations = self._placement(task)
            self._placed_on[task] = frozenset(annotations.get("workers", ()))
            signature = _freeze(annotations)
            layers[signature][key] = DaskTask(
                key, invoke, meta, spec, *refs,
                _data_producer=self._free_to_spread(task, annotations))
            layer_annotations[signature] = annotations
            keys.append(key)
        graph_layers = {}
        for i, (signature, layer) in enumerate(layers.items()):
            graph_layers[f"bndl-{self.token}-w{i}-{id(layer)}"] = MaterializedLayer(
                layer, annotations=layer_annotations[signature])
        graph = HighLevelGraph(graph_layers, {name: set() for name in graph_layers})
        futures = self.client.get(graph, keys, sync=False)
        self._fetcher.releases.flush()  # after the graph: see _DeferredReleases
        by_key = dict(zip(keys, futures)) if isinstance(futures, list) else futures
        for task in wave:
            future = by_key[self._keys[task]]
            self._dask[task] = future
            self._in_flight.add(task)
            if all(d in self._succeeded for d in task.dependencies):
                self._set_pending(task)
            else:
                task.state = "blocked"
            generation = self._generation[task]
            future.add_done_callback(
                lambda fut, task=task, gen=generation: self._events.put(("dask", task, gen, fut)))

    def _set_pending(self, task: Task) -> None:
        """Handed to dask with its inputs available: the task is ``pending`` from now on."""
        task.state = "pending"
        if task.future is None or task.future.done():
            task.future = concurrent.futures.Future()
            task.signal_start()

    def _value_of(self, task: Task) -> Any:
        if task in self._outcomes:
            return self._outcomes[task].value
        return task.future.result() if task.future is not None else None

    def _execute_local(self, task: Task) -> None:
        workers = [w for w in self._alive_workers() if w.name not in self._forbidden[task]]
        if not workers:
            raise Exception(f"{task} cannot be executed on any available workers"
                            + self._gone_note())
        workers = [w for w in workers if w.name not in self._failed_on[task]] or workers
        preferred = [w for w in workers if w.name in self._preferred.get(task, ())]
        worker = min(preferred or workers, key=lambda w: self._local_load[w.name])
        self._in_flight.add(task)
        self._local_load[worker.name] += 1
        task.state = "pending"
        try:
            task.execute(self, worker)
        except concurrent.futures.CancelledError:
            self._in_flight.discard(task)
            self._local_load[worker.name] -= 1
            return
        except Exception as exc:
            self._marking = True
            try:
                task.mark_failed(exc)
            finally:
                self._marking = False
        future = task.future
        if future is None:
            raise Exception(f"{task}.execute() did not give the task a future")
        future.add_done_callback(
            lambda fut, task=task, w=worker.name: self._events.put(("local", task, fut, w)))

    def execute_remote(self, task: Task, worker: WorkerHandle) -> concurrent.futures.Future:
        """Run one RmiTask on ``worker`` outside the batch (an RmiTask subclass with its own
        ``execute()`` that calls ``RmiTask.execute``)."""
        task.set_executing(worker)
        key = f"{self._labels.get(task, 'task')}-{self.token}-single-{id(task)}-{task.attempts}"
        literals = {dep: self._value_of(dep) for dep in task.dependencies}
        spec = task.spec([], literals)
        final = self._failures[task] + 1 >= self.attempts
        meta = TaskMeta(key, task.id, task.desc or task.name, self.token, final)
        dask_future = self.client.submit(invoke, meta, spec, key=key, workers=[worker.address],
                                         allow_other_workers=False, pure=False)
        result_future = task.future

        def finish(fut):
            try:
                outcome = fut.result()
                self._on_outcome_hook(task, outcome)
                result_future.set_result(outcome.value)
            except TaskFailure as failure:
                result_future.set_exception(self._user_error(task, failure))
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
        if self._marking or self._finished or not task.done:
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
            if kind == "dask":
                _, task, generation, future = event
                if generation != self._generation.get(task) or task not in self._in_flight:
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
                if task not in self._in_flight:
                    continue
                self._in_flight.discard(task)
                if future.cancelled():
                    failures.append((task, concurrent.futures.CancelledError(), None))
                elif future.exception() is not None:
                    failures.append((task, future.exception(), None))
                else:
                    self._task_succeeded(task)
            elif kind == "marked":
                self._marked_failed(event[1])
        if to_fetch:
            self._fetch(to_fetch, failures)
        # after the fetches: a leaf that finished in the same batch as one of its inputs is
        # seen done only once that input is (the consumer may look at both)
        for task, future in leaves:
            self._leaf_succeeded(task, future)
        for task, exc, future in failures:
            if self._aborted is not None:
                break
            if future is not None and self._dask.get(task) is not future:
                continue  # superseded by an earlier failure in this batch (e.g. its input lost)
            self._task_failed(task, exc, future)
        if self._aborted is not None:
            self._cancel_everything()
            self.done(self._aborted)
            self._finished = True
            return
        if all(t in self._succeeded for t in self.tasks):
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
            self._outcomes[task] = outcome
            self._in_flight.discard(task)
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
        self._in_flight.discard(task)
        task.attempts += 1
        task.future = _LeafResult(future, self._fetcher,
                                  lambda outcome, t=task: self._leaf_outcome(t, outcome),
                                  rank=self._rank[task])
        del self._dask[task]  # the _LeafResult owns the dask future now
        self._task_succeeded(task)

    def _leaf_outcome(self, task: Task, outcome: TaskOutcome) -> None:
        task.executed_on.append(outcome.worker)
        self._on_outcome_hook(task, outcome)

    def _task_succeeded(self, task: Task) -> None:
        self._succeeded.add(task)
        task.state = "done"
        for dependent in task.dependents:
            if dependent in self._in_flight and dependent.remote and \
                    all(d in self._succeeded for d in dependent.dependencies):
                self._set_pending(dependent)
        if task.started_on is None:
            task.signal_start()
        if task.stopped_on is None:  # a driver-side task has signalled its stop itself
            self._marking = True
            try:
                task.signal_stop()
            finally:
                self._marking = False
        self.done(task)

    # -- failures --------------------------------------------------------------------------------

    def _task_failed(self, task: Task, exc: BaseException | None, future) -> None:
        self._in_flight.discard(task)
        if exc is None:
            try:
                exc = future.exception(timeout=30)
            except concurrent.futures.CancelledError:
                exc = concurrent.futures.CancelledError(f"{task} was cancelled in dask")
            except Exception as fetch_error:
                exc = fetch_error
            if exc is None:  # nothing to blame (e.g. released meanwhile): just run it again
                self._forget_attempt(task)
                return
        if isinstance(exc, TaskFailure):
            if exc.key != self._keys.get(task):
                # dask failed this task because a dependency failed: that one is handled on its
                # own, and this one is re-submitted once its dependency is re-run
                self._forget_attempt(task)
                return
            if exc.refused:
                # the job was cancelled on that worker because a task failed for good; the
                # driver hears of that failure any moment and aborts
                self._forget_attempt(task)
                self._parked.add(task)
                self._parked_since = self._parked_since or time.monotonic()
                return
            error, worker = exc.error, exc.worker
        else:
            error = root_exc(exc) if exc is not None else exc
            worker = None if task.remote else task.executed_on_last()
        if isinstance(error, DependenciesFailed):
            self._dependencies_failed(task, error)
            return
        if isinstance(error, FailedDependency):
            # the task's own output (or input) is gone: run it again, no attempt used
            if error.worker_failed is not None:
                self._mark_worker_failed(error.worker_failed)
            self._invalidate_downstream(task)
            self._forget_attempt(task)
            return
        if isinstance(exc, concurrent.futures.CancelledError) and self._aborted is None:
            # cancelled behind our back (e.g. a restart of the cluster): run it again
            self._forget_attempt(task)
            return
        if worker is not None:
            if task.remote:
                task.executed_on.append(worker)
                task.attempts += 1
            self._failed_on[task].add(worker)
        self._failures[task] += 1
        if self._failures[task] >= self.attempts:
            error = self._user_error(task, exc)
            self._marking = True
            try:
                task.mark_failed(error)
            finally:
                self._marking = False
            task.state = "failed"
            self.done(task)
            self._aborted = error
            return
        logger.info("%s failed on %s (attempt %d of %d), retrying", task, worker,
                    self._failures[task], self.attempts)
        self._invalidate_downstream(task)
        self._forget_attempt(task)

    def _user_error(self, task: Task, exc: BaseException) -> BaseException:
        if isinstance(exc, TaskFailure):
            return invocation_error(exc.error, exc.worker, task.desc or task.name,
                                    exc.remote_traceback)
        if isinstance(exc, KilledWorker):
            killed = WorkersKilled(
                f"{task.desc or task.name} killed every worker process that ran it "
                f"({exc}). Most likely it needs more memory than a worker may use: split the "
                f"data into more partitions (e.g. a larger pcount, or coalesce less), or give "
                f"the workers a larger memory_limit.")
            killed.__cause__ = exc
            return killed
        return exc

    def _forget_attempt(self, task: Task) -> None:
        """Make ``task`` submittable again (a new dask key on the next wave)."""
        self._in_flight.discard(task)
        self._succeeded.discard(task)
        self._outcomes.pop(task, None)
        self._placed_on.pop(task, None)
        future = self._dask.pop(task, None)
        if future is not None:
            future.release()
        if task.future is not None and not task.future.done():
            task.future = None  # back to waiting: not pending any more
        task.state = "blocked"

    def _invalidate_downstream(self, task: Task) -> None:
        """Dependents still waiting in dask on ``task``'s old key must wait for its re-run."""
        stack = list(task.dependents)
        seen = set()
        while stack:
            dependent = stack.pop()
            if dependent in seen:
                continue
            seen.add(dependent)
            if dependent in self._in_flight and dependent.remote:
                self._forget_attempt(dependent)
                stack.extend(dependent.dependents)

    def _marked_failed(self, task: Task) -> None:
        """``task`` was marked failed (FailedDependency) from outside: re-run it and make what
        depends on it and has not run yet wait for that."""
        if task not in self._succeeded or not task.failed:
            return
        exc = root_exc(task.exception())
        if getattr(exc, "worker_failed", None) is not None:
            self._mark_worker_failed(exc.worker_failed)
        self._invalidate_downstream(task)
        self._forget_attempt(task)
        if not self._alive_workers():
            raise Exception("Unable to complete job, all workers failed")

    def _dependencies_failed(self, task: Task, error: DependenciesFailed) -> None:
        lost: set[Task] = set()
        for worker_name, task_ids in error.failures.items():
            for task_id in task_ids:
                dep = self._by_id.get(_normalise_id(task_id))
                if dep is None:
                    raise Exception(f"{task} reported an unknown dependency {task_id!r} as failed")
                if dep not in self._succeeded:
                    continue  # already being re-run: the reporter waits for that run
                last = self._outcomes[dep].worker if dep in self._outcomes else \
                    dep.executed_on_last()
                if worker_name is not None and last is not None and last != worker_name:
                    continue  # stale report: the dependency has run elsewhere since
                if worker_name is not None:
                    self._mark_worker_failed(worker_name)
                self._marking = True
                try:
                    dep.mark_failed(FailedDependency(worker_name))
                finally:
                    self._marking = False
                lost.add(dep)
        # re-run the lost tasks, whatever lies between them and the reporter (e.g. a barrier
        # holding their locations), and whatever in dask still waits on their old results
        between = _descendants(lost) & _ancestors(task)
        for stale in lost | between | {task}:
            self._forget_attempt(stale)
        for dep in lost | between:
            self._invalidate_downstream(dep)
        if not self._alive_workers():
            raise Exception("Unable to complete job, all workers failed")

    def _mark_worker_failed(self, name: str) -> None:
        live = {str(info.get("name"))
                for info in self.client.scheduler_info(n_workers=-1)["workers"].values()}
        if name not in live:  # really gone; a worker that is still there keeps its place
            self._failed_workers.add(name)

    def _scheduler_lost(self, cause: BaseException | None = None) -> ConnectionError | None:
        """The error for a client that gave up reconnecting to its lost scheduler, else None."""
        if self.client.status not in ("closing", "closed"):
            return None
        error = ConnectionError(
            "Lost the connection to the dask scheduler (dask gave up reconnecting); the job "
            "cannot complete. Is the scheduler process still running?")
        error.__cause__ = cause
        return error

    def _adopt_joined(self, info: dict) -> bool:
        """Take on workers that joined since the job's worker list was taken (whole-cluster
        jobs only); ``info`` is scheduler_info's workers. Returns whether any joined."""
        if not self.whole_cluster:
            return False
        known = {w.name for w in self.workers}
        joined = [WorkerHandle.from_info(address, i) for address, i in info.items()
                  if str(i.get("name")) not in known]
        if joined:
            self.workers.extend(joined)
            self._learn_locality(self.workers)
        return bool(joined)

    def _check_workers(self) -> None:
        """Notice workers that left while tasks are restricted to them (dask would wait)."""
        if self._parked_since is not None and time.monotonic() - self._parked_since > 10:
            raise Exception(f"Tasks were refused by workers on which this job was cancelled, "
                            f"but no failure arrived: {sorted(self._parked)[:5]}")
        lost = self._scheduler_lost()
        if lost is not None:  # no future of the job will ever finish: waiting on would hang
            raise lost
        try:
            info = self.client.scheduler_info(n_workers=-1)["workers"]
        except Exception:
            return
        live = {str(i.get("name")): address for address, i in info.items()}
        moved = False
        for i, worker in enumerate(self.workers):
            address = live.get(worker.name)
            if worker.name in self._failed_workers:
                if address is not None and address != worker.address and self.whole_cluster:
                    # a nanny restarted it: a fresh process under the same name, usable again
                    self._failed_workers.discard(worker.name)
                    self.workers[i] = dataclasses.replace(worker, address=address)
                    moved = True
                continue
            if address is None:
                self._failed_workers.add(worker.name)
                moved = True
            elif address != worker.address:  # restarted under the same name
                self.workers[i] = dataclasses.replace(worker, address=address)
                moved = True
        if self._adopt_joined(info):
            moved = True
        if not self._alive_workers():
            # nannies restart killed workers within seconds; give up only when none return
            self._no_workers_since = self._no_workers_since or time.monotonic()
            if time.monotonic() - self._no_workers_since > _NO_WORKERS_GRACE:
                raise Exception("Unable to complete job, all workers failed")
            return
        self._no_workers_since = None
        if not moved:
            return
        addresses = {w.address for w in self._alive_workers()}
        # also loose preferences: dask leaves a task it could not place while no worker was
        # running waiting for its preferred workers, even when others join later
        stranded = [t for t in self._in_flight if t.remote and self._placed_on.get(t)
                    and not self._placed_on[t] & addresses]
        for task in stranded:
            logger.info("%s was placed on workers that are gone; placing it again", task)
            self._invalidate_downstream(task)
            self._forget_attempt(task)
        if stranded:
            self._schedule()

    # -- teardown --------------------------------------------------------------------------------

    def _cancel_everything(self) -> None:
        in_flight = [self._dask[t] for t in self._in_flight if t in self._dask]
        for task in self.tasks:
            if task.future is not None and not task.future.done():
                task.future.cancel()
        if in_flight or self._parked:
            try:  # tasks not started never will; running ones get TaskCancelled in their thread
                self.client.run(inject_cancel, job=self.token, on_error="return")
            except Exception:
                logger.debug("cancelling the job on the workers failed", exc_info=True)
        if in_flight:
            try:
                self.client.cancel(in_flight)
            except Exception:
                logger.debug("cancelling futures failed", exc_info=True)
        self._in_flight.clear()
        self._parked.clear()

    def _release_futures(self) -> None:
        self._fetcher.releases.add(self._dask.values())
        self._dask.clear()


def _ignore(_task: Task) -> None:
    pass


def _topological(wave: list[Task], wave_set: set[Task]) -> list[Task]:
    ordered, placed = [], set()

    def place(task: Task, trail: tuple = ()) -> None:
        if task in placed:
            return
        if task in trail:
            raise ValueError(f"Dependency cycle through {task}")
        for dep in sorted(task.dependencies):
            if dep in wave_set:
                place(dep, trail + (task,))
        placed.add(task)
        ordered.append(task)

    for task in wave:
        place(task)
    return ordered


def _descendants(tasks: Iterable[Task]) -> set[Task]:
    found: set[Task] = set()
    stack = [d for t in tasks for d in t.dependents]
    while stack:
        task = stack.pop()
        if task not in found:
            found.add(task)
            stack.extend(task.dependents)
    return found


def _ancestors(task: Task) -> set[Task]:
    found: set[Task] = set()
    stack = list(task.dependencies)
    while stack:
        dep = stack.pop()
        if dep not in found:
            found.add(dep)
            stack.extend(dep.dependencies)
    return found


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set)):
        return tuple(_freeze(v) for v in value)
    return value


def _normalise_id(task_id: Any) -> Any:
    return tuple(task_id) if isinstance(task_id, list) else task_id


_UNSAFE = re.compile(r"[^A-Za-z0-9_.:@<>]+")


def _key_label(task: Task) -> str:
    """The readable front of a task's dask key (what the dashboard groups tasks by)."""
    label = _UNSAFE.sub("_", str(task.name or "task")).strip("_")
    return label[:80] or "task"
