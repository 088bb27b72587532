"""A worker-local store of serialized blocks that spills to disk past a memory budget."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class BlockStore:
    """Blocks of bytes by key; the oldest blocks move to files once memory use passes ``limit``.

    >>> store = BlockStore(limit=10)
    >>> store.put(('a', 1), b'0123456789'); store.put(('a', 2), b'abc')
    >>> store.get(('a', 1)), store.spilled_count
    (b'0123456789', 1)
    >>> store.drop(lambda key: key[0] == 'a'); len(store)
    0
    """

    def __init__(self, limit: int, directory: str | None = None):
        self.limit = limit
        self._directory = directory
        self._own_dir: str | None = None
        self._memory: OrderedDict[Hashable, bytes] = OrderedDict()
        self._disk: dict[Hashable, str] = {}
        self.memory_bytes = 0
        self.spilled_count = 0
        self._lock = threading.RLock()
        self._seq = 0

    def _spill_dir(self) -> str:
        if self._own_dir is None:
            base = self._directory or tempfile.gettempdir()
            os.makedirs(base, exist_ok=True)
            self._own_dir = tempfile.mkdtemp(prefix="bndl-blocks-", dir=base)
        return self._own_dir

    def put(self, key: Hashable, blob: bytes) -> None:
        with self._lock:
            self._remove(key)
            self._memory[key] = blob
            self.memory_bytes += len(blob)
            while self.memory_bytes > self.limit and len(self._memory) > 0:
                self._spill_oldest()

    def _spill_oldest(self) -> None:
        key, blob = self._memory.popitem(last=False)
        self.memory_bytes -= len(blob)
        self._seq += 1
        path = os.path.join(self._spill_dir(), f"{self._seq}.blk")
        with open(path, "wb") as f:
            f.write(blob)
        self._disk[key] = path
        self.spilled_count += 1

    def get(self, key: Hashable) -> bytes:
        with self._lock:
            blob = self._memory.get(key)
            if blob is not None:
                return blob
            path = self._disk[key]
        with open(path, "rb") as f:
            return f.read()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._memory or key in self._disk

    def __len__(self) -> int:
        with self._lock:
            return len(self._memory) + len(self._disk)

    def keys(self) -> list:
        with self._lock:
            return list(self._memory) + list(self._disk)

    def _remove(self, key: Hashable) -> None:
        blob = self._memory.pop(key, None)
        if blob is not None:
            self.memory_bytes -= len(blob)
        path = self._disk.pop(key, None)
        if path is not None:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass

    def drop(self, predicate: Callable[[Hashable], bool]) -> int:
        """Remove every block whose key matches; returns how many were removed."""
        with self._lock:
            doomed = [key for key in self.keys() if predicate(key)]
            for key in doomed:
                self._remove(key)
            return len(doomed)

    def close(self) -> None:
        with self._lock:
            self._memory.clear()
            self._disk.clear()
            self.memory_bytes = 0
            if self._own_dir:
                shutil.rmtree(self._own_dir, ignore_errors=True)
                self._own_dir = None
