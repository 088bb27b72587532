"""Text read from files equals what one Python process reads from the whole files, however the
files are cut; large files are read in parallel; decoding errors say where."""

from __future__ import annotations

import glob
import math
import os
import pickle
from collections import Counter
from operator import add

import dask
import pytest

STDLIB = sorted(glob.glob(os.path.join(os.path.dirname(os.__file__), "*.py")))


def _lines(path: str, encoding: str | None = "utf-8") -> list:
    """What iterating over the whole file gives."""
    if encoding is None:
        with open(path, "rb") as file:
            return file.read().splitlines(keepends=True)
    with open(path, encoding=encoding, newline="") as file:
        return list(file)


@pytest.fixture(scope="module")
def stdlib():
    if len(STDLIB) < 50:
        pytest.skip("the standard library sources are not installed")
    return STDLIB


@pytest.mark.parametrize("split, psize_bytes", [(True, 65_536), (b"\n", 50_000), (False, None)])
def test_stdlib_lines(ctx, stdlib, split, psize_bytes):
    expected = [line for path in stdlib for line in _lines(path)]
    dset = ctx.files(stdlib, split=split, psize_bytes=psize_bytes)
    assert dset.lines().collect() == expected
    assert dset.lines(keepends=False).collect() == [line.rstrip("\r\n") for line in expected]


def test_stdlib_word_count(ctx, stdlib):
    words = Counter(word for path in stdlib for word in open(path, encoding="utf-8").read().split())
    dset = ctx.files(stdlib, split=True, psize_bytes=200_000)
    counted = dset.lines().flatmap(str.split).with_value(1).reduce_by_key(add).collect()
    assert dict(counted) == words


def test_stdlib_bytes_and_decode_cut_anywhere(ctx, stdlib):
    files = stdlib[:40]
    data = b"".join(open(p, "rb").read() for p in files)
    dset = ctx.files(files, split=True, psize_bytes=30_001)
    assert dset.pcount == math.ceil(len(data) / 30_001)
    assert b"".join(dset.values().collect()) == data  # raw chunks are exact
    assert "".join(dset.decode().values().collect()) == data.decode()
    assert dset.lines(encoding=None).collect() == [line for p in files for line in
                                                     _lines(p, None)]


