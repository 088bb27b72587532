"""Print the ready lines of ``dscheduler`` / ``dworker`` on stdout.

``Start scheduler at 127.0.0.1:8786`` comes from a scheduler ``--preload`` (its ``dask_setup``
runs once the scheduler listens); the worker lines come from ``AnnouncingWorker``, the worker
class ``dworker`` runs by default, once the worker has registered with the scheduler.
"""

from __future__ import annotations

from typing import Any

from distributed import Worker

_LABEL_WIDTH = 31  # the seed aligns the worker's two addresses in one column


def display_address(address: str) -> str:
    """``'tcp://127.0.0.1:8786'`` -> ``'127.0.0.1:8786'``; other protocols stay visible."""
    return address[len("tcp://"):] if address.startswith("tcp://") else address


def announce(label: str, address: str) -> None:
    print(f"{label:<{_LABEL_WIDTH}}{display_address(address)}", flush=True)


def dask_setup(server: Any) -> None:
    """Scheduler preload hook: called by dask after the scheduler started listening."""
    print(f"Start scheduler at {display_address(server.address)}", flush=True)


class AnnouncingWorker(Worker):
    """A dask ``Worker`` that prints the seed's two lines once it is registered."""

    async def start_unsafe(self):
        result = await super().start_unsafe()
        announce("Start worker at", self.address)
        announce("Registered with scheduler at:", self.scheduler.address)
        return result
