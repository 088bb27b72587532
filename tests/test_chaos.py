"""Chaos: a worker process is SIGKILLed at a random moment of a job, and the job still returns
what serial Python computes, and the context stays usable.

Stages: a narrow job, the map stage of a shuffle, its reduce stage, a read of cached data, an
``icollect`` and futures work (``ctx.executor``). Each trial's work reports its start through a
dask Queue; a driver thread then waits a random delay (seeded RNG) and kills a random worker. The
embedded cluster's nannies restart killed workers; every trial waits for the pool of 3 first.

By default one trial per stage runs; ``pytest -m chaos_long tests/test_chaos.py`` runs
``CHAOS_TRIALS`` (20) per stage. ``BNDL_CHAOS_SEED`` changes the seed of the random choices.

Also here: losing the *scheduler* ends an action with a clear error, never a hang.
"""

from __future__ import annotations

import operator
import os
import random
import signal
import threading
import time
import uuid
from collections import defaultdict

import pytest
from distributed import Queue
from test_cli import start_cli_cluster, stop_all

from bndl_dask import ComputeContext

WAIT = 60
LONG_TRIALS = int(os.environ.get("CHAOS_TRIALS", 20))
SEED = os.environ.get("BNDL_CHAOS_SEED", "bndl-chaos")
WORKERS = 3
N, PCOUNT = 120, 12
#: seconds per element in the slow stage: 12 partitions x 10 elements over 3 workers ~ 1.2 s
STEP = 0.03
STAGE_TIME = N * STEP / WORKERS


def pytest_generate_tests(metafunc):
    """One trial per stage by default; many (marked chaos_long) when ``-m chaos_long`` asks."""
    if "trial" not in metafunc.fixturenames:
        return
    if "chaos_long" in (metafunc.config.option.markexpr or ""):
        params = [pytest.param(i, marks=pytest.mark.chaos_long, id=f"long{i}")
                  for i in range(LONG_TRIALS)]
    else:
        params = [pytest.param(0, id="short")]
    metafunc.parametrize("trial", params)


def skip_unless_long(config) -> None:
    """Skips a long-only case (or its fixture, before it starts a cluster) unless the long
    chaos run was asked for (``-m chaos_long``)."""
    if "chaos_long" not in (config.option.markexpr or ""):
        pytest.skip("long chaos case: run with -m chaos_long")


@pytest.fixture(scope="module")
def cctx():
    """A private context of 3 worker processes that the trials kill workers of."""
    context = ComputeContext(worker_count=WORKERS, dashboard=False,
                             conf={"bndl.execute.attempts": 3})
    try:
        context.await_workers(WORKERS)
        yield context
    finally:
        context.stop()


# -- the work (runs on the workers) ------------------------------------------------------------

def slow(started: str, part):
    """Reports that the stage runs, then yields ``part``'s elements slowly."""
    Queue(started).put(os.getpid())
    for element in part:
        time.sleep(STEP)
        yield element


def slow_square(started: str, i: int) -> int:
    Queue(started).put(os.getpid())
    time.sleep(STEP * 3)
    return i * i


def keyed(i: int) -> tuple[int, int]:
    return i % 7, i


def square(i: int) -> int:
    return i * i


# -- the killing -------------------------------------------------------------------------------

