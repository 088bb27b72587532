"""Dataset.pipe: partitions streamed through external commands."""

from __future__ import annotations

import io
import sys

import pytest

from bndl_dask.execute.exceptions import InvocationException


def test_sort(ctx):
    lines = [b"delta\n", b"alpha\n", b"charlie\n"]
    assert ctx.collection(lines, pcount=1).pipe("sort").map(bytes.decode).collect() == [
        "alpha\n", "charlie\n", "delta\n"]


def test_per_partition_list_command_and_options(ctx, tmp_path):
    data = ctx.range(6, pcount=2).map(lambda i: f"{i}\n".encode())
    assert data.pipe(["sort", "-r"]).collect() == [b"2\n", b"1\n", b"0\n", b"5\n", b"4\n", b"3\n"]
    (tmp_path / "marker").write_text("")
    listed = ctx.range(1, pcount=1).map(lambda i: b"").pipe("ls", cwd=str(tmp_path)).collect()
    assert listed == [b"marker\n"]


def test_custom_reader_and_writer(ctx):
    def writer(stdin, partition):
        for element in partition:
            stdin.write(f"{element}\n".encode())

    def reader(stdout):
        return [int(line) for line in stdout.read().split()]

    script = "import sys; [print(int(l) * 2) for l in sys.stdin]"
    doubled = ctx.range(10, pcount=3).pipe([sys.executable, "-c", script], reader, writer)
    assert doubled.collect() == [2 * i for i in range(10)]


def test_large_partition_does_not_deadlock(ctx):
    # more than a pipe buffer in each direction: writing and reading must overlap
    blob = [b"x" * 1000 + b"\n"] * 2000
    out = ctx.collection(blob, pcount=1).pipe("cat", io.IOBase.readlines).count()
    assert out == 2000


def test_command_that_stops_reading(ctx):
    lines = ctx.collection([b"%d\n" % i for i in range(100_000)], pcount=1)
    assert lines.pipe("head -n 2").collect() == [b"0\n", b"1\n"]


def test_upstream_error_is_raised(ctx):
    def fail(x):
        raise ZeroDivisionError("upstream")

    with pytest.raises(InvocationException) as info:
        ctx.collection([b"a\n"], pcount=1).map(fail).pipe("sort").collect()
    assert isinstance(info.value, ZeroDivisionError)
    with pytest.raises(FileNotFoundError):
        ctx.collection([b"a\n"], pcount=1).pipe("no-such-command-bndl").collect()
    assert ctx.range(5).count() == 5
