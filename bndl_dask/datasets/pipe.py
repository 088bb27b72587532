"""``Dataset.pipe``: streaming a partition through an external command."""

from __future__ import annotations

import shlex
import subprocess
import threading
from collections.abc import Callable, Iterable
from typing import Any


def pipe_partition(command: str | list, reader: Callable, writer: Callable, opts: dict,
                   data: Iterable) -> Any:
    """Run ``command`` with ``writer(stdin, data)`` feeding it from a thread; return
    ``reader(stdout)``.

    The command's output is read while the partition is still being written, so neither side
    blocks on a full pipe. An exception raised while writing (e.g. by upstream user code that
    produces the partition) is re-raised once the output has been read; a command that stops
    reading early (``head``) is not an error.

    >>> import io
    >>> pipe_partition('sort', io.IOBase.readlines, io.IOBase.writelines, {}, [b'b\\n', b'a\\n'])
    [b'a\\n', b'b\\n']
    """
    args = shlex.split(command) if isinstance(command, str) else list(command)
    opts = dict(opts)
    opts.setdefault("stdin", subprocess.PIPE)
    opts.setdefault("stdout", subprocess.PIPE)
    process = subprocess.Popen(args, **opts)
    failure: list[BaseException] = []

    def feed() -> None:
        try:
            writer(process.stdin, data if data is not None else ())
        except BrokenPipeError:
            pass  # the command stopped reading; its output decides the result
        except BaseException as exc:  # noqa: B036 - re-raised in the task's thread below
            failure.append(exc)
        finally:
            try:
                process.stdin.close()
            except OSError:
                pass

    feeder = threading.Thread(target=feed, name="bndl-pipe-writer", daemon=True)
    feeder.start()
    try:
        output = reader(process.stdout)
        if hasattr(output, "__next__"):
            output = list(output)  # read before the pipe is closed below
    except BaseException:
        process.kill()  # unblocks the writer thread if it is stuck on a full pipe
        raise
    finally:
        feeder.join()
        process.stdout.close()
        if process.poll() is None:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    if failure:
        raise failure[0]
    return output
