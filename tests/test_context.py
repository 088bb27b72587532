"""ComputeContext: the ways to get one, its workers, await_workers, settings, bad input, and a
quiet shutdown."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request

import dask.config
import distributed
import pytest

import bndl_dask
from bndl_dask import ComputeContext, Executor, get_context, set_context
from bndl_dask.worker.identity import WorkerHandle

# starting clusters of processes is slow on a busy machine
pytestmark = pytest.mark.timeout(300)


def inc(x):
    return x + 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie has ended (whether anyone reaps it is up to its new parent)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def wait_until(condition, timeout=60):
    """Poll ``condition`` (process or cluster state that changes asynchronously) until true."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def address(ctx):
    return ctx.client.scheduler.address  # 'tcp://127.0.0.1:PORT'


# -- an embedded cluster ------------------------------------------------------------------------

def test_embedded_cluster_options_workers_and_stop(capfd):
    with ComputeContext(spawn_workers=1, threads_per_worker=2, memory_limit="1GiB") as ctx:
        assert ctx.running and not ctx.stopped
        assert ctx.worker_count == 1
        (worker,) = ctx.workers
        assert isinstance(worker, WorkerHandle)
        assert (worker.nthreads, worker.memory_limit, worker.host) == (2, 2**30, "127.0.0.1")
        assert worker.address.startswith("tcp://127.0.0.1:")
        assert ctx.executor.run(os.getpid) == {worker.address: worker.pid}
        assert worker.pid != os.getpid() and pid_alive(worker.pid)
        assert worker.name in repr(worker) and f"pid {worker.pid}" in repr(worker)
        assert ctx.workers == [worker] and ctx.workers[0].pid == worker.pid
        link = ctx.dashboard_link
        if importlib.util.find_spec("bokeh") is None:
            assert link is None  # dask serves no dashboard pages without bokeh
        else:
            assert link.startswith("http://127.0.0.1:")
            assert urllib.request.urlopen(link, timeout=30).status == 200
        assert ctx.range(10).map(inc).sum() == 55
        assert "127.0.0.1" in repr(ctx)
    assert ctx.stopped and not ctx.running
    wait_until(lambda: not pid_alive(worker.pid))
    ctx.stop()  # stopping twice is fine
    with pytest.raises(RuntimeError, match="stopped"):
        ctx.workers  # noqa: B018
    assert "stopped" in repr(ctx)
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Traceback" not in out


def test_quiet_exit_without_stop(tmp_path):
    """Contexts and executors left open are shut down at exit without printing anything."""
    script = tmp_path / "script.py"
    # deliberately no `if __name__ == '__main__'` guard: scripts need none
    script.write_text(textwrap.dedent("""
        import os
        from bndl_dask import ctx, Executor
        print(ctx.range(10).map(lambda x: x * 2).count(), ctx.worker_count)
        e = Executor()  # embedded: bndl.compute.worker_count worker processes (else one per core)
        print(e.submit(abs, -1).result(), len(e.ncores()))
        pids = [w.pid for w in ctx.workers] + list(e.run(os.getpid).values())
        print(*pids)
    """))
    env = {**os.environ, "BNDL_CONF": "bndl.compute.worker_count=1"}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=180, env=env, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    assert lines[:2] == ["10 1", "1 1"]
    assert out.stderr == ""
    for pid in map(int, lines[2].split()):
        wait_until(lambda pid=pid: not pid_alive(pid))


