"""The pieces of a sort without a cluster: sorted runs written to a real BlockStore, boundaries
drawn from their samples, and every range read back, trimmed and merged.

What must hold: the ranges together give every record exactly once, in order, whatever the
duplicates, key function, direction, run and block sizes; the boundaries balance the ranges.
"""

from __future__ import annotations

import random

import pytest

from bndl_dask.util.serialization import dumps
from bndl_dask.worker.blockstore import BlockStore
from bndl_dask.worker.manifest import Manifest
from bndl_dask.worker.range_serving import serve_range
from bndl_dask.worker.range_shuffle import (
    RangeBounds,
    SortedRunWriter,
    merge_range,
    range_limits,
)


def sort_in_pieces(partitions: list[list], pcount: int, key=None, reverse: bool = False,
                   run_records: int = 1000, block_size: int = 8 * 2**20,
                   serialization: str = "pickle", compression: str | None = "lz4"):
    """What a sort job does, in one process: the output partitions."""
    store = BlockStore(limit=2**30)
    writer = SortedRunWriter("s1", pcount, len(partitions), key, block_size, serialization,
                             compression, run_records=run_records)
    manifests = []
    for map_idx, data in enumerate(partitions):
        counts, sample = writer.write(store, map_idx, data)
        manifests.append(Manifest("w", "tcp://w", map_idx, counts, sample))
    inputs = RangeBounds(pcount)(*manifests)
    parts = []
    for idx in range(pcount):
        range_idx = pcount - 1 - idx if reverse else idx
        limits = range_limits(inputs.bounds, range_idx)
        if limits is None:
            parts.append([])
            continue
        answer = serve_range(store, "s1", [m.map_idx for m in manifests if len(m.counts)],
                             dumps(limits, "cloudpickle"))
        assert not answer["missing"]
        blobs = sorted(zip(answer["keys"], answer["blocks"]), key=lambda pair: pair[0][2:])
        parts.append(merge_range(blobs, limits, key, reverse, serialization, compression))
    return parts


def _split(values: list, count: int) -> list[list]:
    return [values[i::count] for i in range(count)]


@pytest.mark.parametrize("run_records", [1, 7, 1000, 10**6])
def test_ranges_give_every_record_once_in_order(run_records):
    rng = random.Random(run_records)
    values = [rng.randrange(5000) for _ in range(3000)]
    parts = sort_in_pieces(_split(values, 5), pcount=7, run_records=run_records)
    assert [x for part in parts for x in part] == sorted(values)


def test_heavy_duplicates_cross_blocks_and_runs():
    # one value fills many blocks of every run: no range may take it twice or lose it
    values = [5] * 4000 + list(range(100)) + [7] * 3000
    random.Random(1).shuffle(values)
    parts = sort_in_pieces(_split(values, 3), pcount=6, run_records=900)
    assert [x for part in parts for x in part] == sorted(values)
    assert sum(1 for part in parts if 5 in part) == 1  # equal keys share one range


def test_key_function_and_reverse():
    records = [(f"k{i % 37}", i) for i in range(2000)]
    key = lambda r: r[0]  # noqa: E731
    parts = sort_in_pieces(_split(records, 4), pcount=5, key=key, reverse=True, run_records=300)
    flat = [r for part in parts for r in part]
    assert [key(r) for r in flat] == sorted((key(r) for r in records), reverse=True)
    assert sorted(flat) == sorted(records)


def test_small_blocks_and_other_serializations():
    values = [str(i) for i in range(1500)]
    random.Random(2).shuffle(values)
    for serialization, compression in [("pickle", None), ("marshal", "gzip"), ("json", "lz4")]:
        parts = sort_in_pieces(_split(values, 3), pcount=4, block_size=256,
                               serialization=serialization, compression=compression)
        assert [x for part in parts for x in part] == sorted(values), serialization


def test_edge_sizes():
    assert sort_in_pieces([[], []], pcount=3) == [[], [], []]
    more_ranges_than_records = sort_in_pieces([[2], [1]], pcount=5)
    assert len(more_ranges_than_records) == 5
    assert [x for part in more_ranges_than_records for x in part] == [1, 2]
    assert sort_in_pieces([[3, 1, 2]], pcount=2, reverse=True)[0][0] == 3


def test_boundaries_balance_the_ranges():
    values = list(range(100_000))
    random.Random(3).shuffle(values)
    parts = sort_in_pieces(_split(values, 8), pcount=10, run_records=10_000)
    sizes = [len(part) for part in parts]
    assert sum(sizes) == len(values)
    assert max(sizes) < 1.2 * len(values) / 10, sizes


def test_keys_that_do_not_compare_are_a_clear_error():
    manifests = [Manifest("w", "tcp://w", 0, None, ([1, 2], [1.0, 1.0])),
                 Manifest("w", "tcp://w", 1, None, (["a", "b"], [1.0, 1.0]))]
    with pytest.raises(TypeError, match="key="):
        RangeBounds(3, "sort of x")(*manifests)


def _block_tags(parts_input, **opts) -> set[bytes]:
    """The kinds of block (first byte, decompressed) a sort of ``parts_input`` writes."""
    from bndl_dask.util.serialization import decompress

    store = BlockStore(limit=2**30)
    writer = SortedRunWriter("s2", 3, len(parts_input), None, **opts)
    for map_idx, data in enumerate(parts_input):
        writer.write(store, map_idx, data)
    return {decompress(store.get(k), writer.compression)[:1] for k in store.keys()
            if k[3] != "fences"}


def test_plain_ints_travel_as_int64_arrays():
    pytest.importorskip("numpy")
    rng = random.Random(4)
    values = [rng.randrange(-2**63, 2**63) for _ in range(5000)]
    assert _block_tags(_split(values, 3)) == {b"N"}
    for reverse in (False, True):
        parts = sort_in_pieces(_split(values, 3), pcount=4, reverse=reverse, run_records=700)
        flat = [x for part in parts for x in part]
        assert flat == sorted(values, reverse=reverse)
        assert all(type(x) is int for x in flat)
        # and they leave the merge as the array: Python ints only where they are read
        assert {type(part).__name__ for part in parts} == {"Int64Records"}


def test_ints_that_are_not_plain_keep_their_type():
    # bools, ints past 64 bits and a key function all take the generic path, exactly
    assert _block_tags([[True, 3, 0, 2]]) != {b"N"}
    assert _block_tags([[2**64, 1, 5]]) != {b"N"}
    mixed = [[5, 1, 9, 3], [True, 0, 7], [2**70, -1]]  # one partition of plain ints only
    parts = sort_in_pieces(mixed, pcount=3, run_records=2)
    flat = [x for part in parts for x in part]
    assert flat == sorted(x for part in mixed for x in part)
    assert [type(x) for x in flat if x is True or x is False] == [bool]
    by_key = sort_in_pieces([[3, 1, 2], [6, 5, 4]], pcount=2, key=lambda x: -x)
    assert [x for part in by_key for x in part] == [6, 5, 4, 3, 2, 1]


def test_ints_without_numpy_take_the_generic_path(monkeypatch):
    from bndl_dask.worker import blocks

    monkeypatch.setattr(blocks, "numpy", None)  # as on a machine without numpy
    values = list(range(3000, 0, -1))
    assert b"N" not in _block_tags(_split(values, 3))
    parts = sort_in_pieces(_split(values, 3), pcount=4, run_records=500)
    assert [x for part in parts for x in part] == sorted(values)
