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

    def __init__(self, switch_interval: float | None = None):
        self.switch_interval = switch_interval

    async def setup(self, worker) -> None:
        # A task holds the GIL while it computes; the worker's event loop (answering other
        # workers' shuffle fetches, reporting results) waits up to a switch interval for it on
        # every turn, and a fetch takes several turns
        if self.switch_interval:
            sys.setswitchinterval(self.switch_interval)
        services_for(worker)
        if SLOT_RESOURCE not in worker.state.total_resources:
            await worker.set_resources(**{SLOT_RESOURCE: SLOTS})

    # No teardown: a second context registering the plugin again must not wipe the caches and
    # shuffle data of the first. The services die with the worker process.