class Killer:
    """Waits (in a thread) for the stage to start, then for a random delay, then SIGKILLs a
    random worker process."""

    def __init__(self, ctx, rng: random.Random, started: str):
        self.ctx = ctx
        self.rng = rng
        self.queue = Queue(started, client=ctx.client)
        self.pids = ctx.client.run(os.getpid)  # address -> pid
        self.victim: str | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.queue.get(timeout=WAIT)  # the stage has started
            time.sleep(self.rng.uniform(0, STAGE_TIME))  # the random moment (not a sync)
            self.victim = self.rng.choice(sorted(self.pids))
            os.kill(self.pids[self.victim], signal.SIGKILL)
        except BaseException as exc:  # noqa: B036 - reported by finish()
            self.error = exc

    def finish(self) -> None:
        """After the action: the kill happened, the victim is gone and a new one is back."""
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        assert self.error is None, self.error
        deadline = time.monotonic() + WAIT
        client = self.ctx.client
        while self.victim in client.scheduler_info(n_workers=-1)["workers"]:
            assert time.monotonic() < deadline, f"{self.victim} still listed after {WAIT}s"
            time.sleep(0.05)
        client.wait_for_workers(WORKERS, timeout=WAIT)  # the nanny restarted the victim
        assert self.ctx.await_workers(WORKERS) == WORKERS
        assert set(client.run(os.getpid).values()) != set(self.pids.values())


def chaos(ctx, stage: str, trial: int, action):
    """Runs ``action(started)`` while a worker gets killed; returns its result."""
    rng = random.Random(f"{SEED}-{stage}-{trial}")
    started = f"chaos-{uuid.uuid4().hex}"
    killer = Killer(ctx, rng, started)
    try:
        return action(started)
    finally:
        killer.finish()
        assert ctx.range(10).sum() == 45  # usable afterwards


def serial_squares() -> list[int]:
    return [square(i) for i in range(N)]


def serial_sums() -> list[tuple[int, int]]:
    sums: dict[int, int] = defaultdict(int)
    for key, value in map(keyed, range(N)):
        sums[key] += value
    return sorted(sums.items())


# -- the stages --------------------------------------------------------------------------------

pytestmark = pytest.mark.timeout(180)


def test_narrow_job(cctx, trial):
    def action(started):
        return cctx.range(N, pcount=PCOUNT).map_partitions(slow, started).map(square).collect()

    assert chaos(cctx, "narrow", trial, action) == serial_squares()


def test_shuffle_map_stage(cctx, trial):
    def action(started):
        return sorted(cctx.range(N, pcount=PCOUNT).map_partitions(slow, started).map(keyed)
                      .reduce_by_key(operator.add, pcount=4).collect())

    assert chaos(cctx, "map", trial, action) == serial_sums()


def test_shuffle_reduce_stage(cctx, trial):
    def action(started):
        return sorted(cctx.range(N, pcount=PCOUNT).map(keyed).shuffle(pcount=PCOUNT)
                      .map_partitions(slow, started).reduce_by_key(operator.add, pcount=3)
                      .collect())

    assert chaos(cctx, "reduce", trial, action) == serial_sums()


def test_cached_read(cctx, trial):
    cached = cctx.range(N, pcount=PCOUNT).map(square).cache()
    try:
        assert cached.count() == N  # filled on every worker

        def action(started):
            return cached.map_partitions(slow, started).collect()

        assert chaos(cctx, "cached", trial, action) == serial_squares()
        assert cached.collect() == serial_squares()
    finally:
        cached.uncache()


def test_icollect(cctx, trial):
    def action(started):
        return list(cctx.range(N, pcount=PCOUNT).map_partitions(slow, started).map(square)
                    .icollect())

    assert chaos(cctx, "icollect", trial, action) == serial_squares()


