"""portable_hash: the per-type fast paths agree with the general definition, and key-wise
operations over odd keys give the results of a plain dict loop."""

from __future__ import annotations

import datetime
import enum
import math
import operator
import os
import pathlib
import subprocess
import sys
from collections import Counter, defaultdict

import pytest

from bndl_dask.util.hashing import _general_hash, hashes_portably, portable_hash


class _Word(str):
    pass


class _Count(int):
    pass


class _Color(enum.IntEnum):
    RED = 1


class _Fruit(enum.Enum):
    APPLE = "apple"
    PEAR = (2, "pear")


_UTC = datetime.timezone.utc
_PLUS2 = datetime.timezone(datetime.timedelta(hours=2))
#: keys whose Python hash is salted per process (a str, or a hash built on strs)
SALTED_KEYS = [
    "spam", b"spam", datetime.date(2024, 2, 29), datetime.datetime(2024, 2, 29, 13, 5, 7, 11),
    datetime.datetime(2024, 2, 29, 13, tzinfo=_PLUS2), datetime.time(13, 5, 7),
    datetime.time(23, 30, tzinfo=_PLUS2), _Fruit.APPLE, _Fruit.PEAR,
    pathlib.PurePosixPath("/data/x.csv"), pathlib.PureWindowsPath("C:/Data/X.csv"),
    (datetime.date(2024, 1, 1), "a"), ("a", 1), frozenset({"a", "b"}),
]


_NAN = float("nan")

ODD_KEYS = [
    None, 0, 1, 1.0, True, False, 0.0, -0.0, -1, -2, 2**61 - 1, 2**61, 2**64 + 5, -(2**70),
    1.5, math.inf, -math.inf, _NAN, 1 + 2j, "", "a", "spam", "ünïcødé", "日本語", "🐍 snake",
    "lone \ud800 surrogate", _Word("spam"), _Count(7), _Color.RED, b"", b"spam", bytearray(b"ab"),
    (), (1,), (1, "a"), (1.0, "a"), (3, 4), (-1, 2**70), (0, False), (True, 5), (_Count(2), 3),
    (None, 2**70, b"x"), ((1, 2), ("a", (None,))), [1, "a"],
    frozenset({1, "a"}), ("lone \udfff", -1), (1, 2.5, 3), (1.5, True, 2**64), (1, None),
    (1, (2, 3)), [1, 2], (datetime.timedelta(3), 1), datetime.timedelta(seconds=5),
    *SALTED_KEYS,
]


def test_fast_paths_agree_with_the_general_hash():
    for key in ODD_KEYS:
        assert portable_hash(key) == _general_hash(key), key


def test_equal_keys_hash_alike():
    assert len({portable_hash(k) for k in (1, 1.0, True, _Count(1), _Color.RED)}) == 1
    assert portable_hash((1, "a")) == portable_hash((1.0, "a")) == portable_hash((True, "a"))
    assert portable_hash(_Word("spam")) == portable_hash("spam")
    assert portable_hash(0) == portable_hash(-0.0) == portable_hash(False) == 0


def test_equal_dates_times_and_tuples_hash_alike():
    instant = datetime.datetime(2024, 3, 1, 12, tzinfo=_UTC)
    assert instant == instant.astimezone(_PLUS2)
    assert portable_hash(instant) == portable_hash(instant.astimezone(_PLUS2))
    assert datetime.time(23, 30, tzinfo=_PLUS2) == datetime.time(21, 30, tzinfo=_UTC)
    assert portable_hash(datetime.time(23, 30, tzinfo=_PLUS2)) == \
        portable_hash(datetime.time(21, 30, tzinfo=_UTC))
    # tuples of numbers take Python's tuple hash, whatever the numbers' types
    assert portable_hash((1, 2)) == portable_hash((1.0, 2)) == portable_hash((True, 2.0)) == \
        portable_hash((_Count(1), 2)) == hash((1, 2))
    assert portable_hash([1, 2]) == portable_hash((1, 2))
    numpy = pytest.importorskip("numpy")
    assert portable_hash((numpy.int64(1), 2)) == portable_hash((numpy.True_, 2)) == \
        portable_hash((1, 2))


