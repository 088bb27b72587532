"""shuffle(): placement, options, buckets, edge cases, task counts, spilling and cleanup."""

from __future__ import annotations

import itertools

import dask
import pytest

from bndl_dask.util.hashing import portable_hash
from bndl_dask.worker.services import services_for


def _shuffle_keys(dask_worker):
    return [key for key in services_for(dask_worker).blocks.keys() if key[0] == "shuffle"]


def _spill_stats(dask_worker):
    store = services_for(dask_worker).blocks
    return store.limit, store.spilled_count


def test_example_placement(ctx):
    dset = ctx.range(10, pcount=2)
    assert dset.shuffle(pcount=4).collect(parts=True) == [[0, 4, 8], [1, 5, 9], [2, 6], [3, 7]]
    assert dset.shuffle().pcount == 2  # default: the source's partition count


@pytest.mark.parametrize("size", [10, 20_000])
def test_options(ctx, size):
    """Two chained shuffles for sort x serialization x compression combinations (all of
    them on small data, each sort x serialization once with a compression on larger data)."""
    base = ctx.range(size, pcount=4).map(lambda i: str(i) * 3)
    expected_even = sorted(str(i) * 3 for i in range(0, size, 2))
    expected_odd = sorted(str(i) * 3 for i in range(1, size, 2))
    combos = list(itertools.product(
        (True, False), ("marshal", "pickle", "json"), (None, "gzip", "lz4")))
    if size > 10:
        combos = combos[::4]
    for sort, serialization, compression in combos:
        opts = dict(sort=sort, serialization=serialization, compression=compression)
        parts = base.shuffle(**opts).shuffle(
            pcount=3, partitioner=lambda s: int(s[: len(s) // 3]) % 2, **opts,
        ).collect(parts=True)
        assert len(parts) == 3
        assert parts[2] == []
        assert sorted(parts[0]) == expected_even, opts
        assert sorted(parts[1]) == expected_odd, opts
        if sort:
            assert parts[0] == sorted(parts[0])


def test_string_keys_group_across_processes(ctx):
    # str hashes are salted per process: placement must use the portable hash
    words = [f"w{i}" for i in range(300)]
    pairs = ctx.collection(words * 4, pcount=4).with_value(1)
    grouped = pairs.group_by_key(pcount=5).collect(parts=True)
    for idx, part in enumerate(grouped):
        for word, ones in part:
            assert portable_hash(word) % 5 == idx
            assert ones == [1] * 4
    assert sorted(w for part in grouped for w, _ in part) == sorted(words)
    bytes_keys = ctx.collection([w.encode() for w in words] * 2, pcount=3).with_value(1)
    counts = bytes_keys.reduce_by_key(lambda a, b: a + b).collect_as_map()
    assert counts == {w.encode(): 2 for w in words}


def test_mixed_keys(ctx):
    keys = [None, 0, 1, 1.5, -3, "a", "b", b"a", (1, "x"), ("y", None), True, 2**70, ""]
    data = [(k, i) for i in range(3) for k in keys]
    result = ctx.collection(data, pcount=3).group_by_key(pcount=4).collect_as_map()
    expected: dict = {}
    for k, v in data:
        expected.setdefault(k, []).append(v)
    assert {k: sorted(v) for k, v in result.items()} == expected
    # hash(None) == 0 and False/0 land in partition 0
    parts = ctx.collection([None, False, 3], pcount=1).shuffle(pcount=2).collect(parts=True)
    assert sorted(map(repr, parts[0])) == ["False", "None"] and parts[1] == [3]


def test_bool_groups_false_first(ctx):
    assert ctx.range(10).group_by(lambda i: i % 2 == 0).map_values(sorted).collect() == [
        (False, [1, 3, 5, 7, 9]), (True, [0, 2, 4, 6, 8])]


def test_edge_cases(ctx):
    assert ctx.collection([], pcount=3).shuffle().collect() == []
    assert ctx.collection([], pcount=3).group_by_key().collect() == []
    assert ctx.range(1000, pcount=1).shuffle().collect() == list(range(1000))
    parts = ctx.range(3, pcount=2).shuffle(pcount=10).collect(parts=True)
    assert len(parts) == 10 and sorted(itertools.chain(*parts)) == [0, 1, 2]
    # empty source partitions
    sparse = ctx.range(20, pcount=5).filter(lambda i: i < 4)
    assert sorted(sparse.shuffle(pcount=3).collect()) == [0, 1, 2, 3]
    assert sparse.map(lambda i: (i % 2, i)).reduce_by_key(lambda a, b: a + b, pcount=5) \
        .collect() == [(0, 2), (1, 4)]


def test_buckets_and_comb(ctx):
    data = ctx.collection([3, 1, 2, 3, 1, 5, 5, 5], pcount=2)
    assert sorted(data.shuffle(bucket=set).collect()) == [1, 2, 3, 5]
    assert sorted(data.shuffle(bucket="list").collect()) == sorted(data.collect())
    by_parity = data.shuffle(bucket=dict, key=lambda x: x % 2).collect()
    assert sorted(x % 2 for x in by_parity) == [0, 1]
    # comb combines each bucket map-side, sorted first when the shuffle sorts
    pairs = ctx.range(100, pcount=4).map(lambda i: (i % 3, 1))
    summed = pairs.shuffle(key=0, comb=_sum_pairs).collect()
    totals: dict = {}
    for k, v in summed:
        totals[k] = totals.get(k, 0) + v
    assert totals == {0: 34, 1: 33, 2: 33}
    assert len(summed) <= 3 * 4  # at most one record per key per map partition
    with pytest.raises(TypeError):
        data.shuffle(no_such_option=1)
    assert sorted(data.shuffle(max_mem_pct=50).collect()) == sorted(data.collect())


def _sum_pairs(records):
    out: dict = {}
    for k, v in records:
        out[k] = out.get(k, 0) + v
    return list(out.items())


def test_shuffle_with_cache_and_accumulators(ctx):
    c1, c2 = ctx.accumulator(0), ctx.accumulator(0)

    def count1(i):
        c1.update("+", i)
        return i

    def count2(i):
        c2.update("+", i)
        return i

    dset = ctx.range(10).map(count1).shuffle().cache().map(count2).shuffle()
    assert dset.count() == 10
    assert (c1.value, c2.value) == (45, 45)
    assert dset.count() == 10
    assert (c1.value, c2.value) == (45, 90)
    dset.cache()
    assert dset.count() == 10
    assert c2.value == 135
    assert dset.count() == 10
    assert (c1.value, c2.value) == (45, 135)
    dset.uncache()


def test_task_count_is_linear(ctx):
    dset = ctx.range(400, pcount=200).shuffle(pcount=200, sort=False)
    with dask.config.set({"bndl.execute.partitions_per_task": 1}):
        assert dset.count() == 400
    # 200 writers + 1 barrier + 200 readers: no task per (writer, reader) pair
    assert len(ctx.jobs[-1].tasks) == 401


def test_shuffle_data_freed_after_job(ctx):
    assert ctx.range(1000, pcount=4).map(str).shuffle().count() == 1000
    assert ctx.range(100).map(lambda i: (i % 7, i)).join(
        ctx.range(50).map(lambda i: (i % 7, -i))).count() == 7
    leftovers = ctx.client.run(_shuffle_keys)
    assert all(not keys for keys in leftovers.values()), leftovers


def test_spill_to_disk(make_ctx, monkeypatch):
    # a store budget of 0.001% of the workers' memory limit (set through the config key, in
    # the environment the worker processes inherit): almost every block spills
    monkeypatch.setenv("DASK_BNDL__COMPUTE__MEMORY__LIMIT", "0.001")
    sctx = make_ctx(worker_count=2)
    sctx.await_workers(2)
    limits = sctx.client.run(_spill_stats)
    budget = max(limit for limit, _ in limits.values())
    size = 60_000
    words = sctx.range(size, pcount=4).map(lambda i: (f"k{i % 5000}", "v" * 20))
    opts = dict(block_size_mb=0.05, compression=None)  # uncompressed: the bytes stay many
    grouped = words.shuffle(key=0, **opts).group_by_key(**opts).map_values(len)
    result = grouped.collect_as_map()
    assert result == {f"k{k}": size // 5000 for k in range(5000)}
    assert size * 20 > 2 * budget  # the data is many times the budget
    spilled = sum(count for _, count in sctx.client.run(_spill_stats).values())
    assert spilled > 0
    ordered = sctx.range(size, pcount=4).map(lambda i: (i * 7919) % size).sort(**opts).collect()
    assert ordered == list(range(size))


def test_partly_cached_shuffle(ctx):
    # take() caches one partition; collect() then reads it and runs the shuffle for the rest
    dset = ctx.range(20, pcount=4).shuffle(pcount=4).cache()
    try:
        assert dset.take(2) == [0, 4]
        assert dset.collect() == [i for r in range(4) for i in range(r, 20, 4)]
        assert dset.map(lambda x: -x).shuffle(pcount=2).count() == 20
    finally:
        dset.uncache()


@pytest.mark.parametrize("serialization", ["pickle", "marshal", "json"])
def test_block_formats_round_trip(serialization):
    """Blocks of records, of pairs as columns (marshalled, or pickled when marshal cannot take
    the values) and of several segments decode to the records that went in."""
    from fractions import Fraction

    from bndl_dask.worker.blocks import (
        decode_raw,
        decode_records,
        encode_pairs,
        encode_raw,
        join_segments,
    )

    records = [(i, str(i)) for i in range(50)]
    odd = [(i, Fraction(i, 3)) for i in range(5)] if serialization == "pickle" else records[:5]
    segments = [encode_raw(records, serialization),
                encode_pairs([k for k, _ in records], [v for _, v in records], serialization),
                encode_pairs([k for k, _ in odd], [v for _, v in odd], serialization)]
    if serialization == "pickle":
        assert [s[:1] for s in segments] == [b"M", b"K", b"Q"]

    def as_tuples(decoded):
        return [tuple(r) for r in decoded]  # json gives lists back

    for segment, expected in zip(segments, (records, records, odd)):
        assert as_tuples(decode_records(segment, serialization)) == expected
        assert as_tuples(decode_raw(segment, serialization)) == expected
    assert join_segments(segments[:1]) == segments[0]
    joined = join_segments(segments)
    assert joined[:1] == b"C"
    assert as_tuples(decode_records(joined, serialization)) == records + records + odd
    assert as_tuples(decode_raw(memoryview(joined), serialization)) == records + records + odd


def test_block_store_spills_the_oldest_and_reads_them_back(tmp_path):
    """The worker's block store (zict underneath) keeps the newest blocks within its limit,
    reads spilled ones from disk, replaces, drops and cleans up its spill directory."""
    from bndl_dask.worker.blockstore import BlockStore

    store = BlockStore(limit=25, directory=str(tmp_path))
    keys = [("shuffle", "s", idx, 0, 0) for idx in range(5)]
    for idx, key in enumerate(keys):
        store.put(key, bytes([idx]) * 10)
    assert store.spilled_count == 3 and store.memory_bytes == 20
    assert [bytes(store.get(key)) for key in keys] == [bytes([i]) * 10 for i in range(5)]
    store.put(keys[0], b"new")  # a spilled block replaced
    assert bytes(store.get(keys[0])) == b"new" and len(store) == 5
    assert store.drop(lambda key: key[2] < 2) == 2
    assert sorted(store.keys()) == keys[2:] and keys[0] not in store
    with pytest.raises(KeyError):
        store.get(keys[0])
    store.close()
    assert list(tmp_path.iterdir()) == []


def test_block_store_spills_early_under_memory_pressure(tmp_path):
    """Within its budget, the store still moves blocks to disk while the process is over what
    it may use (dask would otherwise pause the worker with the shuffle half written)."""
    from bndl_dask.worker import blockstore

    over = [0]
    store = blockstore.BlockStore(limit=10**9, directory=str(tmp_path),
                                  pressure=lambda: over[0])
    block = b"x" * (blockstore._PRESSURE_CHECK_BYTES // 2)
    store.put(("a", 0), block)
    store.put(("a", 1), block)
    assert store.spilled_count == 0  # no pressure: everything stays in memory
    over[0] = len(block) + 1  # a bit more than one block over
    store.put(("a", 2), block)
    store.put(("a", 3), block)  # the second put reaches the check
    assert store.spilled_count == 2 and store.memory_bytes == 2 * len(block)
    assert bytes(store.get(("a", 0))) == block  # the oldest went to disk and reads back
    store.close()


def test_fetch_timeouts_are_settings():
    """Shuffle, sort, cache and broadcast reads wait as long as bndl.worker's settings say."""
    import dask.config

    from bndl_dask.worker.fetch import fetch_timeouts

    with dask.config.set({"bndl.worker.connect_timeout": 2, "bndl.worker.fetch_timeout": 30}):
        assert fetch_timeouts() == (2.0, 30.0)
