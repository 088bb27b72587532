"""Liveness: which of a job's workers are still there, and workers that joined meanwhile."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

from bndl_dask.execute.exceptions import NoWorkersError
from bndl_dask.execute.stalls import stall_watch
from bndl_dask.worker.identity import WorkerHandle


class WorkerLiveness:
    """The workers of one job as they come and go.

    Workers are tracked by name: a nanny restarts a killed worker under its name at a new
    address. A worker is ``failed`` once the dask scheduler no longer knows it.
    ``on_joined(workers)`` is called with the whole list when workers joined (whole-cluster
    jobs only take on new workers). Workers whose heartbeats stop for ``stall_timeout``
    seconds are retired (stalls.py).
    """

    def __init__(self, client, workers: Sequence[WorkerHandle], whole_cluster: bool,
                 no_workers_grace: float,
                 on_joined: Callable[[list[WorkerHandle]], None] = lambda workers: None,
                 stall_timeout: float | None = None):
        self.client = client
        self.workers = list(workers)
        self.whole_cluster = whole_cluster
        self.no_workers_grace = no_workers_grace
        self.on_joined = on_joined
        self.failed: set[str] = set()
        self._no_workers_since: float | None = None
        self.stalls = stall_watch(client, stall_timeout) if stall_timeout else None

    def alive(self) -> list[WorkerHandle]:
        return [w for w in self.workers if w.name not in self.failed]

    def require_alive(self) -> None:
        if not self.alive():
            raise NoWorkersError("Unable to complete job, all workers failed")

    def gone_note(self) -> str:
        if not self.failed:
            return ""
        return f" (workers lost during the job: {', '.join(sorted(self.failed))})"

    def mark_failed(self, name: str) -> None:
        """A task reported ``name`` lost: believe it if the dask scheduler agrees."""
        live = {str(info.get("name"))
                for info in self.client.scheduler_info(n_workers=-1)["workers"].values()}
        if name not in live:  # really gone; a worker that is still there keeps its place
            self.failed.add(name)

    def scheduler_lost(self, cause: BaseException | None = None) -> ConnectionError | None:
        """The error for a client that gave up reconnecting to its lost scheduler, else None."""
        if self.client.status not in ("closing", "closed"):
            return None
        error = ConnectionError(
            "Lost the connection to the dask scheduler (dask gave up reconnecting); the job "
            "cannot complete. Is the scheduler process still running?")
        error.__cause__ = cause
        return error

    def adopt_joined(self, info: dict | None = None) -> bool:
        """Take on workers that joined since the job's worker list was taken (whole-cluster
        jobs only); ``info`` is scheduler_info's workers. Returns whether any joined."""
        if not self.whole_cluster:
            return False
        if info is None:
            info = self.client.scheduler_info(n_workers=-1)["workers"]
        known = {w.name for w in self.workers}
        joined = [WorkerHandle.from_info(address, i) for address, i in info.items()
                  if str(i.get("name")) not in known]
        if joined:
            self.workers.extend(joined)
            self.on_joined(self.workers)
        return bool(joined)

    def check(self) -> bool:
        """Look at the cluster again; returns whether the job's workers moved (left, came
        back at a new address or joined) while some are alive.

        Raises ConnectionError when the scheduler is lost for good, NoWorkersError when no
        worker came back within ``no_workers_grace`` seconds.
        """
        lost = self.scheduler_lost()
        if lost is not None:  # no future of the job will ever finish: waiting on would hang
            raise lost
        try:
            info = self.client.scheduler_info(n_workers=-1)["workers"]
        except Exception:
            return False
        live = {str(i.get("name")): address for address, i in info.items()}
        if self.stalls is not None:
            mine = {w.address for w in self.workers}
            stalled = [a for a in self.stalls.stalled(info) if a in mine]
            if stalled:
                self.stalls.retire(self.client, stalled)
        moved = False
        for i, worker in enumerate(self.workers):
            address = live.get(worker.name)
            if worker.name in self.failed:
                if address is not None and address != worker.address and self.whole_cluster:
                    # a nanny restarted it: a fresh process under the same name, usable again
                    self.failed.discard(worker.name)
                    self.workers[i] = dataclasses.replace(worker, address=address)
                    moved = True
                continue
            if address is None:
                self.failed.add(worker.name)
                moved = True
            elif address != worker.address:  # restarted under the same name
                self.workers[i] = dataclasses.replace(worker, address=address)
                moved = True
        if self.adopt_joined(info):
            moved = True
        if not self.alive():
            # nannies restart killed workers within seconds; give up only when none return
            self._no_workers_since = self._no_workers_since or time.monotonic()
            if time.monotonic() - self._no_workers_since > self.no_workers_grace:
                raise NoWorkersError("Unable to complete job, all workers failed")
            return False
        self._no_workers_since = None
        return moved
