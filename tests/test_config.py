"""bndl settings: dask.config's ``bndl`` namespace, BNDL's dotted keys and their HEAD aliases."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import dask.config
import pytest

from bndl_dask.util import config
from bndl_dask.util.config import Conf, canonical_key, parse_bndl_conf


def test_defaults_come_from_the_shipped_yaml():
    conf = Conf()
    assert conf["bndl.execute.attempts"] == 1
    assert conf["bndl.execute.concurrency"] is None  # as many tasks as a worker has threads
    assert conf["bndl.compute.pcount"] is None
    assert conf.get("bndl.no.such.key", "fallback") == "fallback"
    with pytest.raises(KeyError):
        conf["bndl.no.such.key"]
    with pytest.raises(KeyError):
        conf["execute.attempts"]  # not a bndl key at all


def test_head_names_are_aliases():
    conf = Conf()
    conf["bndl.compute.attempts"] = 3
    assert conf["bndl.execute.attempts"] == 3
    assert conf["bndl.compute.attempts"] == 3
    assert canonical_key("bndl.compute.executor_count") == "bndl.compute.worker_count"
    keys = list(conf)
    assert "bndl.execute.attempts" in keys and "bndl.compute.attempts" not in keys
    assert len(conf) == len(keys)
    del conf["bndl.compute.attempts"]
    assert conf["bndl.execute.attempts"] == 1


def test_values_set_on_a_conf_are_private_but_dask_config_is_shared():
    mine, other = Conf({"bndl.execute.attempts": 5}), Conf()
    assert (mine["bndl.execute.attempts"], other["bndl.execute.attempts"]) == (5, 1)
    with dask.config.set({"bndl.execute.concurrency": 4}):
        assert mine["bndl.execute.concurrency"] == other["bndl.execute.concurrency"] == 4
        assert config.get("bndl.compute.concurrency") == 4
    with dask.config.set({"bndl.compute.concurrency": 3}):  # a HEAD name set in dask.config
        assert other["bndl.execute.concurrency"] == 3
    assert other["bndl.execute.concurrency"] is None
    copy = pickle.loads(pickle.dumps(mine))
    assert copy["bndl.execute.attempts"] == 5


def test_parse_bndl_conf():
    parsed = parse_bndl_conf("bndl.compute.attempts=2 bndl.net.scheduler=tcp://h:1 "
                             "'bndl.x.name=a b' bndl.x.flag=yes bndl.x.f=0.5")
    assert parsed == {"bndl.execute.attempts": 2, "bndl.net.scheduler": "tcp://h:1",
                      "bndl.x.name": "a b", "bndl.x.flag": True, "bndl.x.f": 0.5}
    with pytest.raises(ValueError, match="key=value"):
        parse_bndl_conf("bndl.execute.attempts")
    with pytest.raises(KeyError):
        parse_bndl_conf("attempts=2")


def _read_in_fresh_process(env: dict[str, str], *keys: str) -> list:
    code = ("import sys; from bndl_dask.util.config import Conf; c = Conf(); "
            "print(repr([c[k] for k in sys.argv[1:]]))")
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("DASK_BNDL__") and k != "BNDL_CONF"}
    out = subprocess.run([sys.executable, "-c", code, *keys], env={**environ, **env},
                         capture_output=True, text=True, timeout=60, check=True)
    return eval(out.stdout)


def test_environment_variables():
    env = {
        "DASK_BNDL__EXECUTE__ATTEMPTS": "4",
        "DASK_BNDL__COMPUTE__CONCURRENCY": "2",  # HEAD name, as a dask variable
        "BNDL_CONF": "bndl.compute.pcount=12 bndl.net.connect_timeout=3",
    }
    assert _read_in_fresh_process(
        env, "bndl.execute.attempts", "bndl.execute.concurrency", "bndl.compute.pcount",
        "bndl.net.connect_timeout", "bndl.compute.attempts") == [4, 2, 12, 3, 4]


def test_context_conf(ctx):
    assert ctx.conf["bndl.compute.attempts"] == ctx.conf["bndl.execute.attempts"]
    assert isinstance(ctx.conf, Conf)


def test_workers_switch_the_gil_often(ctx):
    # a task holding the GIL must not keep a worker from answering shuffle fetches for long
    expected = config.get("bndl.execute.switch_interval")
    assert expected < 0.005  # shorter than Python's default
    assert set(ctx.client.run(sys.getswitchinterval).values()) == {expected}


@pytest.mark.parametrize("value", ["fast", 0, 2])
def test_bad_switch_interval_fails_before_a_cluster_starts(value):
    from bndl_dask import ComputeContext

    with pytest.raises(ValueError, match="bndl.execute.switch_interval"):
        ComputeContext(conf={"bndl.execute.switch_interval": value})


# -- unknown keys are refused -------------------------------------------------------------------

def test_a_misspelt_key_is_refused_with_a_suggestion():
    conf = Conf()
    with pytest.raises(KeyError, match=r"'bndl\.execute\.atempts'.*did you mean "
                                       r"'bndl\.execute\.attempts'\?") as caught:
        conf["bndl.execute.atempts"] = 3
    assert isinstance(caught.value, ValueError)  # bad input, whichever way it is caught
    assert "bndl.execute.atempts" not in list(conf)
    with pytest.raises(KeyError, match="did you mean 'bndl.progress'"):
        Conf({"bndl.progres": "text"})
    with pytest.raises(KeyError, match="no bndl setting .*did you mean 'bndl.execute.attempts'"):
        conf["bndl.execute.atempts"]  # reading one says the same


def test_every_key_of_the_shipped_yaml_is_known():
    with open(config._DEFAULTS_FILE) as f:
        text = f.read()
    for key in ("bndl.execute.attempts", "bndl.compute.memory.limit", "bndl.progress",
                "bndl.compute.files.psize_bytes", "bndl.compute.attempts"):
        assert key in config.KNOWN_KEYS
        Conf()[key] = Conf()[key]  # known keys can be set (to their own value)
    assert "psize_bytes:" in text and "bndl.compute.memory" not in config.KNOWN_KEYS


def _start_context_in_fresh_process(env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    """Create a ComputeContext with ``env``; report 'started' if a cluster came up."""
    code = ("from bndl_dask import ComputeContext\n"
            "with ComputeContext(worker_count=1, dashboard=False) as ctx:\n"
            "    print('started')\n")
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("DASK_BNDL__") and k != "BNDL_CONF"}
    environ["DASK_CONFIG"] = str(tmp_path)  # no config file of the machine's or the user's
    return subprocess.run([sys.executable, "-c", code], env={**environ, **env},
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("setting, source", [
    ({"DASK_BNDL__EXECUTE__ATEMPTS": "3"}, "the environment variable DASK_BNDL__EXECUTE__ATEMPTS"),
    ({"BNDL_CONF": "bndl.compute.pcount=4 bndl.execute.atempts=3"}, "BNDL_CONF"),
    ("bndl:\n  execute:\n    atempts: 3\n", "bndl-typo.yaml"),
])
def test_unknown_keys_from_outside_fail_at_context_start(setting, source, tmp_path):
    if isinstance(setting, str):
        (tmp_path / "bndl-typo.yaml").write_text(setting)
        setting = {}
    done = _start_context_in_fresh_process(setting, tmp_path)
    assert done.returncode != 0 and "started" not in done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert "UnknownSettingError: unknown bndl setting 'bndl.execute.atempts'" in last
    assert source in last and "did you mean 'bndl.execute.attempts'?" in last


def test_known_keys_from_outside_start_a_context(tmp_path):
    (tmp_path / "bndl.yaml").write_text("bndl:\n  compute:\n    attempts: 2\n")
    done = _start_context_in_fresh_process(
        {"DASK_BNDL__EXECUTE__CONCURRENCY": "1", "BNDL_CONF": "bndl.compute.pcount=4"}, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "started"


def test_unknown_key_in_dask_config_set_fails_at_context_start():
    from bndl_dask import ComputeContext

    with dask.config.set({"bndl.net.dashbord": False}):
        with pytest.raises(ValueError, match=r"'bndl\.net\.dashbord' in dask\.config.*"
                                             r"did you mean 'bndl\.net\.dashboard'"):
            ComputeContext(worker_count=1)