def test_salted_keys_hash_alike_in_every_process():
    # what the driver and workers started without a nanny (each with its own hash seed) do
    code = ("import sys; sys.path[:0] = sys.argv[1:]; from tests import test_hashing as t; "
            "from bndl_dask.util.hashing import portable_hash as h; "
            "print([h(k) for k in t.SALTED_KEYS])")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outputs = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        outputs.add(subprocess.run([sys.executable, "-c", code, root], env=env, check=True,
                                   capture_output=True, text=True).stdout)
    assert len(outputs) == 1, outputs
    assert outputs == {f"{[portable_hash(k) for k in SALTED_KEYS]}\n"}
    assert all(hashes_portably(k) for k in SALTED_KEYS)
    assert not hashes_portably(object()) and not hashes_portably((1, object()))


def test_lookup_finds_date_keys(ctx):
    # the driver places the key it looks for: with Python's salted hash of dates it looked in
    # the wrong partition and found nothing
    days = [datetime.date(2024, 1, 1) + datetime.timedelta(days=i % 40) for i in range(2000)]
    counts = ctx.collection(days, pcount=4).map(lambda d: (d, 1)).reduce_by_key(
        operator.add, pcount=7)
    expected = Counter(days)
    assert {day: counts.lookup(day) for day in expected} == {
        day: [n] for day, n in expected.items()}
    assert counts.lookup(datetime.date(1999, 1, 1)) == []


def test_str_hash_is_the_utf8_digest():
    # the fixed digest, not Python's salted hash: other processes compute the same
    assert portable_hash("spam") == 0x044F_01B2_43DA_FF3D
    assert portable_hash("lone \ud800") == _general_hash("lone \ud800")


def _odd_pairs():
    keys = [k for k in ODD_KEYS if k is not _NAN and not isinstance(k, (list, bytearray))]
    return [(k, i) for i in range(5) for k in keys]


def _dict_sum(pairs):
    acc: dict = {}
    for k, v in pairs:
        acc[k] = acc[k] + v if k in acc else v
    return acc


def test_keywise_operations_over_odd_keys(ctx):
    pairs = _odd_pairs()
    dset = ctx.collection(pairs, pcount=3)
    # 1, 1.0, True and friends are one key (as in a dict), wherever each of them was written
    assert dset.reduce_by_key(operator.add, pcount=4).collect_as_map() == _dict_sum(pairs)
    groups = defaultdict(list)
    for k, v in pairs:
        groups[k].append(v)
    got = dset.group_by_key(pcount=5).map_values(sorted).collect_as_map()
    assert got == {k: sorted(vs) for k, vs in groups.items()}
    names = ctx.collection([(k, repr(k)) for k in groups], pcount=2)
    joined = dset.join(names, pcount=3).map_values(sorted).collect_as_map()
    assert joined == {k: sorted((v, repr(k)) for v in vs) for k, vs in groups.items()}


def test_workers_with_different_hash_seeds_are_warned_about(monkeypatch):
    from test_cli import Proc, start_cli_cluster, stop_all

    from bndl_dask import ComputeContext

    cluster = start_cli_cluster(worker_count=0)
    workers = []
    try:
        # a nanny would give both PYTHONHASHSEED=6640; without one, each keeps its own
        for seed in ("1", "2"):
            monkeypatch.setenv("PYTHONHASHSEED", seed)
            workers.append(Proc("dworker", cluster.address, "--nthreads", "1",
                                "--memory-limit", "1GiB", "--no-nanny"))
        monkeypatch.delenv("PYTHONHASHSEED")
        for worker in workers:
            worker.expect("Registered with scheduler at:")
        with pytest.warns(RuntimeWarning, match="hash strings differently"):
            ctx = ComputeContext(cluster.address)
            assert ctx.await_workers(2) == 2 and len(ctx.workers) == 2
        try:
            # what stays right regardless: keys that hash portably
            days = [datetime.date(2024, 1, 1) + datetime.timedelta(days=i % 9) for i in range(90)]
            counts = ctx.collection(days, pcount=3).map(lambda d: (d, 1)).reduce_by_key(
                operator.add, pcount=4).collect_as_map()
            assert counts == Counter(days)
        finally:
            ctx.stop()
    finally:
        stop_all([*workers, *cluster.procs()])
