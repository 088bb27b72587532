"""Errors that say what happened: the user's own exception classes come back as themselves, and
results, records or functions that cannot be pickled give one error that names the task and the
object at fault, without a flood of dask's serialization logs (issue 12, items 5 and 6)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading

import pytest
from distributed.protocol.serialize import deserialize, serialize

from bndl_dask.execute import BarrierTask, InvocationException, Job, ResultNotPicklable, RmiTask
from bndl_dask.worker.runtime import DepRef, TaskOutcome, _resolve, unshipped_failure

#: run as ``python script.py``: ``Boom`` lives in the script's ``__main__``, so the workers only
#: know it through cloudpickle. Prints what it caught as one JSON line.
SCRIPT = textwrap.dedent('''
    import json
    import threading

    from bndl_dask import ComputeContext
    from bndl_dask.execute import InvocationException


    class Boom(Exception):
        pass


    def fail(x):
        raise Boom(f"bad {x}")


    def caught(run):
        try:
            run()
        except Exception as exc:
            return {
                "is_boom": isinstance(exc, Boom),
                "is_invocation": isinstance(exc, InvocationException),
                "cause_is_boom": type(exc.__cause__) is Boom,
                "message": str(exc),
                "remote_traceback": getattr(exc, "remote_traceback", ""),
                "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
            }
        return None


    if __name__ == "__main__":
        ctx = ComputeContext(worker_count=1, dashboard=False)
        try:
            report = {
                "dataset": caught(lambda: ctx.range(4).map(fail).collect()),
                "submit": caught(lambda: ctx.executor.submit(fail, 1).result()),
                "unpicklable": caught(
                    lambda: ctx.range(4).map(lambda x: threading.Lock()).collect()),
            }
        finally:
            ctx.stop()
        print("REPORT " + json.dumps(report))
''')

#: lines a clean run may write to stderr (a warning or two); a log flood is hundreds
STDERR_LINE_BOUND = 15


@pytest.fixture(scope="module")
def script_run(tmp_path_factory) -> tuple[dict, str]:
    """Run ``SCRIPT`` once in its own process: what it caught, and its stderr."""
    path = tmp_path_factory.mktemp("script") / "script.py"
    path.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=110, cwd=path.parent, env=env)
    report = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert done.returncode == 0 and report, done.stdout + done.stderr
    return json.loads(report[-1][len("REPORT "):]), done.stderr


def test_script_exception_class_comes_back_as_itself(script_run):
    caught = script_run[0]["dataset"]
    assert caught["is_boom"], caught
    assert caught["is_invocation"] and caught["cause_is_boom"], caught
    assert "Boom: bad" in caught["message"]
    assert "script.py:" in caught["message"]  # the call site
    assert "partition" in caught["message"]
    assert "Boom: bad" in caught["remote_traceback"]


def test_script_exception_class_through_executor_submit(script_run):
    caught = script_run[0]["submit"]
    assert caught["is_boom"] and caught["type"] == "__main__.Boom", caught


def test_script_unpicklable_result_without_log_flood(script_run):
    report, stderr = script_run
    caught = report["unpicklable"]
    assert caught is not None
    assert "_thread.lock" in caught["message"] and "picklable" in caught["message"], caught
    assert "TaskOutcome" not in caught["message"]
    assert caught["is_invocation"], caught
    assert "Failed to deserialize" not in stderr
    assert len(stderr.splitlines()) <= STDERR_LINE_BOUND, stderr


def test_exception_class_defined_in_a_function(ctx):
    class LocalBoom(Exception):  # like a class of a notebook cell: not importable on workers
        pass

    def fail(x):
        raise LocalBoom(f"local {x}")

    with pytest.raises(LocalBoom) as info:
        ctx.range(3).map(fail).collect()
    assert isinstance(info.value, InvocationException)
    assert type(info.value.__cause__) is LocalBoom
    assert "LocalBoom: local" in str(info.value)
    assert "LocalBoom: local" in info.value.remote_traceback
    assert "test_user_errors.py:" in str(info.value)  # the call site

    with pytest.raises(LocalBoom):
        ctx.executor.submit(fail, 1).result()


def serious_dask_logs(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.name.startswith("distributed") and record.levelno >= logging.ERROR]


def test_unpicklable_result_names_task_and_type(ctx, caplog):
    with pytest.raises(ResultNotPicklable) as info:
        ctx.range(4).map(lambda x: threading.Lock()).collect()
    message = str(info.value)
    assert isinstance(info.value, TypeError) and isinstance(info.value, InvocationException)
    assert message.count("MapPartitionsDataset") == 1, message  # said once
    assert "partition" in message and "MapPartitionsDataset" in message
    assert "test_user_errors.py:" in message  # the call site
    assert "'_thread.lock' object" in message
    assert "must be picklable" in message
    assert "TaskOutcome" not in message
    assert not serious_dask_logs(caplog)
    assert ctx.range(4).map(lambda x: x + 1).collect() == [1, 2, 3, 4]  # the context still works


def test_unpicklable_result_fetched_for_a_driver_task(ctx, caplog):
    """A task's result the driver needs (here for a barrier) that cannot be pickled fails the
    job with the same error, instead of the scheduler."""
    first = [RmiTask(ctx, ("lock", i), threading.Lock, (), group=1) for i in range(2)]
    barrier = BarrierTask(ctx, ("barrier", 0), first)
    total = RmiTask(ctx, ("total", 0), len, (barrier,), group=2)
    job = Job(ctx, [*first, barrier, total], name="locks")
    with pytest.raises(ResultNotPicklable) as info:
        for _ in ctx.execute(job):
            pass
    assert isinstance(info.value, InvocationException)
    assert "'_thread.lock' object" in str(info.value)
    assert "must be picklable" in str(info.value)
    assert not serious_dask_logs(caplog)


def test_unpicklable_value_in_a_shuffle(ctx, caplog):
    pairs = ctx.range(4).map(lambda x: (x % 2, threading.Lock()))
    with pytest.raises(TypeError) as info:
        pairs.reduce_by_key(lambda a, b: a).collect()
    message = str(info.value)
    assert isinstance(info.value, InvocationException)
    assert "shuffle write" in message and "test_user_errors.py:" in message
    assert "_thread.lock" in message
    assert "must be picklable" in message
    assert not serious_dask_logs(caplog)


def test_unpicklable_function_says_why(ctx):
    lock = threading.Lock()

    def guarded(x):
        with lock:
            return x

    with pytest.raises(TypeError) as info:
        ctx.range(4).map(guarded).collect()
    message = str(info.value)
    assert "guarded" in message and "cannot be pickled" in message
    assert "_thread.lock" in message
    assert "test_user_errors.py:" in message


class ModuleBoom(Exception):
    """Defined in a test module: the workers import it by name."""


def raise_module_boom(x):
    raise ModuleBoom(f"module {x}")


def test_exception_class_of_a_test_module(ctx):
    with pytest.raises(ModuleBoom) as info:
        ctx.range(2).map(raise_module_boom).collect()
    assert isinstance(info.value, InvocationException)
    assert type(info.value.__cause__) is ModuleBoom
    assert "ModuleBoom: module" in info.value.remote_traceback


class NeedsTwoArguments(Exception):
    def __init__(self, what, why):  # pickles, but does not unpickle: args holds one string
        super().__init__(f"{what} because {why}")


def raise_needs_two(x):
    raise NeedsTwoArguments(x, "of a test")


def test_exception_that_cannot_travel_is_described(ctx):
    with pytest.raises(InvocationException) as info:
        ctx.range(2).map(raise_needs_two).collect()
    message = str(info.value)
    assert "NeedsTwoArguments" in message and "because of a test" in message
    assert "super().__init__" in message


def sent(outcome: TaskOutcome, context: dict | None) -> object:
    """``outcome`` through dask's own serialization, as a comm (with a context) or a spill
    to disk (without) does it."""
    header, frames = serialize(outcome, serializers=("dask", "pickle"), on_error="raise",
                               context=context)
    return deserialize(header, frames)


def test_outcome_travels_with_its_fields():
    outcome = TaskOutcome([1, "a"], "worker-x", "tcp://127.0.0.1:1", [("acc", 1)], "k", "label")
    assert sent(outcome, {"recipient": "somewhere"}) == outcome


def test_unpicklable_outcome_sent_to_a_dependent_raises_where_used():
    outcome = TaskOutcome([threading.Lock()], "worker-x", "tcp://127.0.0.1:1", [], "key-1",
                          "partition 3 of <Dataset d> (script.py:7)")
    received = sent(outcome, {"recipient": "somewhere"})
    assert unshipped_failure(received).key == "key-1"
    with pytest.raises(ResultNotPicklable, match=r"partition 3 of <Dataset d> \(script.py:7\)"):
        _resolve(DepRef(0), (received,))
    # a spill to disk is not a trip to another process: dask's own handling (keeping the value
    # in memory) stays
    with pytest.raises(Exception, match="_thread.lock"):
        sent(outcome, None)
