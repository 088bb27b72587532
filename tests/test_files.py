"""ctx.files: listing, partitioning, splitting, text helpers, fsspec URLs, errors."""

from __future__ import annotations

import gzip
import math
import os
import uuid

import fsspec
import lz4.block
import lz4.frame
import pytest

LINE = 128
LINES = 8
NFILES = 32


def _line(i: int, j: int) -> str:
    # unicode on purpose: 'é' is two bytes in UTF-8, so the line is 128 bytes, not 128 chars
    body = chr(ord("a") + (i + j) % 26) * (LINE - 3) + "é"
    return body + "\n"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("files")
    names, contents = [], []
    for i in range(NFILES):
        text = "".join(_line(i, j) for j in range(LINES))
        data = text.encode()
        assert len(data) == LINE * LINES
        path = root / f"test_file_{i:02d}.tmp"
        path.write_bytes(data)
        names.append(str(path))
        contents.append(data)
    for i in range(10):
        (root / f"decoy_{i}.txt").write_text("decoy")
    sub = root / "sub"
    sub.mkdir()
    (sub / "nested.tmp").write_text("nested\n")
    return root, names, contents


@pytest.fixture(scope="module")
def base(ctx, tree):
    _, names, _ = tree
    dset = ctx.files(names, psize_bytes=2048, psize_files=None).cache()
    yield dset
    dset.uncache()


def _is_test_file(path: str) -> bool:
    return os.path.basename(path).startswith("test_file_")


def test_partitioning_and_sizes(base, tree):
    _, names, contents = tree
    total = sum(map(len, contents))
    assert base.pcount == round(total / 2048) == 16
    assert base.filecount == NFILES
    assert base.count() == NFILES
    assert base.size == total == 32768
    assert base.filenames == names
    assert b"".join(base.values().collect()) == b"".join(contents)


@pytest.mark.parametrize("psize_bytes", [None, 3072])
@pytest.mark.parametrize("psize_files", [None, 3])
def test_partition_limits(ctx, tree, psize_bytes, psize_files):
    _, names, contents = tree
    dset = ctx.files(names, psize_bytes=psize_bytes, psize_files=psize_files)
    sizes = dset.values().map(len).glom().collect()
    assert sum(map(sum, sizes)) == sum(map(len, contents))
    for part in sizes:
        if psize_bytes:
            assert sum(part) <= psize_bytes
        if psize_files:
            assert len(part) <= psize_files


def test_glob_directory_and_filters(ctx, tree):
    root, names, contents = tree
    assert ctx.files(root / "test_file_00.tmp").filenames == [names[0]]  # a PathLike root
    globbed = ctx.files(str(root / "test_file_*.tmp"))
    assert globbed.filenames == names
    assert globbed.count() == NFILES
    assert sorted(globbed.collect()) == sorted(zip(names, contents))

    everything = ctx.files(str(root))
    assert everything.filecount == NFILES + 10 + 1  # decoys and the nested file
    flat = ctx.files(str(root), recursive=False)
    assert flat.filecount == NFILES + 10
    no_sub = ctx.files(str(root), True, lambda d: not d.endswith("sub"))
    assert no_sub.filecount == NFILES + 10


@pytest.mark.parametrize("location", ["driver", "workers"])
def test_location(ctx, tree, location):
    root, names, contents = tree
    dset = ctx.files(str(root), True, None, _is_test_file, location=location)
    hosts = len({w.host for w in ctx.workers}) if location == "workers" else 1
    assert dset.count() == NFILES * hosts
    assert len(dset.filenames) == NFILES * hosts
    assert sorted(dset.collect()) == sorted(list(zip(names, contents)) * hosts)


def test_decode_and_lines(base, tree):
    _, _, contents = tree
    text = b"".join(contents).decode()
    decoded = base.decode().values().collect()
    assert "".join(decoded) == text
    assert all(len(value.encode()) == LINE * LINES for value in decoded)
    for encoding in ("utf-8", None):
        expected = (text if encoding else b"".join(contents)).splitlines(keepends=True)
        lines = base.lines(encoding).collect()
        assert len(lines) == NFILES * LINES
        assert lines == expected
        assert all(len(line if encoding is None else line.encode()) == LINE for line in lines)


def test_lines_streamed_from_uncached_files(ctx, tree):
    _, names, contents = tree
    text = b"".join(contents).decode()
    assert ctx.files(names).lines().collect() == text.splitlines(keepends=True)
    assert ctx.files(names).lines(keepends=False).collect() == text.splitlines()


@pytest.mark.parametrize("compression", ["gzip", "lz4"])
def test_decompress(ctx, tmp_path, compression):
    ctx.range(100).map(lambda i: f"{i}\n").collect_as_files(
        str(tmp_path), mode="t", compression=compression)
    lines = ctx.files(str(tmp_path)).decompress(compression).lines().map(int).collect()
    assert sorted(lines) == list(range(100))


