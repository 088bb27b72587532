"""``dscheduler``: start a dask scheduler, listening on 127.0.0.1 unless told otherwise.

All options of ``dask scheduler`` apply (``dscheduler --help``). bndl's defaults: the scheduler
and its dashboard listen on 127.0.0.1 (``--host`` / ``--dashboard-address`` to change that; with
``--tls-*`` files the scheduler speaks TLS), and once it listens it prints::

    $ dscheduler
    Start scheduler at 127.0.0.1:8786

SIGINT (Ctrl-C) and SIGTERM close it cleanly.
"""

from __future__ import annotations

import sys

from bndl_dask.cli.args import LOCALHOST, ParsedArgs

ANNOUNCE_PRELOAD = "bndl_dask.cli.announce"


def scheduler_args(args: list[str]) -> list[str]:
    """The ``dask scheduler`` command line for a ``dscheduler`` command line."""
    from distributed.cli.dask_scheduler import main as dask_scheduler

    parsed = ParsedArgs(dask_scheduler, "dscheduler", args)
    if parsed.wants_help():
        return parsed.args
    if not parsed.given("host", "interface"):
        tls = parsed.given("tls_ca_file", "tls_cert", "tls_key") and not parsed.given("protocol")
        parsed.add("--host", f"tls://{LOCALHOST}" if tls else LOCALHOST)
    if not parsed.given("dashboard_address"):
        parsed.add("--dashboard-address", f"{LOCALHOST}:8787")
    parsed.add("--preload", ANNOUNCE_PRELOAD)
    return parsed.args


def main(argv: list[str] | None = None) -> None:
    """Console entry point of ``dscheduler``."""
    from distributed.cli.dask_scheduler import main as dask_scheduler

    args = scheduler_args(list(sys.argv[1:] if argv is None else argv))
    dask_scheduler.main(args=args, prog_name="dscheduler")


if __name__ == "__main__":
    main()
