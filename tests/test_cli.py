"""``dscheduler``, ``dworker`` and ``bndl-dask-shell`` as a user runs them: real processes.

``cli_cluster`` (one ``dscheduler`` and two ``dworker`` processes on 127.0.0.1, free ports) is
shared with test_executor.py, which walks the seed through it.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from bndl_dask.worker.slots import SLOT_RESOURCE

# starting clusters of processes is slow on a busy machine
pytestmark = pytest.mark.timeout(300)

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
START_TIMEOUT = 90  # seconds; the machine is shared and slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(name: str) -> list[str]:
    """A console script of this environment (falls back to ``python -m`` in a source tree)."""
    script = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(script):
        return [script]
    if shutil.which(name):
        return [shutil.which(name)]
    module = {"dscheduler": "dscheduler", "dworker": "dworker", "bndl-dask-shell": "shell"}[name]
    return [sys.executable, "-m", f"bndl_dask.cli.{module}"]


class Proc:
    """A CLI process in its own session: stdout read line by line, stderr kept in a file."""

    def __init__(self, name: str, *args: str):
        self.args = [*command(name), *args]
        self._stderr = tempfile.TemporaryFile()
        env = dict(os.environ)
        # tasks pickle test functions by reference: let workers import the test modules
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [TESTS_DIR, env.get("PYTHONPATH")]))
        self.popen = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, env=env, start_new_session=True)
        self.lines: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def expect(self, prefix: str, timeout: float = START_TIMEOUT) -> str:
        """The next stdout line starting with ``prefix``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(
                    f"{self.args} printed no {prefix!r} in {timeout} s:\n{self.stderr()}"
                ) from None
            if line is None:
                raise AssertionError(
                    f"{self.args} exited ({self.popen.wait()}) before printing {prefix!r}:\n"
                    f"{self.stderr()}")
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the process and wait for it; SIGKILL its process group when it hangs."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, sig)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        return self.popen.wait()

    def kill(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class CliCluster:
    def __init__(self, scheduler: Proc, workers: list[Proc], port: int):
        self.scheduler, self.workers, self.port = scheduler, workers, port
        self.address = f"127.0.0.1:{port}"

    def procs(self) -> list[Proc]:
        return [*self.workers, self.scheduler]


def start_cli_cluster(worker_count: int = 2, scheduler_args=(), worker_args=(),
                      scheme: str = "") -> CliCluster:
    port = free_port()
    scheduler = Proc("dscheduler", "--port", str(port), "--dashboard-address", "127.0.0.1:0",
                     *scheduler_args)
    workers: list[Proc] = []
    try:
        scheduler.expect("Start scheduler at")
        for _ in range(worker_count):
            workers.append(Proc("dworker", f"{scheme}127.0.0.1:{port}", "--nthreads", "1",
                                "--memory-limit", "1GiB", *worker_args))
        for worker in workers:
            worker.expect("Registered with scheduler at:")
    except BaseException:
        for proc in [*workers, scheduler]:
            proc.kill()
        raise
    return CliCluster(scheduler, workers, port)


_shared_cluster: list[CliCluster] = []


@pytest.fixture(scope="session")
def cli_cluster():
    """One scheduler + two workers for the session. test_executor.py imports this fixture, which
    makes a second fixture definition: both hand out the one cluster kept here."""
    if not _shared_cluster:
        _shared_cluster.append(start_cli_cluster())
    yield _shared_cluster[0]
    stop_all(_shared_cluster[0].procs())  # the second teardown finds the processes gone


def stop_all(procs: list[Proc]) -> None:
    """SIGTERM every process at once, then wait for each (SIGKILL when one hangs)."""
    for proc in procs:
        if proc.popen.poll() is None:
            os.kill(proc.popen.pid, signal.SIGTERM)
    for proc in procs:
        proc.stop()


# -- dscheduler / dworker -----------------------------------------------------------------------

def test_cli_cluster_prints_the_seed_lines(cli_cluster):
    assert cli_cluster.scheduler.lines[-1] == f"Start scheduler at 127.0.0.1:{cli_cluster.port}"
    for worker in cli_cluster.workers:
        start, registered = worker.lines[-2:]
        assert re.fullmatch(r"Start worker at {16}127\.0\.0\.1:\d+", start), start
        assert registered == f"Registered with scheduler at:  127.0.0.1:{cli_cluster.port}"


def test_cli_workers_offer_bndl_slots_and_listen_on_localhost(cli_cluster):
    from distributed import Client

    with Client(cli_cluster.address, timeout=30, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        info = client.scheduler_info(n_workers=-1)["workers"]
        assert len(info) == 2
        for address, worker in info.items():
            assert address.startswith("tcp://127.0.0.1:")
            assert worker["resources"][SLOT_RESOURCE] > 0
            assert worker["nthreads"] == 1
            assert worker["memory_limit"] == 2**30
        services = client.scheduler_info()["services"]
    # the scheduler's HTTP server (dashboard) is on 127.0.0.1 as well
    with socket.create_connection(("127.0.0.1", services["dashboard"]), timeout=10):
        pass


def test_help_shows_dasks_options(capsys):
    from bndl_dask.cli import dscheduler, dworker

    for main, name, option in ((dscheduler.main, "dscheduler", "--tls-ca-file"),
                               (dworker.main, "dworker", "--nworkers")):
        with pytest.raises(SystemExit) as exit_info:
            main(["--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert option in out and f"Usage: {name}" in out


def test_default_options():
    from bndl_dask.cli.dscheduler import scheduler_args
    from bndl_dask.cli.dworker import worker_args

    args = scheduler_args(["--port", "9000"])
    assert args[args.index("--host") + 1] == "127.0.0.1"
    assert args[args.index("--dashboard-address") + 1] == "127.0.0.1:8787"
    assert scheduler_args(["--host", "0.0.0.0"]).count("--host") == 1
    args = worker_args(["127.0.0.1:9000", "--resources", "GPU=2"])
    assert args[args.index("--host") + 1] == "127.0.0.1"
    assert args[args.index("--resources") + 1] == f"GPU=2 {SLOT_RESOURCE}=720720"
    assert args.count("--resources") == 1
    assert "--host" not in worker_args(["127.0.0.1:9000", "--listen-address", "tcp://[::1]:0"])


def test_dworker_refuses_a_remote_scheduler_without_host():
    from bndl_dask.cli.dworker import worker_args

    with pytest.raises(SystemExit, match="--host") as exit_info:
        worker_args(["192.0.2.1:8786"])
    assert "192.0.2.1:8786" in str(exit_info.value.code)
    assert "--host" in worker_args(["192.0.2.1:8786", "--host", "192.0.2.2"])
    with pytest.raises(SystemExit, match="address"):
        worker_args([])


def _make_tls_files(directory: str) -> dict[str, str]:
    """A self-signed certificate for 127.0.0.1 (serves as CA, scheduler and worker cert)."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=60)
    return {"ca": cert, "cert": cert, "key": key}


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_options_pass_through_and_shutdown_is_quiet(tmp_path):
    from distributed.security import Security

    from bndl_dask import Executor

    tls = _make_tls_files(str(tmp_path))
    options = ["--tls-ca-file", tls["ca"], "--tls-cert", tls["cert"], "--tls-key", tls["key"]]
    cluster = start_cli_cluster(1, options, options, scheme="tls://")
    try:
        assert cluster.scheduler.lines[-1] == f"Start scheduler at tls://127.0.0.1:{cluster.port}"
        assert cluster.workers[0].lines[-1].endswith(f"tls://127.0.0.1:{cluster.port}")
        security = Security(tls_ca_file=tls["ca"], tls_client_cert=tls["cert"],
                            tls_client_key=tls["key"], require_encryption=True)
        with Executor(f"tls://{cluster.address}", security=security) as e:
            assert e.submit(abs, -3).result(timeout=60) == 3
        # Ctrl-C for the worker, SIGTERM for the scheduler: both end cleanly and quietly
        worker, scheduler = cluster.workers[0], cluster.scheduler
        assert worker.stop(signal.SIGINT) == 0
        assert scheduler.stop(signal.SIGTERM) == 0
        for proc in (worker, scheduler):
            assert "Traceback" not in proc.stderr(), proc.stderr()
    finally:
        for proc in cluster.procs():
            proc.kill()


# -- bndl-dask-shell ----------------------------------------------------------------------------

def _shell(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([*command("bndl-dask-shell"), *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_shell_runs_code_against_a_scheduler(cli_cluster):
    out = _shell("--scheduler", cli_cluster.address, "-c",
                 "print(ctx.await_workers(2), ctx.range(10).map(lambda x: x * 2).sum())\n"
                 "raise ValueError('boom')")
    assert out.stdout.split() == ["2", "90"]
    assert out.returncode == 1  # the code raised
    assert "ValueError: boom" in out.stderr
    assert out.stderr.count("Traceback") == 1


def test_shell_interactive_with_local_workers():
    out = _shell("--workers", "1", "--no-ipython", stdin=(
        "print('workers', ctx.worker_count, type(executor).__name__)\n"
        "print('sum', ctx.range(5).sum())\n"))
    assert out.returncode == 0, out.stderr
    assert "workers 1 ExecutorClient" in out.stdout and "sum 10" in out.stdout
    assert "Traceback" not in out.stderr


def test_shell_rejects_bad_options():
    out = _shell("--workers", "0")
    assert out.returncode == 2 and "--workers" in out.stderr
