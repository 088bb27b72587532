"""PySpark's ``StorageLevel`` and how each level maps onto bndl_dask's dataset caching."""

from __future__ import annotations

from typing import Any


class StorageLevel:
    """Where ``RDD.persist`` keeps an RDD: PySpark's flags and named levels.

    bndl_dask caches a partition on the worker that computed it: ``MEMORY_ONLY*`` as Python
    objects in memory; ``MEMORY_AND_DISK*`` (and ``OFF_HEAP``) pickled in the worker's block
    store, which keeps blocks in memory and spills the oldest to disk past its budget;
    ``DISK_ONLY*`` pickled on disk; ``NONE`` uncaches. Replication has no counterpart: a lost
    cached partition is recomputed from its lineage, as Spark does when no replica is left.

    >>> StorageLevel.MEMORY_AND_DISK
    StorageLevel(True, True, False, False, 1)
    >>> cache_options(StorageLevel.DISK_ONLY)
    {'location': 'disk'}
    """

    NONE: StorageLevel
    DISK_ONLY: StorageLevel
    DISK_ONLY_2: StorageLevel
    DISK_ONLY_3: StorageLevel
    MEMORY_ONLY: StorageLevel
    MEMORY_ONLY_2: StorageLevel
    MEMORY_AND_DISK: StorageLevel
    MEMORY_AND_DISK_2: StorageLevel
    MEMORY_AND_DISK_DESER: StorageLevel
    OFF_HEAP: StorageLevel

    def __init__(self, useDisk: bool, useMemory: bool, useOffHeap: bool, deserialized: bool,
                 replication: int = 1):
        self.useDisk = useDisk
        self.useMemory = useMemory
        self.useOffHeap = useOffHeap
        self.deserialized = deserialized
        self.replication = replication

    def _flags(self) -> tuple:
        return (self.useDisk, self.useMemory, self.useOffHeap, self.deserialized,
                self.replication)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StorageLevel) and self._flags() == other._flags()

    def __hash__(self) -> int:
        return hash(self._flags())

    def __repr__(self) -> str:
        return "StorageLevel({}, {}, {}, {}, {})".format(*self._flags())

    def __str__(self) -> str:
        parts = [name for name, used in (("Disk", self.useDisk), ("Memory", self.useMemory),
                                          ("OffHeap", self.useOffHeap)) if used]
        kind = "Deserialized" if self.deserialized else "Serialized"
        return f"{' '.join(parts) or 'No'} {kind} {self.replication}x Replicated"


StorageLevel.NONE = StorageLevel(False, False, False, False)
StorageLevel.DISK_ONLY = StorageLevel(True, False, False, False)
StorageLevel.DISK_ONLY_2 = StorageLevel(True, False, False, False, 2)
StorageLevel.DISK_ONLY_3 = StorageLevel(True, False, False, False, 3)
StorageLevel.MEMORY_ONLY = StorageLevel(False, True, False, False)
StorageLevel.MEMORY_ONLY_2 = StorageLevel(False, True, False, False, 2)
StorageLevel.MEMORY_AND_DISK = StorageLevel(True, True, False, False)
StorageLevel.MEMORY_AND_DISK_2 = StorageLevel(True, True, False, False, 2)
StorageLevel.MEMORY_AND_DISK_DESER = StorageLevel(True, True, False, True)
StorageLevel.OFF_HEAP = StorageLevel(True, True, True, False, 1)


def cache_options(level: StorageLevel) -> dict[str, Any] | None:
    """The ``Dataset.cache`` arguments for ``level``; None means uncache (``NONE``)."""
    if not isinstance(level, StorageLevel):
        raise TypeError(f"persist takes a StorageLevel (e.g. StorageLevel.MEMORY_ONLY), "
                        f"not {type(level).__name__}")
    if level.useOffHeap or (level.useMemory and level.useDisk):
        # serialized blocks live in the block store, which spills to disk past its budget
        return {"location": "memory", "serialization": "pickle"}
    if level.useMemory:
        return {"location": "memory"}
    if level.useDisk:
        return {"location": "disk"}
    return None