def _write(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_multibyte_characters_and_crlf_across_boundaries(ctx, tmp_path):
    text = "".join(f"{i} grüße → 日本語 ✓\r\n" + ("\r" if i % 4 == 0 else "") for i in range(24))
    path = _write(tmp_path / "mixed.txt", text.encode())
    expected = _lines(path)
    for psize_bytes in (7, 64, 333):
        dset = ctx.files(path, split=True, psize_bytes=psize_bytes)
        assert dset.lines().collect() == expected
        assert dset.lines(keepends=False).collect() == [ln.rstrip("\r\n") for ln in expected]
        assert "".join(dset.decode().values().collect()) == text
        assert dset.lines(encoding=None).collect() == _lines(path, None)
    # cached: the chunks come from the cache, the lines still from whole lines
    cached = ctx.files(path, split=True, psize_bytes=64).cache()
    try:
        assert cached.lines().collect() == expected
    finally:
        cached.uncache()


def test_bom_only_at_file_start(ctx, tmp_path):
    # U+FEFF starting a line mid-file is data; only the file's first bytes are a BOM
    bom = "\ufeff"
    text = bom + "head\n" + "".join(f"{bom if i % 3 == 0 else ''}row {i}\n" for i in range(90))
    path = _write(tmp_path / "bom.txt", text.encode())
    for encoding in ("utf-8", "utf-8-sig"):
        expected = _lines(path, encoding)
        for psize_bytes in (13, 4096):
            for split in (True, b"\n"):
                dset = ctx.files(path, split=split, psize_bytes=psize_bytes)
                assert dset.lines(encoding).collect() == expected
                decoded = "".join(dset.decode(encoding).values().collect())
                assert decoded == open(path, encoding=encoding, newline="").read()


def test_split_uses_the_default_partition_size(ctx, tmp_path):
    path = _write(tmp_path / "lines.txt", b"".join(b"%05d\n" % i for i in range(2000)))
    with dask.config.set({"bndl.compute.files.psize_bytes": 1200}):
        dset = ctx.files(path, split=b"\n")
    sizes = dset.values().map(len).collect()
    assert max(sizes) <= 1200 and len(sizes) == math.ceil(12000 / 1200)
    assert dset.lines().collect() == _lines(path)
    assert ctx.files(path, split="\n").pcount >= 1  # the shipped default


def test_large_file_is_read_in_parallel(ctx, tmp_path):
    line = "".join(chr(0x41 + i % 26) for i in range(60)) + " ünï\n"
    path = _write(tmp_path / "big.txt", (line * 70_000).encode())  # ~4.5 MB
    lines = ctx.files(path).lines()
    assert ctx.files(path).pcount == 1  # the (filename, bytes) pairs keep the file whole
    assert lines.pcount >= ctx.default_pcount >= 2
    assert lines.count() == 70_000
    assert lines.map(len).glom().map(sum).collect() and lines.distinct().collect() == [line]
    with dask.config.set({"bndl.compute.pcount": 4}):  # as on a cluster with 4 task slots
        lines = ctx.files(path).lines()
    assert lines.pcount >= 4
    assert lines.count() == 70_000
    # split=False keeps the file in one partition
    assert ctx.files(path, split=False).lines().pcount == 1
    # files listed by the workers are cut too, each piece bound to the listing host
    listed = ctx.files(path, psize_bytes=1024 * 1024, location="workers").lines()
    hosts = len({w.host for w in ctx.workers})
    assert listed.pcount >= 4 * hosts
    assert listed.count() == 70_000 * hosts


def test_memory_files_cut_anywhere(ctx):
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    text = "".join(f"{i} grüße\r\n" for i in range(50))
    fs.pipe("/bndl-text-cut/a.txt", text.encode())
    try:
        dset = ctx.files("memory:///bndl-text-cut", split=True, psize_bytes=37)
        assert dset.pcount > 10
        assert dset.lines().collect() == text.splitlines(keepends=True)
        assert "".join(dset.decode().values().collect()) == text
    finally:
        fs.rm("/bndl-text-cut", recursive=True)


def test_decode_error_names_file_offset_and_encoding(ctx, tmp_path):
    directory = tmp_path / "enc"
    directory.mkdir()
    (directory / "a_good.txt").write_bytes(b"fine\n")
    (directory / "b_bad.txt").write_bytes(b"hello\nw\xf6rld\n")
    for read in (lambda d: d.lines().collect(),
                 lambda d: d.cache().lines().collect(),
                 lambda d: d.decode().collect(),
                 lambda d: ctx.files(str(directory), split=True, psize_bytes=4).lines().collect()):
        with pytest.raises(UnicodeDecodeError) as info:
            read(ctx.files(str(directory)))
        message = str(info.value)
        assert "b_bad.txt" in message and "offset 7" in message and "utf-8" in message
        assert "errors='replace'" in message and "encoding=" in message
    replaced = ctx.files(str(directory)).lines(errors="replace").collect()
    assert replaced == ["fine\n", "hello\n", "w\ufffdrld\n"]
    assert ctx.files(str(directory)).lines("latin-1").collect()[-1] == "wörld\n"


def test_decode_error_pickles():
    from bndl_dask.util.text_chunks import FileDecodeError

    try:
        b"ab\xffcd".decode()
    except UnicodeDecodeError as exc:
        error = FileDecodeError.from_error(exc, "f.txt", 1002)
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, UnicodeDecodeError) and str(copy) == str(error)
    assert (copy.filename, copy.offset) == ("f.txt", 1002)