def test_futures(cctx, trial):
    def action(started):
        executor = cctx.executor
        futures = executor.map(slow_square, [started] * (N // 4), range(N // 4), pure=False)
        extra = executor.submit(sum, futures, pure=False)
        values = executor.gather(futures)
        return values, extra.result(timeout=WAIT)

    values, total = chaos(cctx, "futures", trial, action)
    assert values == serial_squares()[:N // 4]
    assert total == sum(values)


# -- losing the scheduler ----------------------------------------------------------------------

def forever(_started: str, part):
    for element in part:
        time.sleep(0.5)
        yield element


def test_losing_the_scheduler_is_a_clear_error():
    cluster = start_cli_cluster(worker_count=1)
    ctx = ComputeContext(cluster.address)
    try:
        assert ctx.range(10).sum() == 45
        outcome: dict = {}

        def run():
            try:
                outcome["value"] = ctx.range(1000, pcount=4).map_partitions(forever, "").count()
            except BaseException as exc:  # noqa: B036 - checked below
                outcome["error"] = exc

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        cluster.scheduler.kill()
        cluster.scheduler.popen.wait(WAIT)
        thread.join(WAIT)
        assert not thread.is_alive(), "the action hangs after the scheduler was lost"
        error = outcome.get("error")
        assert error is not None, outcome
        assert isinstance(error, (OSError, TimeoutError)), repr(error)
        assert "scheduler" in str(error).lower(), repr(error)  # says what was lost
    finally:
        stopper = threading.Thread(target=ctx.stop, daemon=True)
        stopper.start()
        stopper.join(WAIT)
        stop_all(cluster.procs())
    assert not stopper.is_alive(), "ctx.stop() hangs after the scheduler was lost"


# -- BNDL's scenario: workers SIGKILLed after given element counts of a shuffle's map stage ----

def _count_and_maybe_die(counter: str, kill_after: tuple[int, ...], i: int) -> int:
    """Counts the element in ``counter`` (a file shared by the workers, under a lock); the worker
    that processes the ``k``-th element for a ``k`` in ``kill_after`` SIGKILLs itself."""
    import fcntl

    with open(counter, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        seen = int(f.read() or 0)
        f.seek(0)
        f.truncate()
        f.write(str(seen + 1))
        f.flush()
    if seen in kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
    return i


def killed_in_map_stage(ctx, tmp_path, n: int, pcount: int, k: int,
                        kill_after: tuple[int, ...]) -> float:
    """BNDL's test: ``range(n, pcount).map(m1).shuffle().map(i -> (i % k, i))
    .aggregate_by_key(sum)`` while workers die; checks the answer, returns the seconds taken."""
    counter = str(tmp_path / f"count-{uuid.uuid4().hex}")
    start = time.monotonic()
    result = (ctx.range(n, pcount=pcount).map(_count_and_maybe_die, counter, kill_after)
              .shuffle().map(lambda i: (i % k, i)).aggregate_by_key(sum).collect())
    took = time.monotonic() - start
    assert sorted(key for key, _ in result) == list(range(k))
    assert sum(value for _, value in result) == sum(range(n))
    return took


def test_bndl_kill_scenario_small(cctx, tmp_path):
    """The small case of BNDL's scenario on the 3-worker context: the first element kills."""
    killed_in_map_stage(cctx, tmp_path, 10, 3, 3, (0,))
    cctx.client.wait_for_workers(WORKERS, timeout=WAIT)
    assert cctx.await_workers(WORKERS) == WORKERS


#: the issue's bound for BNDL's 10-worker scenario (on a busy 2-core machine)
SCENARIO_BOUND = 30.0


@pytest.fixture(scope="module")
def ten_ctx(request):
    skip_unless_long(request.config)
    ctx = ComputeContext(worker_count=10, dashboard=False, conf={"bndl.execute.attempts": 2})
    try:
        ctx.client.wait_for_workers(10, timeout=WAIT)
        ctx.await_workers(10)
        yield ctx
    finally:
        ctx.stop()


@pytest.mark.chaos_long
@pytest.mark.parametrize("kill_after", [(75, 100, 125), (0, 50, 100)])
def test_bndl_kill_scenario_ten_workers(ten_ctx, tmp_path, kill_after, trial):
    """10 workers, attempts 2, three of them killed in the map stage: done within 30 s."""
    ten_ctx.client.wait_for_workers(10, timeout=WAIT)  # the last trial's victims are back
    assert ten_ctx.await_workers(10) == 10
    took = killed_in_map_stage(ten_ctx, tmp_path, 100, 30, 30, kill_after)
    print(f"\nscenario kill_after={kill_after} trial {trial}: {took:.1f} s")
    assert took < SCENARIO_BOUND, f"took {took:.1f} s"
