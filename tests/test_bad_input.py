"""A catalogue of bad inputs across the public API.

Each case names the exact exception a user sees and key words of a message that says what to
do. Errors raised by user code on a worker arrive as ``InvocationException`` instances that are
also instances of the original type (``remote=True``); the rest are raised on the driver, as
the plain type itself. After every case the session context must still run jobs.
"""

from __future__ import annotations

import pickle
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

import dask.config
import pytest

from bndl_dask import ComputeContext
from bndl_dask.datasets.core import ActionInTaskError, ArgumentError
from bndl_dask.execute.exceptions import InvocationException
from bndl_dask.worker.broadcasts import BroadcastUnpersisted

LOCK = threading.Lock()  # captured by closures that therefore cannot be pickled


@dataclass
class Case:
    name: str
    run: Callable  # run(ctx) must raise
    error: type
    words: tuple[str, ...]
    remote: bool | None = False  # None: raised on the driver or on a worker, either is right

    def __str__(self) -> str:
        return self.name


def _free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pairs(ctx):
    return ctx.range(10).key_by(lambda x: x % 3)


def _set_conf(key, value):
    def run(ctx):
        ctx.conf[key] = value
    return run


def _dask_conf_then_action(ctx):
    # a bad value can also come from dask.config / DASK_BNDL__... / BNDL_CONF: caught on use
    with dask.config.set({"bndl.execute.attempts": 0}):
        ctx.range(4).count()


def _unpersisted_on_driver(ctx):
    value = ctx.broadcast([1, 2, 3])
    value.unpersist()
    return value.value


def _unpersisted_in_task(ctx):
    value = ctx.broadcast([1, 2, 3])
    dset = ctx.range(4).map(lambda x: value.value[0] + x)
    value.unpersist()
    return dset.collect()


def _accumulator_read_in_task(ctx):
    acc = ctx.accumulator(0)
    return ctx.range(4).map(lambda x: acc.value).collect()


def _accumulator_bad_op_in_task(ctx):
    acc = ctx.accumulator(0)
    return ctx.range(4).map(lambda x: acc.update("nonsense", x)).count()


def _captured_dataset_collected_in_task(ctx):
    inner = ctx.range(3)
    return ctx.range(3).map(lambda x: inner.collect()).collect()


