"""Mistakes a new user makes, found by using the package as one: each error says which file,
where, and what to do. Run against the session's worker processes."""

from __future__ import annotations

import pytest

pd = pytest.importorskip("pandas")


@pytest.mark.parametrize("psize_bytes", [None, 64])
@pytest.mark.parametrize("bad_row", [1, 500])
def test_parse_csv_decode_error_names_file_offset_and_encoding(ctx, tmp_path, psize_bytes,
                                                                bad_row):
    # as lines() does: a bad byte in a CSV file names the file, the byte's offset and the fix,
    # whether it is in the sampled head or in a later piece of a cut file
    rows = [f"{i},hello\n".encode() for i in range(1000)]
    rows[bad_row] = f"{bad_row},w\xf6rld\n".encode("latin-1")
    path = tmp_path / "people.csv"
    data = b"id,name\n" + b"".join(rows)
    path.write_bytes(data)
    with pytest.raises(UnicodeDecodeError) as info:
        ctx.files(str(path), split=b"\n", psize_bytes=psize_bytes).parse_csv().collect()
    message = str(info.value)
    assert "people.csv" in message and "utf-8" in message
    offset = data.index(b"\xf6")
    assert f"offset {offset}" in message
    assert "encoding=" in message
    frame = ctx.files(str(path), psize_bytes=psize_bytes).parse_csv(encoding="latin-1").collect()
    assert frame.reset_index(drop=True).equals(pd.read_csv(path, encoding="latin-1"))


def test_parse_csv_of_a_binary_file_names_the_file(ctx, tmp_path):
    path = tmp_path / "image.bin"
    path.write_bytes(bytes(range(256)) * 100)
    for kwargs in ({}, {"encoding": "latin-1"}):
        with pytest.raises(Exception) as info:
            ctx.files(str(path)).parse_csv(**kwargs).collect()
        assert "image.bin" in str(info.value)


def test_unicode_error_of_user_code_keeps_its_message(ctx):
    # dask unpickles errors without calling __init__; a UnicodeDecodeError's message and fields
    # are set there, so it came back as "UnicodeDecodeError: " with no reason
    with pytest.raises(UnicodeDecodeError) as info:
        ctx.range(1).map(lambda x: b"ab\xff".decode()).collect()
    assert "can't decode byte 0xff in position 2: invalid start byte" in str(info.value)
    assert (info.value.__cause__.reason, info.value.__cause__.start) == ("invalid start byte", 2)
    with pytest.raises(UnicodeEncodeError, match="can't encode character"):
        ctx.range(1).map(lambda x: "\u00e9".encode("ascii")).collect()


class HttpError(Exception):
    def __init__(self, status: int):
        super().__init__(f"status {status}")
        self.status = status


def _fail_with_status(x):
    raise HttpError(404)


def test_raised_exception_keeps_its_attributes(ctx, tmp_path):
    # what the user catches is their type, and it has their exception's fields too
    with pytest.raises(HttpError) as info:
        ctx.range(1).map(_fail_with_status).collect()
    assert info.value.status == 404
    missing = str(tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError) as info:
        ctx.range(1).map(lambda x: open(missing)).collect()
    assert (info.value.filename, info.value.errno) == (missing, 2)
    with pytest.raises(UnicodeDecodeError) as info:
        ctx.range(1).map(lambda x: b"ab\xff".decode()).collect()
    assert (info.value.reason, info.value.start, info.value.encoding) == (
        "invalid start byte", 2, "utf-8")


def test_typo_in_dask_config_set_is_refused_by_the_action(ctx):
    import dask

    from bndl_dask.util.config import UnknownSettingError

    with dask.config.set({"bndl.execute.atempts": 3}):
        with pytest.raises(UnknownSettingError, match="did you mean 'bndl.execute.attempts'"):
            ctx.range(4).sum()
    assert ctx.range(4).sum() == 6


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_action_after_the_scheduler_died_says_so(make_ctx):
    # it raised KeyError: 'workers' from deep in the context
    import subprocess
    import sys
    import time

    port = _free_port()
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "bndl_dask.cli.dscheduler", "--host", "127.0.0.1",
         "--port", str(port), "--dashboard-address", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in scheduler.stdout:  # ends when the scheduler listens (or exits)
            if "Start scheduler at" in line:
                break
        ctx = make_ctx(address=f"127.0.0.1:{port}")
        scheduler.kill()
        scheduler.wait(30)
        deadline = time.monotonic() + 60
        while ctx.client.status != "closed" and time.monotonic() < deadline:
            time.sleep(0.2)  # dask retries the connection for a while, then closes the client
        with pytest.raises(ConnectionError, match="lost its dask scheduler"):
            ctx.range(3).collect()
    finally:
        scheduler.kill()
        scheduler.wait(30)


def test_collect_as_map_of_non_pairs_says_what_it_needs(ctx):
    # it raised Python's "cannot convert dictionary update sequence element #0 to a sequence"
    for parts in (False, True):
        with pytest.raises(TypeError, match=r"collect_as_map of .* needs \(key, value\) pairs"):
            ctx.range(3).collect_as_map(parts=parts)
    assert ctx.range(3).key_by(str).collect_as_map() == {"0": 0, "1": 1, "2": 2}
