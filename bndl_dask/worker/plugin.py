"""The dask worker plugin that installs bndl's services on every worker of a cluster."""

from __future__ import annotations

import sys

from distributed.diagnostics.plugin import WorkerPlugin

from bndl_dask.worker.services import services_for
from bndl_dask.worker.slots import SLOT_RESOURCE, SLOTS

PLUGIN_NAME = "bndl-services"


class BndlWorkerPlugin(WorkerPlugin):
    """Registered by ``ComputeContext`` with ``client.register_plugin``, so workers that join
    later (including ``dworker`` processes on other machines) get the services too."""

    name = PLUGIN_NAME

    def __init__(self, switch_interval: float | None = None, dask_profiler: bool = False):
        self.switch_interval = switch_interval
        self.dask_profiler = dask_profiler

    async def setup(self, worker) -> None:
        # A task holds the GIL while it computes; the worker's event loop (answering other
        # workers' shuffle fetches, reporting results) waits up to a switch interval for it on
        # every turn, and a fetch takes several turns
        if self.switch_interval:
            sys.setswitchinterval(self.switch_interval)
        set_dask_profiler(worker, self.dask_profiler)
        services_for(worker)
        if SLOT_RESOURCE not in worker.state.total_resources:
            await worker.set_resources(**{SLOT_RESOURCE: SLOTS})

    # No teardown: a second context registering the plugin again must not wipe the caches and
    # shuffle data of the first. The services die with the worker process.


#: the periodic callbacks of dask's sampling profiler on a worker
_PROFILER_CALLBACKS = ("profile", "profile-cycle")


def set_dask_profiler(worker, enabled: bool) -> None:
    """Stop (or restart) dask's sampling profiler on ``worker``.

    Every 10 ms it takes the GIL from the computing task and walks the task's whole stack, and
    a bndl task's stack is deep (a partition is a chain of generators); measured on W2, tasks
    ran 25-30% longer with it. The callbacks are taken out of ``worker.periodic_callbacks``
    (not only stopped) so that a worker still starting does not start them after this.
    """
    stopped = worker.__dict__.setdefault("_bndl_stopped_profiler", {})
    if enabled:
        for name, callback in stopped.items():
            worker.periodic_callbacks[name] = callback
            callback.start()
        stopped.clear()
        return
    for name in _PROFILER_CALLBACKS:
        callback = worker.periodic_callbacks.pop(name, None)
        if callback is not None:
            callback.stop()
            stopped[name] = callback