def test_workers_end_when_the_driver_is_killed(tmp_path):
    """Killed without exit handlers, a driver leaves no worker processes behind."""
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent("""
        import os, signal
        from bndl_dask import ComputeContext
        ctx = ComputeContext(worker_count=1, dashboard=False)
        print(*[w.pid for w in ctx.workers], flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=180, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert out.returncode == -9, out.stderr
    pids = [int(pid) for pid in out.stdout.split()]
    assert len(pids) == 1
    for pid in pids:
        wait_until(lambda pid=pid: not pid_alive(pid))


# -- joining a cluster --------------------------------------------------------------------------

def test_address_forms(ctx, address):
    port = int(address.rsplit(":", 1)[1])
    for other in (ComputeContext(f"127.0.0.1:{port}"), ComputeContext(address),
                  ComputeContext(ip="127.0.0.1", port=port)):
        with other:
            assert other.client.scheduler.address == address
            assert other.worker_count == 2
            assert other.workers == ctx.workers
            assert [w.pid for w in other.workers] == [w.pid for w in ctx.workers]
            assert other.range(10).count() == 10


def test_cluster_and_client_objects(ctx, address):
    cluster = ctx.client.cluster
    assert isinstance(cluster, distributed.deploy.Cluster)
    with ComputeContext(cluster) as other:
        assert other.await_workers(2) == 2
    with distributed.Client(address, set_as_default=False) as client:
        other = ComputeContext(client)
        assert other.executor is client
        assert other.range(5).sum() == 10
        other.stop()
        assert client.status == "running"  # a client given to a context stays the caller's
        assert client.submit(inc, 1).result() == 2
    assert cluster.status.name == "running"  # ...and so does a cluster


def test_executor_is_the_same_connection(ctx):
    assert isinstance(ctx.executor, Executor)
    assert ctx.executor is ctx.client
    assert ctx.executor.submit(inc, 1).result() == 2
    assert ctx.dashboard_link is None  # the session cluster runs without a dashboard


# -- bad input ----------------------------------------------------------------------------------

def test_nothing_listening():
    port = free_port()
    for cls in (ComputeContext, Executor):
        with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}"):
            cls(f"127.0.0.1:{port}", connect_timeout=5)


@pytest.mark.parametrize("bad", ["", "not an address", "127.0.0.1", "127.0.0.1:", ":8786",
                                 "127.0.0.1:http", "ftp://127.0.0.1:21", "127.0.0.1:80/x"])
def test_unparsable_address(bad):
    with pytest.raises(ValueError):
        ComputeContext(bad)


def test_port_out_of_range():
    for bad in ("127.0.0.1:0", "127.0.0.1:65536", "tcp://127.0.0.1:99999"):
        with pytest.raises(ValueError, match="port"):
            ComputeContext(bad)
        with pytest.raises(ValueError, match="port"):
            Executor(bad)
    for port in (0, -1, 65536):
        with pytest.raises(ValueError, match="port"):
            ComputeContext(ip="127.0.0.1", port=port)
    with pytest.raises(TypeError, match="port"):
        ComputeContext(ip="127.0.0.1", port="8786")


def test_bad_worker_counts():
    for name in ("worker_count", "spawn_workers"):
        for bad in (0, -2):
            with pytest.raises(ValueError, match=name):
                ComputeContext(**{name: bad})
        for bad in (1.5, "2", True):
            with pytest.raises(TypeError, match=name):
                ComputeContext(**{name: bad})
    with pytest.raises(ValueError):
        ComputeContext(worker_count=1, spawn_workers=2)
    with pytest.raises(ValueError, match="embedded"):
        ComputeContext("127.0.0.1:8786", worker_count=2)
    with pytest.raises(ValueError):
        ComputeContext("127.0.0.1:8786", ip="127.0.0.1")


def test_wrong_object_type():
    for bad in (42, object(), ["127.0.0.1:8786"]):
        with pytest.raises(TypeError, match="address"):
            ComputeContext(bad)
        with pytest.raises(TypeError, match="address"):
            Executor(bad)


# -- membership ---------------------------------------------------------------------------------

def test_await_workers_on_a_full_cluster(ctx):
    assert ctx.await_workers(2) == 2  # exactly the expected count: returns at once
    assert ctx.await_workers() == 2
    with pytest.warns(UserWarning, match="3 workers awaited, but only 2 connected"):
        assert ctx.await_workers(worker_count=3, connect_timeout=0.5, stable_timeout=5) == 2


def test_await_workers_without_and_then_with_a_worker():
    # one thread per worker: the default pcount is the cluster's threads
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                  threads_per_worker=1) as cluster:
        with ComputeContext(cluster) as empty:
            with pytest.raises(RuntimeError, match="no workers available"):
                empty.await_workers(connect_timeout=0.5, stable_timeout=2)
            cluster.scale(1)
            # one worker that connected after the context looked: stable after connect_timeout
            assert empty.await_workers(connect_timeout=0.5, stable_timeout=30) == 1
            assert empty.worker_count == 1 and empty.default_pcount == 1


def test_default_pcount(ctx):
    assert ctx.default_pcount == 2  # workers x bndl.execute.concurrency
    try:
        ctx.conf["bndl.compute.concurrency"] = 3
        assert ctx.default_pcount == 6
        ctx.conf["bndl.compute.pcount"] = 7
        assert ctx.default_pcount == 7
        assert ctx.range(100).count() == 100
    finally:
        del ctx.conf["bndl.compute.concurrency"], ctx.conf["bndl.compute.pcount"]
    assert ctx.default_pcount == 2


# -- the shared context -------------------------------------------------------------------------

def test_lazy_global_context_and_session(ctx, address):
    previous = get_context(create=False)
    try:
        set_context(ctx)
        assert get_context() is ctx
        assert bndl_dask.ctx.worker_count == 2
        assert bndl_dask.ctx.range(10).count() == 10
        with dask.config.set({"bndl.net.scheduler": address}):
            own = ComputeContext()  # the default context joins the configured scheduler
            set_context(own)
            assert bndl_dask.ctx.client is own.client
            bndl_dask.ctx.stop()
            # after stop, the lazy global makes a new context on next use
            assert bndl_dask.ctx.range(100).count() == 100
            fresh = get_context()
            assert fresh is not own and fresh.running
            assert fresh.client.scheduler.address == address
            fresh.stop()
    finally:
        set_context(previous)
    set_context(None)
    assert "not started" in repr(bndl_dask.ctx)
    set_context(previous)
