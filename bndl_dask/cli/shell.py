"""``bndl-dask-shell``: a Python shell with a ``ComputeContext`` ready as ``ctx``.

::

    $ bndl-dask-shell                          # local worker processes, one per core
    $ bndl-dask-shell --workers 2              # two local worker processes
    $ bndl-dask-shell --scheduler 127.0.0.1:8786
    >>> ctx.range(100).map(lambda x: x * 2).sum()
    9900
    >>> executor.submit(abs, -1).result()      # dask's futures API on the same cluster
    1

IPython is used when it is installed and stdin is a terminal, else Python's own ``code``
console. ``-c CODE`` runs CODE instead of a shell (exit status 1 when it raises).
"""

from __future__ import annotations

import argparse
import code
import sys
import traceback
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bndl-dask-shell",
        description="A Python shell with a bndl_dask ComputeContext ready as `ctx`.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="join the dask scheduler at ADDRESS (e.g. 127.0.0.1:8786) instead "
                            "of starting local workers")
    where.add_argument("--workers", metavar="N", type=int,
                       help="how many local worker processes to start (default: one per core)")
    parser.add_argument("-c", dest="code", metavar="CODE",
                        help="run CODE with `ctx` defined, then exit")
    parser.add_argument("--no-ipython", action="store_true",
                        help="use Python's plain console even when IPython is installed")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def namespace(ctx: Any) -> dict[str, Any]:
    """What the shell starts with: ``ctx``, ``executor`` and the main names of bndl_dask."""
    import bndl_dask

    return {
        "ctx": ctx,
        "executor": ctx.executor,
        "bndl_dask": bndl_dask,
        "ComputeContext": bndl_dask.ComputeContext,
        "Executor": bndl_dask.Executor,
        "wait": bndl_dask.wait,
        "as_completed": bndl_dask.as_completed,
        "progress": bndl_dask.progress,
    }


def _interact(ns: dict[str, Any], banner: str, plain: bool) -> None:
    if not plain and sys.stdin.isatty():
        try:
            from IPython import start_ipython
        except ImportError:
            pass
        else:
            print(banner)
            start_ipython(argv=[], user_ns=ns)
            return
    code.interact(banner=banner, local=ns, exitmsg="")


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``bndl-dask-shell``."""
    args = parse_args(argv)
    from bndl_dask import ComputeContext, set_context

    ctx = ComputeContext(args.scheduler, worker_count=args.workers)
    set_context(ctx)
    try:
        ns = namespace(ctx)
        if args.code is not None:
            try:
                exec(compile(args.code, "<bndl-dask-shell -c>", "exec"), ns)
            except SystemExit as exc:
                return exc.code if isinstance(exc.code, int) else 0
            except BaseException:
                traceback.print_exc()
                return 1
            return 0
        where = args.scheduler or f"{ctx.worker_count} local workers"
        link = ctx.dashboard_link
        banner = (f"bndl_dask shell: `ctx` is a ComputeContext on {where}"
                  f"{f', dashboard {link}' if link else ''}; `executor` is its Executor.")
        _interact(ns, banner, args.no_ipython)
        return 0
    finally:
        ctx.stop()


if __name__ == "__main__":
    sys.exit(main())