CASES = [
    # -- addresses ------------------------------------------------------------------------------
    Case("nothing listening", lambda ctx: ComputeContext(f"127.0.0.1:{_free_port()}",
                                                         connect_timeout=2),
         ConnectionError, ("Could not reach", "running")),
    Case("unparsable address", lambda ctx: ComputeContext("not an address::x"),
         ValueError, ("port", "not a number")),
    Case("address without port", lambda ctx: ComputeContext("127.0.0.1"),
         ValueError, ("host:8786",)),
    Case("unknown protocol", lambda ctx: ComputeContext("http://127.0.0.1:8786"),
         ValueError, ("protocol",)),
    Case("port out of range", lambda ctx: ComputeContext("127.0.0.1:70000"),
         ValueError, ("between 1 and 65535",)),
    Case("port keyword 0", lambda ctx: ComputeContext(port=0),
         ValueError, ("between 1 and 65535",)),
    Case("address of wrong type", lambda ctx: ComputeContext(42),
         TypeError, ("scheduler address", "Client")),
    Case("address and ip both", lambda ctx: ComputeContext("127.0.0.1:8786", ip="127.0.0.1"),
         ValueError, ("not both",)),
    # -- counts ---------------------------------------------------------------------------------
    Case("worker_count 0", lambda ctx: ComputeContext(worker_count=0),
         ValueError, ("worker_count", "at least 1")),
    Case("worker_count text", lambda ctx: ComputeContext(worker_count="2"),
         TypeError, ("worker_count", "int")),
    Case("range pcount 0", lambda ctx: ctx.range(10, pcount=0),
         ValueError, ("pcount", "at least 1")),
    Case("range step 0", lambda ctx: ctx.range(0, 10, 0), ValueError, ("step", "zero")),
    Case("collection psize 0", lambda ctx: ctx.collection([1, 2], psize=0),
         ValueError, ("psize", "at least 1")),
    Case("collection pcount and psize", lambda ctx: ctx.collection([1, 2], pcount=1, psize=1),
         ValueError, ("pcount", "psize")),
    Case("take -1", lambda ctx: ctx.range(10).take(-1), ValueError, ("num", ">= 0")),
    Case("take text", lambda ctx: ctx.range(10).take("3"), TypeError, ("num", "int")),
    Case("nlargest -1", lambda ctx: ctx.range(10).nlargest(-1), ValueError, ("nlargest", ">= 0")),
    Case("coalesce_parts 0", lambda ctx: ctx.range(10).coalesce_parts(0),
         ArgumentError, ("pcount", "at least 1")),
    Case("sample fraction 2", lambda ctx: ctx.range(10).sample(2.0),
         ArgumentError, ("between 0 and 1", "with_replacement")),
    Case("histogram 0 bins", lambda ctx: ctx.range(10).histogram(0),
         ValueError, ("bins", "at least 1")),
    # -- not callables --------------------------------------------------------------------------
    Case("map 3", lambda ctx: ctx.range(10).map(3), TypeError, ("func", "callable")),
    Case("filter 3", lambda ctx: ctx.range(10).filter(3), TypeError, ("func", "callable")),
    Case("flatmap 3", lambda ctx: ctx.range(10).flatmap(3), TypeError, ("func", "callable")),
    Case("map_partitions text", lambda ctx: ctx.range(10).map_partitions("len"),
         TypeError, ("func", "callable")),
    Case("key_by 3", lambda ctx: ctx.range(10).key_by(3), TypeError, ("key", "callable")),
    Case("reduce_by_key 3", lambda ctx: _pairs(ctx).reduce_by_key(3),
         TypeError, ("reduction", "callable")),
    Case("reduce None", lambda ctx: ctx.range(10).reduce(None),
         TypeError, ("reduction", "callable")),
    Case("aggregate 3", lambda ctx: ctx.range(10).aggregate(3), TypeError, ("local", "callable")),
    Case("shuffle partitioner 3", lambda ctx: ctx.range(10).shuffle(partitioner=3),
         TypeError, ("partitioner", "callable")),
    # -- closures that cannot be pickled --------------------------------------------------------
    Case("map capturing a lock", lambda ctx: ctx.range(4).map(lambda x: (LOCK, x)[1]).collect(),
         TypeError, ("cannot be pickled", "lock", "module level")),
    Case("filter capturing a lock",
         lambda ctx: ctx.range(4).filter(lambda x: LOCK is not None).count(),
         TypeError, ("cannot be pickled", "lock", "module level")),
    # -- element shapes for key-wise operations -------------------------------------------------
    Case("reduce_by_key on ints",
         lambda ctx: ctx.range(10).reduce_by_key(lambda a, b: a + b).collect(),
         TypeError, ("(key, value) pairs", "key_by"), remote=True),
    Case("group_by_key on ints", lambda ctx: ctx.range(10).group_by_key().collect(),
         TypeError, ("(key, value) pairs", "key_by"), remote=True),
    Case("join on ints", lambda ctx: ctx.range(10).join(ctx.range(10)).collect(),
         TypeError, ("(key, value) pairs", "key_by"), remote=True),
    Case("join with a list", lambda ctx: _pairs(ctx).join([(1, 2)]),
         TypeError, ("datasets", "ctx.collection")),
    # -- files ----------------------------------------------------------------------------------
    Case("files on a missing root", lambda ctx: ctx.files("/nonexistent/bndl-bad-input"),
         FileNotFoundError, ("does not exist", "/nonexistent/bndl-bad-input")),
    Case("files on an int", lambda ctx: ctx.files(3), TypeError, ("path", "list of file names")),
    # -- configuration --------------------------------------------------------------------------
    Case("attempts 0", _set_conf("bndl.execute.attempts", 0),
         ValueError, ("bndl.execute.attempts", "at least 1")),
    Case("attempts text", _set_conf("bndl.execute.attempts", "x"),
         ValueError, ("bndl.execute.attempts", "whole number")),
    Case("concurrency 0", _set_conf("bndl.execute.concurrency", 0),
         ValueError, ("bndl.execute.concurrency", "at least 1")),
    Case("attempts 0 from dask.config", _dask_conf_then_action,
         ValueError, ("bndl.execute.attempts", "at least 1")),
    Case("conf key without bndl", lambda ctx: ctx.conf["nonsense"],
         KeyError, ("bndl.<section>.<name>",)),
    Case("unknown bndl setting", lambda ctx: ctx.conf["bndl.nonsense.key"],
         KeyError, ("no bndl setting", "bndl.yaml")),
    # -- broadcasts -----------------------------------------------------------------------------
    Case("broadcast serialization", lambda ctx: ctx.broadcast(1, serialization="nope"),
         ValueError, ("serialization", "pickle")),
    Case("broadcast deserialization 3",
         lambda ctx: ctx.broadcast(b"x", serialization=None, deserialization=3),
         TypeError, ("deserialization", "callable")),
    Case("broadcast deserialization of text",
         lambda ctx: ctx.broadcast("text", deserialization=pickle.loads),
         ValueError, ("must be bytes",)),
    Case("broadcast read after unpersist", _unpersisted_on_driver,
         BroadcastUnpersisted, ("unpersisted", "unpersist()")),
    Case("broadcast read in a task after unpersist", _unpersisted_in_task,
         BroadcastUnpersisted, ("unpersisted", "unpersist()"), remote=True),
    # -- accumulators ---------------------------------------------------------------------------
    Case("accumulator value in a task", _accumulator_read_in_task,
         RuntimeError, ("only be read on the driver",), remote=True),
    Case("accumulator bad op in a task", _accumulator_bad_op_in_task,
         AttributeError, ("nonsense", "use an operator")),
    Case("accumulator bad op on the driver",
         lambda ctx: ctx.accumulator(0).update("nonsense", 1),
         AttributeError, ("nonsense", "use an operator")),
    # -- nested actions -------------------------------------------------------------------------
    Case("action on ctx inside a task",
         lambda ctx: ctx.range(3).map(lambda x: ctx.range(2).count()).collect(),
         ActionInTaskError, ("only be made on the driver", "broadcast")),
    Case("collect of a captured dataset inside a task", _captured_dataset_collected_in_task,
         RuntimeError, ("only be started on the driver",), remote=True),
    # -- shuffle options, sorting, zip, cache ---------------------------------------------------
    Case("shuffle serialization", lambda ctx: ctx.range(10).shuffle(serialization="nope"),
         ValueError, ("serialization", "pickle")),
    Case("shuffle compression", lambda ctx: ctx.range(10).shuffle(compression="zip"),
         ValueError, ("compression", "lz4")),
    Case("shuffle pcount -1", lambda ctx: ctx.range(10).shuffle(pcount=-1),
         ValueError, ("pcount", "positive")),
    Case("shuffle unknown option", lambda ctx: ctx.range(10).shuffle(colour="red"),
         TypeError, ("unexpected shuffle options", "colour")),
    Case("sort incomparable", lambda ctx: ctx.collection([1, "a", 2, "b"] * 5, pcount=2)
         .sort().collect(), TypeError, ("compare", "key="), remote=None),
    Case("zip different pcounts",
         lambda ctx: ctx.range(10, pcount=2).zip(ctx.range(10, pcount=3)),
         ArgumentError, ("same number of partitions",)),
    Case("zip with a list", lambda ctx: ctx.range(3).zip([1, 2, 3]),
         TypeError, ("datasets", "ctx.collection")),
    Case("cache location", lambda ctx: ctx.range(10).cache(location="moon"),
         ValueError, ("location", "memory", "disk")),
    Case("cache serialization", lambda ctx: ctx.range(10).cache("disk", serialization="nope"),
         ValueError, ("serialization", "pickle")),
]


