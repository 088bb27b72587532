"""Frozen workers (SIGSTOP): a worker that stops answering without closing its connections never
hangs a job. Once its heartbeats have stopped for ``bndl.execute.stall_timeout`` seconds the job
retires it (its nanny kills and restarts it), its tasks and blocks are recomputed elsewhere, and
the job returns the right answer; after SIGCONT nothing of the old process is used.

A private context with a short stall timeout (3 s) keeps this quick; the long chaos run
(``-m chaos_long`` in test_chaos.py) freezes workers at random moments with the defaults.
"""

from __future__ import annotations

import operator
import os
import signal
import threading
import time
import uuid
from collections import defaultdict

import pytest
from distributed import Queue

from bndl_dask import ComputeContext

WAIT = 60
WORKERS = 3
N, PCOUNT = 60, 6
STEP = 0.05  # seconds per element in the map stage: 6 partitions x 10 elements on 3 workers


@pytest.fixture(scope="module")
def fctx():
    context = ComputeContext(worker_count=WORKERS, dashboard=False,
                             conf={"bndl.execute.stall_timeout": 3.0,
                                   "bndl.execute.attempts": 2})
    try:
        context.await_workers(WORKERS)
        yield context
    finally:
        context.stop()


def slow(started: str, part):
    Queue(started).put(os.getpid())
    for element in part:
        time.sleep(STEP)
        yield element


def keyed(i: int) -> tuple[int, int]:
    return i % 5, i


def expected() -> list[tuple[int, int]]:
    sums: dict[int, int] = defaultdict(int)
    for key, value in map(keyed, range(N)):
        sums[key] += value
    return sorted(sums.items())


class Freezer:
    """SIGSTOPs the worker process whose map task reports first, once the stage runs."""

    def __init__(self, ctx, started: str):
        self.queue = Queue(started, client=ctx.client)
        self.pid: int | None = None
        self.frozen_at: float | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.pid = self.queue.get(timeout=WAIT)
            os.kill(self.pid, signal.SIGSTOP)
            self.frozen_at = time.monotonic()
        except BaseException as exc:  # noqa: B036 - checked by the test
            self.error = exc

    def thaw(self) -> None:
        self.thread.join(WAIT)
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass  # the nanny killed it while it was frozen


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie of the nanny's counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


def test_frozen_worker_in_a_shuffle_is_retired_and_the_job_completes(fctx):
    pids_before = set(fctx.client.run(os.getpid).values())
    started = f"frozen-{uuid.uuid4().hex}"
    freezer = Freezer(fctx, started)
    try:
        result = sorted(fctx.range(N, pcount=PCOUNT).map_partitions(slow, started).map(keyed)
                        .reduce_by_key(operator.add, pcount=3).collect())
    finally:
        freezer.thaw()
    assert freezer.error is None, freezer.error
    assert result == expected()
    assert freezer.pid in pids_before
    # the frozen process was killed by its nanny, never resumed into the cluster
    deadline = time.monotonic() + WAIT
    while not _gone(freezer.pid):
        assert time.monotonic() < deadline, "the frozen worker process is still alive"
        time.sleep(0.1)
    fctx.client.wait_for_workers(WORKERS, timeout=WAIT)
    assert fctx.await_workers(WORKERS) == WORKERS
    assert freezer.pid not in fctx.client.run(os.getpid).values()
    assert sorted(fctx.range(N, pcount=PCOUNT).map(keyed).reduce_by_key(operator.add)
                  .collect()) == expected()
