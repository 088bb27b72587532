"""What a map task of a shuffle or sort returns: where its blocks are, and how many."""

from __future__ import annotations

from array import array


class Manifest:
    """What one map task wrote: where (worker name and address), blocks per bucket (per run,
    for a sort) and, for a sort, a sample of its keys as ``(keys, weights)``.

    >>> Manifest('worker-0', 'tcp://127.0.0.1:40123', 3, array('I', [2, 0, 1]))
    <Manifest 3 on worker-0: 3 blocks>
    """

    __slots__ = ("worker", "address", "map_idx", "counts", "sample")

    def __init__(self, worker: str, address: str, map_idx: int, counts: array,
                 sample: tuple | None = None):
        self.worker = worker
        self.address = address
        self.map_idx = map_idx
        self.counts = counts
        self.sample = sample

    def __reduce__(self):
        return (Manifest, (self.worker, self.address, self.map_idx, self.counts, self.sample))

    def __repr__(self) -> str:
        return f"<Manifest {self.map_idx} on {self.worker}: {sum(self.counts)} blocks>"


def writer_task_id(shuffle_id: str, map_idx: int) -> tuple[str, int]:
    """The id the planner gives the writer of map partition ``map_idx``.

    >>> writer_task_id('a1b2', 0)
    ('a1b2.w', 0)
    """
    return (shuffle_id + ".w", map_idx)