def test_decompress_lz4_block_format(ctx, tmp_path):
    (tmp_path / "a.lz4").write_bytes(lz4.block.compress("ünïcode\n".encode()))
    (tmp_path / "b.lz4").write_bytes(lz4.frame.compress(b"frame\n"))
    (tmp_path / "c.gz").write_bytes(gzip.compress(b"gz\n"))
    dset = ctx.files(str(tmp_path), ffilter=lambda f: f.endswith(".lz4"))
    assert dset.decompress("lz4").lines().collect() == ["ünïcode\n", "frame\n"]
    with pytest.raises(ValueError, match="gzip and lz4"):
        dset.decompress(None)


@pytest.mark.parametrize("psize_bytes", [1945, 2048, 2150])
def test_split_anywhere(ctx, tree, psize_bytes):
    _, names, contents = tree
    total = sum(map(len, contents))
    dset = ctx.files(names, psize_bytes=psize_bytes, split=True)
    assert dset.pcount == math.ceil(total / psize_bytes)
    parts = dset.values().glom().collect()
    assert all(sum(map(len, part)) <= psize_bytes for part in parts)
    assert b"".join(b"".join(part) for part in parts) == b"".join(contents)
    assert dset.size == total


@pytest.mark.parametrize("psize_bytes", [1843, 1996, 2048, 2252])
def test_split_on_separator(ctx, tree, psize_bytes):
    _, names, contents = tree
    dset = ctx.files(names, psize_bytes=psize_bytes, split="\n")
    parts = dset.values().glom().collect()
    assert b"".join(b"".join(part) for part in parts) == b"".join(contents)
    line_counts = [b"".join(part).count(b"\n") for part in parts]
    assert all(count == psize_bytes // LINE for count in line_counts[:-1])
    assert all(chunk.endswith(b"\n") for part in parts for chunk in part)


def test_oversize_pieces(ctx, tmp_path):
    (tmp_path / "big").write_bytes(b"x" * 100 + b"|" + b"y" * 10)
    (tmp_path / "small").write_bytes(b"z")
    dset = ctx.files(str(tmp_path), psize_bytes=50, split=b"|")
    assert dset.values().glom().collect() == [[b"x" * 100 + b"|"], [b"y" * 10, b"z"]]
    whole = ctx.files(str(tmp_path), psize_bytes=50)
    assert whole.values().map(len).glom().collect() == [[111], [1]]


def test_memory_and_file_urls(ctx, tree):
    _, names, contents = tree
    fs = fsspec.filesystem("memory")
    base = f"/bndl-{uuid.uuid4().hex[:8]}"
    fs.pipe(f"{base}/a.txt", "grüße\nwelt\n".encode())
    fs.pipe(f"{base}/d/b.txt", b"nested\n")
    try:
        dset = ctx.files(f"memory://{base}")
        assert [n.rsplit("/", 1)[1] for n in dset.filenames] == ["a.txt", "b.txt"]
        assert dset.lines().collect() == ["grüße\n", "welt\n", "nested\n"]
        split = ctx.files(f"memory://{base}", psize_bytes=8, split="\n")
        assert split.values().collect() == ["grüße\n".encode(), b"welt\n", b"nested\n"]
        assert ctx.files(f"memory://{base}/*.txt").decode().values().collect() == [
            "grüße\nwelt\n"]
    finally:
        fs.rm(base, recursive=True)
    url = ctx.files("file://" + names[0])
    assert url.filenames == ["file://" + names[0]]
    assert url.values().collect() == [contents[0]]


def test_bad_input(ctx, tree):
    root, names, _ = tree
    missing = str(root / "does-not-exist")
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        ctx.files(missing)
    with pytest.raises(FileNotFoundError, match="nothing-matches"):
        ctx.files(str(root / "nothing-matches*"))
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        ctx.files([names[0], missing])
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        ctx.files(missing, location="workers")
    with pytest.raises(ValueError, match="regular file"):
        ctx.files([str(root)])
    with pytest.raises(ValueError):
        ctx.files(names, psize_bytes=0)
    with pytest.raises(ValueError):
        ctx.files(names, psize_files=-1)
    with pytest.raises(ValueError, match="psize_bytes"):
        ctx.files(names, psize_files=3, split=True)
    with pytest.raises(ValueError, match="str root"):
        ctx.files(names, location="workers")
    with pytest.raises(ValueError, match="location"):
        ctx.files(names, location="elsewhere")
    with pytest.raises(TypeError):
        ctx.files(names, ffilter="not callable")
    # the context is still usable
    assert ctx.files(names[:2]).count() == 2


def test_user_filter_error_surfaces(ctx, tree):
    root, _, _ = tree

    def broken(path):
        raise KeyError("filter failed")

    with pytest.raises(KeyError, match="filter failed"):
        ctx.files(str(root), ffilter=broken)
    with pytest.raises(KeyError, match="filter failed"):
        ctx.files(str(root), ffilter=broken, location="workers")
    assert ctx.range(3).count() == 3


def test_read_errors_are_the_users(ctx, tmp_path):
    path = tmp_path / "vanishing.txt"
    path.write_text("here\n")
    dset = ctx.files(str(path))
    path.unlink()  # the driver listed it; the worker finds it gone
    with pytest.raises(FileNotFoundError):
        dset.collect()
    assert ctx.range(3).count() == 3
