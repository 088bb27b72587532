"""Issue 12 item 9: a bound on what an action gathers to the driver
(``bndl.execute.max_result_size``, as Spark's ``spark.driver.maxResultSize``)."""

from __future__ import annotations

import dask.config
import pytest

from bndl_dask.execute.exceptions import ResultTooLarge


def test_collect_over_the_bound_says_how_much_and_what_to_use(ctx):
    dset = ctx.range(200_000, pcount=4).map(str)  # lists of strings, not ranges
    with dask.config.set({"bndl.execute.max_result_size": "64KiB"}):
        with pytest.raises(ResultTooLarge) as caught:
            dset.collect()
    message = str(caught.value)
    assert "max_result_size" in message and "64.00 kiB" in message
    assert "gathered" in message and "of 4 partitions" in message
    assert "icollect" in message and "save_as_" in message
    assert ctx.range(10).collect() == list(range(10))  # the context is still usable


def test_every_gathering_action_is_bounded(ctx):
    pairs = ctx.range(100_000, pcount=4).map(lambda x: (x, x))
    with dask.config.set({"bndl.execute.max_result_size": "64KiB"}):
        with pytest.raises(ResultTooLarge):
            pairs.collect_as_map()
        with pytest.raises(ResultTooLarge):
            pairs.collect_as_set()
        with pytest.raises(ResultTooLarge):
            pairs.collect(parts=True)
        with pytest.raises(ResultTooLarge):
            pairs.aggregate(list, lambda partials: sum(len(p) for p in partials))


def test_icollect_streams_past_the_bound_and_small_results_pass(ctx):
    dset = ctx.range(200_000, pcount=8)
    with dask.config.set({"bndl.execute.max_result_size": "64KiB"}):
        assert sum(1 for _ in dset.icollect()) == 200_000
        assert dset.count() == 200_000
        assert ctx.range(100).collect() == list(range(100))


def test_no_bound_with_zero_and_a_context_setting(make_ctx):
    other = make_ctx(worker_count=1, conf={"bndl.execute.max_result_size": "1KiB"})
    with pytest.raises(ResultTooLarge):
        other.range(10_000, pcount=2).map(str).collect()
    other.conf["bndl.execute.max_result_size"] = 0
    assert len(other.range(10_000, pcount=2).map(str).collect()) == 10_000
    other.conf["bndl.execute.max_result_size"] = "lots"
    with pytest.raises(ValueError, match="max_result_size"):
        other.range(10).collect()
