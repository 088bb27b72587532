"""WorkerHandle: how the driver and tasks name a dask worker."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse


@dataclass(frozen=True, order=True)
class WorkerHandle:
    """A worker of the cluster.

    ``name`` is the worker's dask name as a string (unique in a cluster), ``address`` its dask
    address (``tcp://127.0.0.1:40123``). Handles compare and sort by name.
    """

    name: str
    address: str = field(compare=False)
    host: str = field(compare=False, default="")
    pid: int | None = field(compare=False, default=None)
    nthreads: int = field(compare=False, default=1)
    memory_limit: int | None = field(compare=False, default=None)

    @classmethod
    def from_info(cls, address: str, info: dict[str, Any]) -> WorkerHandle:
        name = info.get("name")
        return cls(
            name=str(address if name is None else name),
            address=address,
            host=info.get("host") or urlparse(address).hostname or "",
            pid=info.get("pid"),
            nthreads=int(info.get("nthreads") or 1),
            memory_limit=info.get("memory_limit") or None,
        )

    def __repr__(self) -> str:
        mem = f", {self.memory_limit / 2**30:.1f} GiB" if self.memory_limit else ""
        pid = f", pid {self.pid}" if self.pid else ""
        return f"<Worker {self.name} at {self.address} ({self.nthreads} threads{mem}{pid})>"


def process_identity() -> tuple[int, int]:
    """A worker process's pid, and the hash of a fixed string: equal in two processes only
    when they share a hash seed (``PYTHONHASHSEED``, which a dask nanny fixes)."""
    return os.getpid(), hash("bndl_dask hash seed probe")
