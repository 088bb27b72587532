"""collect_as_* (written on the driver) and save_as_* (written by the workers)."""

from __future__ import annotations

import gzip
import json
import os
import pickle

import lz4.frame
import pytest

from bndl_dask.execute.exceptions import InvocationException

DECOMPRESS = {None: lambda b: b, "gzip": gzip.decompress, "lz4": lz4.frame.decompress}
EXTENSION = {None: "", "gzip": ".gz", "lz4": ".lz4"}


@pytest.fixture(scope="module")
def datasets(ctx):
    numbers = ctx.collection(range(100), pcount=3)
    return {
        "ints": numbers,
        "strs": numbers.map(str),
        "dicts": numbers.map(lambda i: {"key": i, "ünï": "cödé"}),
        "glommed": numbers.glom(),
    }


def _files(directory) -> list[str]:
    names = os.listdir(directory)
    return [os.path.join(directory, n) for n in sorted(names, key=lambda n: int(n.split(".")[0]))]


@pytest.mark.parametrize("name", ["ints", "strs", "dicts", "glommed"])
@pytest.mark.parametrize("method", ["collect_as_pickles", "save_as_pickles"])
def test_pickles(datasets, tmp_path, name, method):
    dset = datasets[name]
    paths = getattr(dset, method)(str(tmp_path))
    files = _files(tmp_path)
    assert paths == files and len(files) == dset.pcount
    assert all(f.endswith(".p") for f in files)
    loaded = []
    for path in files:
        with open(path, "rb") as file:
            loaded.extend(pickle.load(file))
    assert loaded == dset.collect()


@pytest.mark.parametrize("compression", [None, "gzip", "lz4"])
@pytest.mark.parametrize("method", ["collect_as_json", "save_as_json"])
def test_json(datasets, tmp_path, method, compression):
    dset = datasets["dicts"]
    getattr(dset, method)(str(tmp_path), compression=compression)
    files = _files(tmp_path)
    assert len(files) == 3
    assert all(f.endswith(".json" + EXTENSION[compression]) for f in files)
    records = []
    for path in files:
        with open(path, "rb") as file:
            text = DECOMPRESS[compression](file.read()).decode()
        records.extend(json.loads(line) for line in text.splitlines())
    assert records == dset.collect()


@pytest.mark.parametrize("compression", [None, "gzip", "lz4"])
@pytest.mark.parametrize("method", ["collect_as_files", "save_as_files"])
def test_files_text_and_binary(ctx, tmp_path, method, compression):
    lines = ctx.range(20, pcount=2).map(lambda i: f"línea {i}\n")
    getattr(lines, method)(str(tmp_path / "t"), ext=".txt", mode="t", compression=compression)
    blobs = lines.map(str.encode)
    getattr(blobs, method)(str(tmp_path / "b"), compression=compression)
    for sub, suffix in (("t", ".txt"), ("b", "")):
        files = _files(tmp_path / sub)
        assert [os.path.basename(f) for f in files] == [
            f"{i}{suffix}{EXTENSION[compression]}" for i in range(2)]
        data = b"".join(DECOMPRESS[compression](open(f, "rb").read()) for f in files)
        assert data.decode() == "".join(lines.collect())
    # written back, read again with ctx.files
    if compression:
        again = ctx.files(str(tmp_path / "t")).decompress(compression).lines().collect()
        assert sorted(again) == sorted(lines.collect())


def test_default_directory_is_the_drivers_cwd(ctx, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ctx.range(4, pcount=2).save_as_json()
    assert sorted(os.listdir(tmp_path)) == ["0.json", "1.json"]


def test_empty_dataset_and_partition_indices(ctx, tmp_path):
    masked = ctx.range(9, pcount=3).mask_partitions(lambda p: p.idx != 1)
    masked.collect_as_pickles(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["0.p", "2.p"]
    empty = ctx.range(6, pcount=2).filter(lambda i: False)
    paths = empty.collect_as_json(str(tmp_path / "empty"))
    assert [open(p).read() for p in paths] == ["", ""]


def test_bad_input(ctx, tmp_path):
    dset = ctx.range(10, pcount=2)
    for method in ("collect_as_pickles", "save_as_json", "collect_as_files"):
        with pytest.raises(ValueError, match="Only gzip and lz4 compression is supported"):
            getattr(dset, method)(str(tmp_path), compression="bz2")
    with pytest.raises(ValueError, match="mode"):
        dset.collect_as_files(str(tmp_path), mode="x")
    assert os.listdir(tmp_path) == []  # nothing ran
    with pytest.raises(InvocationException):
        ctx.collection([lambda: 1, lambda: 2]).collect_as_pickles(str(tmp_path))
    with pytest.raises(TypeError):
        dset.collect_as_files(str(tmp_path / "bytes"))  # ints are not bytes
    with pytest.raises(TypeError):
        ctx.collection([object()]).save_as_json(str(tmp_path / "json"))
    assert dset.count() == 10
