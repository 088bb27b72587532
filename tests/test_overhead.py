"""The driver's fixed cost per task: what is done once per wave or batch stays so (issue 15).

Structural checks only (no timings): a wave's graph has a layer per placement, not per task;
finished final results are fetched in one gather per batch of finished tasks; a stage's
dataset is pickled once per job, not once per task.
"""

from __future__ import annotations

from dask._expr import HLGExpr
from dask.highlevelgraph import HighLevelGraph

from bndl_dask.execute.graph import WaveGraph
from bndl_dask.execute.results import LeafFetcher, LeafResult
from bndl_dask.worker.runtime import TaskMeta, TaskOutcome


def _as_dask_sees_it(graph) -> HLGExpr:
    return HLGExpr(graph) if isinstance(graph, HighLevelGraph) else graph


def test_wave_graph_has_a_layer_per_placement_not_per_task():
    graph = WaveGraph("j0-test")
    keys = [("stage-j0-test", rank, 0) for rank in range(300)]
    for rank, key in enumerate(keys):
        workers = {"workers": ("tcp://a:1",)} if rank % 2 else {}
        graph.add(key, TaskMeta(key, rank, "t"), b"", [], {"priority": -rank, **workers},
                  data_producer=True)
    expr = _as_dask_sees_it(graph.graph())
    # a layer per task made dask's handling of the graph quadratic in the wave's size
    assert len(expr.hlg.layers) == 2
    annotations = expr.__dask_annotations__()  # what the dask scheduler reads per key
    assert annotations["priority"] == {key: -key[1] for key in keys}
    assert annotations["workers"] == {key: ("tcp://a:1",) for key in keys if key[1] % 2}
    assert sorted(expr.__dask_keys__()) == sorted(keys)


def _outcome(value: int) -> TaskOutcome:
    return TaskOutcome(value, "w", "tcp://w:1")


def test_leaves_finished_together_are_fetched_in_one_gather(ctx):
    futures = ctx.client.map(_outcome, range(5), pure=False)
    ctx.client.gather(futures)  # all finished, as the scheduler sees its leaves
    fetcher = LeafFetcher(ctx.client, prefetch=64)
    with fetcher.together():
        leaves = [LeafResult(f, fetcher, lambda outcome: None, rank=i)
                  for i, f in enumerate(futures)]
    batches = {id(batch) for batch, _ in fetcher.pending.values()}
    assert len(fetcher.pending) == 5 and len(batches) == 1
    assert [leaf.result(timeout=60) for leaf in leaves] == list(range(5))
    for leaf in leaves:
        leaf.forget()
    assert fetcher.ahead == 0


def test_fetch_ahead_stays_within_prefetch(ctx):
    futures = ctx.client.map(_outcome, range(6), pure=False)
    ctx.client.gather(futures)
    fetcher = LeafFetcher(ctx.client, prefetch=2)
    with fetcher.together():
        leaves = [LeafResult(f, fetcher, lambda outcome: None, rank=i)
                  for i, f in enumerate(futures)]
    assert fetcher.ahead == 2 and len(fetcher.pending) == 2
    values = []
    for leaf in leaves:
        values.append(leaf.result(timeout=60))
        leaf.forget()
        assert fetcher.ahead <= 2
    assert values == list(range(6))


class CountingFunction:
    """An identity function that counts how often it is pickled (on the driver)."""

    pickled = 0

    def __call__(self, value):
        return value

    def __reduce__(self):
        CountingFunction.pickled += 1
        return (CountingFunction, ())


def test_a_stage_pickles_its_dataset_once(ctx):
    from bndl_dask.planning.jobs import plan_job

    dset = ctx.range(100, pcount=20).map(CountingFunction())
    _job, final, _planner = plan_job(dset, None, "collect", None)
    before = CountingFunction.pickled
    specs = [task.spec([], {}) for task in final]
    assert CountingFunction.pickled - before == 1  # not once per task
    assert len(set(specs)) == 20  # each task still has its own partition


def test_shared_pickles_still_compute_every_partition(ctx):
    offset = 3
    dset = ctx.range(40, pcount=8).map(lambda i: i + offset).filter(lambda i: i % 2 == 0)
    assert dset.collect() == [i + offset for i in range(40) if (i + offset) % 2 == 0]
    pairs = ctx.range(200, pcount=8).map(lambda i: (i % 7, 1))
    assert sorted(pairs.reduce_by_key(lambda a, b: a + b, pcount=5).collect()) == \
        [(k, len(range(k, 200, 7))) for k in range(7)]


def _profiler_callbacks(dask_worker) -> list[str]:
    return sorted(name for name in dask_worker.periodic_callbacks if name.startswith("profile"))


def test_dask_profiler_is_off_on_the_workers_unless_asked_for(ctx):
    # its 10 ms stack walks slowed bndl's tasks by 20-30% (bndl.execute.dask_profiler)
    assert all(not names for names in ctx.client.run(_profiler_callbacks).values())
    from bndl_dask.worker.plugin import BndlWorkerPlugin

    ctx.client.register_plugin(BndlWorkerPlugin(dask_profiler=True), name="bndl-services")
    try:
        assert all(names == ["profile", "profile-cycle"]
                   for names in ctx.client.run(_profiler_callbacks).values())
    finally:
        ctx.client.register_plugin(BndlWorkerPlugin(switch_interval=0.0005), name="bndl-services")
    assert all(not names for names in ctx.client.run(_profiler_callbacks).values())


def test_a_jobs_releases_leave_with_the_next_jobs_graph(ctx):
    # a release sent alone makes the next job's graph wait out dask's 10 ms batching interval
    stream = ctx.client.scheduler_comm
    ctx.range(10, pcount=2).count()
    stream.recent_message_log.clear()
    for _ in range(6):
        ctx.range(10, pcount=2).count()
    submitted: set = set()
    alone: list = []
    for payload in list(stream.recent_message_log):
        if not isinstance(payload, list):
            continue
        ops = {message.get("op") for message in payload if isinstance(message, dict)}
        for message in payload:
            if isinstance(message, dict) and message.get("op") == "update-graph":
                submitted.update(message["keys"])
            if isinstance(message, dict) and message.get("op") == "client-releases-keys" \
                    and "update-graph" not in ops:
                alone.extend(message["keys"])
    assert len(submitted) >= 12  # six jobs of two tasks each went out
    assert not [key for key in alone if key in submitted]
