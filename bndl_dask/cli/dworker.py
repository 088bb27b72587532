"""``dworker ADDRESS``: start dask worker processes for the scheduler at ``ADDRESS``.

All options of ``dask worker`` apply (``dworker --help``; e.g. ``--nworkers``, ``--nthreads``,
``--memory-limit``, ``--tls-*``). bndl's defaults: workers listen on 127.0.0.1 (give ``--host``
with an address of this machine that the scheduler can reach to join a scheduler elsewhere),
offer the ``bndl-slots`` resource that bndl jobs use to cap their tasks per worker, and print::

    $ dworker 127.0.0.1:8786
    Start worker at                127.0.0.1:46990
    Registered with scheduler at:  127.0.0.1:8786

bndl's own services are installed by the ``ComputeContext`` that connects (a dask worker plugin),
so these workers serve any number of contexts and executors. SIGINT and SIGTERM close them
cleanly.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import sys
import threading
import time
from urllib.parse import urlparse

import dask.config

from bndl_dask.cli.args import LOCALHOST, ParsedArgs
from bndl_dask.worker.slots import SLOT_RESOURCE, SLOTS

WORKER_CLASS = "bndl_dask.cli.announce.AnnouncingWorker"


class RemoteSchedulerError(SystemExit):
    """Raised (as an exit with a message) when a loopback worker would join a remote scheduler."""


def _is_local(address: str) -> bool:
    """Whether a scheduler address points at this machine's loopback interface."""
    host = urlparse(address if "://" in address else f"tcp://{address}").hostname
    if not host:
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def _with_slots(resources: str | None) -> str:
    if resources and SLOT_RESOURCE in resources:
        return resources
    ours = f"{SLOT_RESOURCE}={SLOTS}"
    return f"{resources} {ours}" if resources else ours


def worker_args(args: list[str]) -> list[str]:
    """The ``dask worker`` command line for a ``dworker`` command line."""
    from distributed.cli.dask_worker import main as dask_worker

    parsed = ParsedArgs(dask_worker, "dworker", args)
    if parsed.wants_help():
        return parsed.args
    scheduler = parsed.params.get("scheduler")
    if not scheduler and not parsed.given("scheduler_file") and \
            dask.config.get("scheduler-address", None) is None:
        raise SystemExit("dworker: give the scheduler's address, e.g. `dworker 127.0.0.1:8786` "
                         "(or --scheduler-file FILE)")
    if not parsed.given("host", "listen_address", "interface"):
        if scheduler and not _is_local(scheduler):
            raise RemoteSchedulerError(
                f"dworker: the scheduler {scheduler} is not on this machine's loopback "
                f"interface, and workers listen on {LOCALHOST} unless told otherwise, so it "
                f"could not reach them. Pass --host with an address of this machine that the "
                f"scheduler can reach (e.g. --host 0.0.0.0 for every interface).")
        parsed.add("--host", LOCALHOST)
    if not parsed.given("dashboard_address"):
        parsed.add("--dashboard-address", f"{LOCALHOST}:0")
    if not parsed.given("worker_class"):
        parsed.add("--worker-class", WORKER_CLASS)
    resources = parsed.params.get("resources") if parsed.given("resources") else None
    if resources is not None:
        # drop the user's --resources; ours adds bndl's slots to the same value
        parsed.args = _without_option(parsed.args, "--resources")
    parsed.add("--resources", _with_slots(resources))
    return parsed.args


def _without_option(args: list[str], option: str) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            out.append(arg)
    return out


#: set by an embedded cluster (bndl_dask.api.cluster) to the pid of the process that owns it
PARENT_PID_ENV = "BNDL_DWORKER_PARENT_PID"


def stop_with_parent() -> None:
    """End this ``dworker`` when the process that started it is gone.

    An embedded cluster's scheduler lives in its driver process; when the driver is killed
    without running its exit handlers, nothing else would stop these workers. dask's worker
    processes already end with their nanny (this process), so watching here is enough.
    """
    parent = os.environ.pop(PARENT_PID_ENV, None)  # popped: the worker processes need not watch
    if not parent:
        return
    parent_pid = int(parent)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)  # dask's handler closes the nannies cleanly
        time.sleep(30)
        os._exit(1)

    threading.Thread(target=watch, name="bndl-parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    """Console entry point of ``dworker``."""
    from distributed.cli.dask_worker import main as dask_worker

    stop_with_parent()
    args = worker_args(list(sys.argv[1:] if argv is None else argv))
    dask_worker.main(args=args, prog_name="dworker")


if __name__ == "__main__":
    main()
