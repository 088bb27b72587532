"""The holder's side of a sort read: picking the blocks of a key range by their fences.

Next to each map task's sorted runs its writer stores the runs' *fences*, the first key of
every block (under ``fences_key``). A reader asks for one key range with ``bndl_get_range``;
the holder answers with the blocks that may hold keys in it (``serve_range``), comparing only
keys, so no user code runs in the worker's event loop.
"""

from __future__ import annotations

from bisect import bisect_right

from bndl_dask.util.serialization import loads


def fences_key(shuffle_id: str, map_idx: int) -> tuple:
    """The block-store key of map task ``map_idx``'s fences."""
    return ("shuffle", shuffle_id, map_idx, "fences")


def select_blocks(store, shuffle_id: str, map_idx: int, limits: tuple) -> list[tuple]:
    """The keys of ``map_idx``'s blocks that may hold keys within ``limits``, run by run.

    Raises KeyError when the blocks are gone. Only keys are compared here (no user code): the
    reader trims the edge blocks, which may hold keys beyond the range.
    """
    has_low, low, has_high, high = limits
    fences = loads(store.get(fences_key(shuffle_id, map_idx)), "cloudpickle")
    selected = []
    for run_idx, firsts in enumerate(fences):
        # a block whose successor starts at or below ``low`` lies wholly below the range
        start = max(bisect_right(firsts, low) - 1, 0) if has_low else 0
        stop = bisect_right(firsts, high) if has_high else len(firsts)
        selected.extend(("shuffle", shuffle_id, map_idx, run_idx, seq)
                        for seq in range(start, stop))
    return selected


def serve_range(store, shuffle_id: str, map_indices: list[int], limits_blob: bytes) -> dict:
    """What a holder answers ``bndl_get_range``: the selected blocks (with their keys) of every
    map task asked for that it still has, and the map tasks it lacks."""
    limits = loads(limits_blob, "cloudpickle")
    keys, blocks, missing = [], [], []
    for map_idx in map_indices:
        try:
            selected = select_blocks(store, shuffle_id, map_idx, limits)
            found = [store.get(key) for key in selected]
        except (KeyError, FileNotFoundError):
            missing.append(map_idx)
            continue
        keys.extend(selected)
        blocks.extend(found)
    return {"keys": keys, "blocks": blocks, "missing": missing}