@pytest.fixture
def checked_ctx(ctx):
    """The session context, checked to still run jobs (with its settings intact) after a case."""
    yield ctx
    for key in ("bndl.execute.attempts", "bndl.execute.concurrency"):
        ctx.conf._overrides.pop(key, None)
    assert ctx.range(10).count() == 10


def test_argument_errors_are_also_assertion_errors():
    """BNDL raised AssertionError for these (coalesce_parts(-10), zip of unequal pcounts)."""
    assert issubclass(ArgumentError, ValueError) and issubclass(ArgumentError, AssertionError)


def test_catalogue_is_large_and_distinct():
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input(checked_ctx, case: Case):
    with pytest.raises(case.error) as info:
        case.run(checked_ctx)
    err = info.value
    if case.remote is True:
        assert isinstance(err, InvocationException)
        assert isinstance(err.__cause__, case.error)
    elif case.remote is False:
        assert type(err) is case.error, f"{type(err).__mro__} is not exactly {case.error}"
    message = str(err)
    for word in case.words:
        assert word in message, f"{word!r} not in {message!r}"


def test_rejected_setting_is_not_stored(checked_ctx):
    """A bad value must not replace the good one: the context keeps running jobs with it."""
    checked_ctx.conf["bndl.execute.attempts"] = 2
    with pytest.raises(ValueError):
        checked_ctx.conf["bndl.execute.attempts"] = 0
    assert checked_ctx.conf["bndl.execute.attempts"] == 2
