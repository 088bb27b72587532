"""``bndl_dask.spark.SparkContext``: making RDDs, shared variables, its lifecycle, and the
errors for what PySpark has and bndl_dask does not."""

from __future__ import annotations

import os

import pytest

from bndl_dask.spark import RDD, SparkConf, SparkContext
from bndl_dask.spark.context import _cluster_args


@pytest.fixture(scope="module")
def sc(ctx):
    return SparkContext(ctx)


@pytest.mark.parametrize("master, expected", [
    ("local", (None, {"worker_count": 1})),
    ("local[3]", (None, {"worker_count": 3})),
    ("local[2, 4]", (None, {"worker_count": 2})),
    ("local[*]", (None, {})),
    (None, (None, {})),
    ("dask://10.0.0.1:8786", ("10.0.0.1:8786", {})),
    ("tcp://10.0.0.1:8786", ("tcp://10.0.0.1:8786", {})),
])
def test_master_urls(master, expected):
    assert _cluster_args(master) == expected


def test_spark_cluster_managers_are_refused():
    with pytest.raises(ValueError, match="dask://"):
        _cluster_args("spark://host:7077")
    with pytest.raises(TypeError, match="master URL"):
        SparkContext(3.5)


def test_wrapping_a_context_leaves_it_running(ctx):
    with SparkContext(ctx, appName="wrapped") as sc:
        assert sc.appName == "wrapped" and sc.compute_context is ctx
        assert SparkContext.getOrCreate() is sc
        assert sc.defaultParallelism == ctx.default_pcount >= sc.defaultMinPartitions
    assert ctx.running and SparkContext._active is None


def test_conf():
    conf = SparkConf().setMaster("local[2]").setAppName("app").setAll([("a", 1)])
    conf.setIfMissing("a", 2)
    assert conf.get("a") == "1" and conf.contains("spark.master")
    assert sorted(conf.getAll())[0] == ("a", "1")
    assert "spark.app.name=app" in conf.toDebugString()


def test_range_and_emptyRDD(sc):
    assert sc.range(5).collect() == list(range(5))
    assert sc.range(2, 11, 3, numSlices=2).glom().collect() == [[2], [5, 8]]
    assert sc.range(5, 0).collect() == [] and sc.range(5, 0, -2).collect() == [5, 3, 1]
    empty = sc.emptyRDD()
    assert isinstance(empty, RDD) and empty.getNumPartitions() == 0 and empty.count() == 0


def test_union(sc):
    rdds = [sc.parallelize([i, i + 1], 2) for i in range(0, 6, 2)]
    assert sc.union(rdds).collect() == list(range(6))
    assert sc.union(rdds[:1]) is rdds[0]
    with pytest.raises(ValueError, match="at least one"):
        sc.union([])


def test_text_files(sc, tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\n")
    (tmp_path / "b.txt").write_text("three\r\nfour")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".hidden").write_text("secret\n")
    assert sc.textFile(str(tmp_path)).collect() == ["one", "two", "three", "four"]
    both = f"{tmp_path / 'b.txt'},{tmp_path / 'a.txt'}"
    assert sorted(sc.textFile(both).collect()) == ["four", "one", "three", "two"]
    assert sc.textFile(str(tmp_path / "a.txt"), use_unicode=False).collect() == [b"one", b"two"]
    assert sc.textFile(str(tmp_path), minPartitions=4).getNumPartitions() >= 4
    whole = {os.path.basename(f): text for f, text in sc.wholeTextFiles(str(tmp_path)).collect()}
    assert whole == {"a.txt": "one\ntwo\n", "b.txt": "three\r\nfour"}
    binary = dict(sc.binaryFiles(str(tmp_path / "a.txt")).collect())
    assert list(binary.values()) == [b"one\ntwo\n"]


def test_broadcast_and_accumulator(sc):
    table = sc.broadcast({1: "one", 2: "two"})
    assert sc.parallelize([1, 2, 1], 2).map(lambda k: table.value[k]).collect() == [
        "one", "two", "one"]
    total = sc.accumulator(0)

    def note(x):
        total.add(x)
        return x

    sc.parallelize(range(10), 3).map(note).count()
    total += 100
    total.add(1)
    assert total.value == sum(range(10)) + 101
    with pytest.raises(NotImplementedError, match="AccumulatorParam"):
        sc.accumulator(0, accum_param=object())


def test_spark_only_features_name_the_alternative(sc):
    rdd = sc.parallelize([("a", 1)])
    assert rdd.isCheckpointed() is rdd.isLocallyCheckpointed() is False
    assert rdd.getCheckpointFile() is None
    for call, alternative in [(rdd.checkpoint, "DISK_ONLY"), (rdd.barrier, "futures"),
                              (rdd.withResources, "resources"), (rdd.toDF, "as_dataframe"),
                              (lambda: rdd.saveAsHadoopFile("p", "f"), "saveAsTextFile"),
                              (lambda: sc.sequenceFile("p"), "pickleFile"),
                              (lambda: sc.hadoopFile("p", "f", "k", "v"), "textFile")]:
        with pytest.raises(NotImplementedError, match=alternative):
            call()


def test_unknown_names_raise_attribute_errors(sc):
    rdd = sc.parallelize([1])
    with pytest.raises(AttributeError, match="rdd.dataset.count_distinct"):
        rdd.countDistinct()
    with pytest.raises(AttributeError, match="no attribute 'frobnicate'") as caught:
        rdd.frobnicate()
    assert "Dataset" not in str(caught.value)
    with pytest.raises(AttributeError, match="no attribute 'textFiles'"):
        sc.textFiles("x")
    assert not hasattr(rdd, "__array__")
