"""A worker-local store of serialized blocks that spills to disk past a memory budget.

The spilling is zict's: a ``zict.Buffer`` keeps blocks in memory up to the budget and moves the
least recently stored ones to a ``zict.File`` in a directory of their own. Reads of a spilled
block come straight from its file, without moving it back into memory: a shuffle or sort reads
most blocks once, so bringing one back would only push an unread block out to disk.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Hashable, Iterator, MutableMapping

import zict


class BlockStore:
    """Blocks of bytes by key; the oldest blocks move to files once memory use passes ``limit``.

    >>> store = BlockStore(limit=10)
    >>> store.put(('a', 1), b'0123456789')
    >>> store.put(('a', 2), b'abc')
    >>> store.spilled_count, store.get(('a', 1))
    (1, bytearray(b'0123456789'))
    >>> store.drop(lambda key: key[0] == 'a'), len(store)
    (2, 0)
    >>> store.close()
    """

    def __init__(self, limit: int, directory: str | None = None,
                 pressure: Callable[[], int] | None = None):
        self.limit = limit
        self._directory = directory
        #: bytes the process is over what it may use (0: fine): blocks then go to disk early
        self._pressure = pressure
        self._unchecked = 0  # bytes put since pressure was last asked
        self._own_dir: str | None = None
        self._lock = threading.RLock()
        #: blocks moved to disk so far
        self.spilled_count = 0
        self._buffer = zict.Buffer(
            fast={}, slow=_LazySpillFiles(self._spill_dir), n=limit, weight=_size,
            fast_to_slow_callbacks=self._count_spill)

    def _spill_dir(self) -> str:
        # made on the first spill: most workers never spill
        if self._own_dir is None:
            base = self._directory or tempfile.gettempdir()
            os.makedirs(base, exist_ok=True)
            self._own_dir = tempfile.mkdtemp(prefix="bndl-blocks-", dir=base)
        return self._own_dir

    def _count_spill(self, key: Hashable, blob: bytes) -> None:
        self.spilled_count += 1

    @property
    def memory_bytes(self) -> int:
        """Bytes of the blocks held in memory."""
        return int(self._buffer.fast.total_weight)

    def put(self, key: Hashable, blob: bytes) -> None:
        with self._lock:
            self._buffer[key] = blob
            self._unchecked += len(blob)
            if self._pressure is not None and self._unchecked >= _PRESSURE_CHECK_BYTES:
                self._unchecked = 0
                self._relieve(self._pressure())

    def _relieve(self, excess: int) -> None:
        """Move the oldest blocks to disk until ``excess`` bytes are out of memory.

        The budget alone is not enough: the process holds more than blocks (the running
        tasks' records, dask itself), and dask pauses a worker whose memory passes
        ``distributed.worker.memory.pause`` of its limit. A paused worker starts no task, and
        the running ones keep putting blocks: a shuffle larger than memory would wait forever.
        """
        fast = self._buffer.fast
        while excess > 0 and len(fast):
            _, _, weight = fast.evict()
            excess -= int(weight)

    def get(self, key: Hashable) -> bytes:
        """The block stored under ``key`` (a bytearray once it was spilled: zict reads files
        into one, and copying it to bytes would cost a second pass); KeyError when there is
        none."""
        with self._lock:
            blob = self._buffer.fast.d.get(key)  # .d: a read does not count as a use
            if blob is not None:
                return blob
        return self._buffer.slow[key]

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._buffer

    def __len__(self) -> int:
        with self._lock:
            return len(self._buffer)

    def keys(self) -> list:
        with self._lock:
            return list(self._buffer.keys())

    def drop(self, predicate: Callable[[Hashable], bool]) -> int:
        """Remove every block whose key matches; returns how many were removed."""
        with self._lock:
            doomed = [key for key in self._buffer.keys() if predicate(key)]
            for key in doomed:
                del self._buffer[key]
            return len(doomed)

    def close(self) -> None:
        with self._lock:
            self._buffer.fast.clear()
            self._buffer.slow.forget()
            if self._own_dir:
                shutil.rmtree(self._own_dir, ignore_errors=True)
                self._own_dir = None


#: bytes put between two looks at the process's memory (each costs a system call)
_PRESSURE_CHECK_BYTES = 4 * 2**20


def _size(key: Hashable, blob: bytes) -> int:
    return len(blob)


class _LazySpillFiles(MutableMapping):
    """Spilled blocks as files: a ``zict.File`` under any hashable key (zict names files by
    string keys), created with its directory on first use."""

    def __init__(self, make_directory: Callable[[], str]):
        self._make_directory = make_directory
        self._files: zict.File | None = None
        self._names: dict[Hashable, str] = {}
        self._seq = 0

    def __setitem__(self, key: Hashable, blob: bytes) -> None:
        if self._files is None:
            self._files = zict.File(self._make_directory())
        name = self._names.get(key)
        if name is None:
            self._seq += 1
            name = self._names[key] = str(self._seq)
        self._files[name] = blob

    def __getitem__(self, key: Hashable) -> bytearray:
        name = self._names[key]
        return self._files[name]

    def __delitem__(self, key: Hashable) -> None:
        name = self._names.pop(key)
        del self._files[name]

    def __contains__(self, key: object) -> bool:
        return key in self._names

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def forget(self) -> None:
        """Drop every entry without touching the files (their directory is removed whole)."""
        self._names.clear()
        self._files = None
