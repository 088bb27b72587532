"""gc_paused: the collector held back, not off; whole partitions computed under it."""

from __future__ import annotations

import gc

from bndl_dask.util.gc_pause import PAUSED_THRESHOLD, gc_paused


class _Cycle:
    def __init__(self):
        self.me = self  # garbage only the cyclic collector can free


def test_cycles_made_while_paused_are_still_collected():
    collected = []

    def note(phase, info):
        if phase == "stop":
            collected.append(info["collected"])

    gc.collect()
    gc.callbacks.append(note)
    try:
        with gc_paused():
            for _ in range(3 * PAUSED_THRESHOLD):
                _Cycle()
            during = sum(collected)
    finally:
        gc.callbacks.remove(note)
    # held to one collection per PAUSED_THRESHOLD young objects: most cycles are freed already
    assert during >= PAUSED_THRESHOLD, during
    assert gc.isenabled() and gc.get_threshold()[0] < PAUSED_THRESHOLD


def test_nested_pauses_restore_the_thresholds_once():
    before = gc.get_threshold()
    with gc_paused():
        with gc_paused():
            assert gc.get_threshold()[0] == PAUSED_THRESHOLD
        assert gc.get_threshold()[0] == PAUSED_THRESHOLD
    assert gc.get_threshold() == before


def _watch_collections(dask_worker=None):
    import builtins
    import gc

    builtins._bndl_test_largest_gen0 = [0]

    def note(phase, info):
        if phase == "start":  # how many young objects this collection walks
            largest = builtins._bndl_test_largest_gen0
            largest[0] = max(largest[0], gc.get_count()[0])

    gc.callbacks.append(note)
    builtins._bndl_test_note = note


def _largest_collection(dask_worker=None):
    import builtins
    import gc

    gc.callbacks.remove(builtins._bndl_test_note)
    return builtins._bndl_test_largest_gen0[0]


def test_a_partition_flows_through_its_task_without_collections(ctx):
    # the groups of a group_by_key, counted in the same task, are made and freed while the
    # task computes its partitions under gc_paused: the collector never walks them (it used
    # to walk every group of a partition once the merge's pause ended)
    grouped = ctx.range(400_000, pcount=4).map(lambda i: (i % 50_000, i)).group_by_key(
        pcount=4).map_values(len)
    assert grouped.count() == 50_000  # warm up
    ctx.client.run(_watch_collections)
    assert grouped.count() == 50_000
    largest = ctx.client.run(_largest_collection)
    assert all(young < 1000 for young in largest.values()), largest
