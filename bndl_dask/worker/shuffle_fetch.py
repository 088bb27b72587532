"""The reduce side of a shuffle: fetching one bucket from every worker that holds part of it.

A reduce-side task pulls block ``bucket_idx`` of every manifest: from its own store when it
holds them, else with one ``bndl_get_blocks`` request per holding worker (``fetch``). When a
holder is gone or has lost blocks, the reader raises ``DependenciesFailed`` naming the writers
to re-run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from distributed import get_worker

from bndl_dask.worker.exceptions import DependenciesFailed
from bndl_dask.worker.fetch import start_fetch
from bndl_dask.worker.manifest import Manifest, writer_task_id
from bndl_dask.worker.services import services_for


class PendingBucket:
    """Bucket ``bucket_idx``'s keys per holder, with the other holders already asked for their
    blocks. Made by ``fetch_bucket`` itself, or ahead of it: a task computing several
    partitions makes the next one's while it computes the current one."""

    __slots__ = ("local_keys", "by_holder", "names", "remote")

    def __init__(self, shuffle_id: str, bucket_idx: int, manifests: Sequence[Any]):
        dask_worker = get_worker()
        by_holder: dict[str, list] = {}
        self.names: dict[str, str] = {}
        for item in manifests:
            manifest = item.value if not isinstance(item, Manifest) else item
            count = manifest.counts[bucket_idx]
            if not count:
                continue
            self.names[manifest.address] = manifest.worker
            keys = by_holder.setdefault(manifest.address, [])
            for seq in range(count):
                keys.append(("shuffle", shuffle_id, manifest.map_idx, bucket_idx, seq))
        self.local_keys = by_holder.pop(dask_worker.address, None)
        self.by_holder = by_holder
        self.remote = start_fetch(dask_worker, {
            address: {"op": "bndl_get_blocks", "keys": keys}
            for address, keys in by_holder.items()}) if by_holder else None


def fetch_bucket(shuffle_id: str, bucket_idx: int, manifests: Sequence[Any],
                 pending: PendingBucket | None = None) -> Iterator[tuple[int, bytes]]:
    """``(map_idx, blob)`` for every block of bucket ``bucket_idx``: this worker's own blocks
    first, read while the other holders' blocks are on their way (one request per holder, all
    sent at once, or already sent: ``pending``), then those. Blocks of one
    map task come in order.

    ``manifests`` are the barrier's results (``Computed`` objects whose ``value`` is a
    ``Manifest``, or Manifests). Raises ``DependenciesFailed`` naming the writers whose blocks
    could not be had, once every block that could be had was yielded.
    """
    if pending is None:
        pending = PendingBucket(shuffle_id, bucket_idx, manifests)
    dask_worker = get_worker()
    services = services_for(dask_worker)
    local_address = dask_worker.address
    by_holder, names = pending.by_holder, pending.names
    local_keys, remote = pending.local_keys, pending.remote
    lost: dict[str, set[int]] = {}
    try:
        for key in local_keys or ():
            try:
                blob = services.blocks.get(key)
            except (KeyError, FileNotFoundError):
                lost.setdefault(names[local_address], set()).add(key[2])
            else:
                yield key[2], blob
        answers = remote.result() if remote is not None else {}
    finally:
        if remote is not None and not remote.done():
            remote.cancel()  # the reader gave up (an error, or the task was cancelled)
    for address, (found, error) in answers.items():
        keys = by_holder[address]
        if error is not None:
            lost.setdefault(names[address], set()).update(key[2] for key in keys)
            continue
        missing = {tuple(key) for key in found["missing"]}
        blocks = iter(found["blocks"])
        for key in keys:
            if key in missing:
                lost.setdefault(names[address], set()).add(key[2])
            else:
                yield key[2], next(blocks)
    if lost:
        raise DependenciesFailed({
            name: [writer_task_id(shuffle_id, idx) for idx in sorted(indices)]
            for name, indices in lost.items()})
