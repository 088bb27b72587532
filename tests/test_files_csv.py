"""parse_csv of files equals pandas.read_csv of the same files, however they are cut."""

from __future__ import annotations

import csv
import io
import random

import pytest

pd = pytest.importorskip("pandas")

WORDS = ["plain", "with, comma", 'with "quotes"', "ünïcödé ✓", "", "日本語", "x"]


def _rows(count: int, seed: int) -> list[list]:
    rnd = random.Random(seed)
    rows = []
    for i in range(count):
        amount = "" if rnd.random() < 0.1 else f"{rnd.uniform(-1000, 1000):.3f}"
        rows.append([i, amount, rnd.choice(WORDS), rnd.choice(WORDS)])
    return rows


def _write_csv(path, rows, header=("id", "amount", "name", "note"), sep=",") -> str:
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter=sep)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def _expected(paths, **kwargs):
    frames = [pd.read_csv(p, **kwargs) for p in paths]
    return pd.concat(frames, ignore_index=True)


def _check(frame, expected):
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), expected)


@pytest.mark.parametrize("psize_bytes", [64, 257, 4096])
def test_header_only_at_file_start(ctx, tmp_path, psize_bytes):
    path = _write_csv(tmp_path / "rows.csv", _rows(150, psize_bytes))
    frame = ctx.files(path, split=b"\n", psize_bytes=psize_bytes).parse_csv().collect()
    _check(frame, pd.read_csv(path))
    # split=True cuts anywhere; lines are still read whole
    frame = ctx.files(path, split=True, psize_bytes=psize_bytes).parse_csv().collect()
    _check(frame, pd.read_csv(path))


@pytest.mark.parametrize("psize_bytes", [64, 2048])
def test_several_files_and_arguments(ctx, tmp_path, psize_bytes):
    headed = [_write_csv(tmp_path / f"h{i}.csv", _rows(60, i)) for i in range(3)]
    bare = [_write_csv(tmp_path / f"b{i}.csv", _rows(60, 10 + i), header=None, sep=";")
            for i in range(3)]

    def read(paths, **kwargs):
        dset = ctx.files(paths, split="\n", psize_bytes=psize_bytes)
        return dset.parse_csv(**kwargs).collect()

    _check(read(headed), _expected(headed))
    _check(read(headed, usecols=["id", "name"]), _expected(headed, usecols=["id", "name"]))
    _check(read(headed, usecols=[0, 3]), _expected(headed, usecols=[0, 3]))
    _check(read(bare, header=None, sep=";"), _expected(bare, header=None, sep=";"))
    names = ["n", "a", "s", "t"]
    _check(read(bare, sep=";", names=names), _expected(bare, sep=";", names=names))
    # names replacing a header row
    _check(read(headed, names=names, header=0), _expected(headed, names=names, header=0))
    pd.testing.assert_frame_equal(read(headed, index_col="id"),
                                  pd.concat([pd.read_csv(p, index_col="id") for p in headed]))


def test_pieces_share_columns_and_dtypes(ctx, tmp_path):
    text = "a,b,c\n" + "".join(f"{i},{i}.5,w{i}\n" for i in range(200))
    path = tmp_path / "typed.csv"
    path.write_text(text)
    df = ctx.files(str(path), split=b"\n", psize_bytes=128).parse_csv()
    parts = df.collect(parts=True)
    assert len(parts) > 10
    for part in parts:
        assert list(part.columns) == ["a", "b", "c"]
        assert list(part.dtypes) == list(pd.read_csv(path).dtypes)


def test_large_generated_csv_read_the_documented_way(ctx, tmp_path):
    path = _write_csv(tmp_path / "large.csv", _rows(300_000, 7))
    expected = pd.read_csv(path)
    df = ctx.files(path, psize_bytes=4 * 1024 * 1024).parse_csv()
    assert df.pcount >= max(ctx.default_pcount, 3)  # read in parallel, not as one partition
    _check(df.collect(), expected)
    assert df["amount"].map(lambda a: a * 2).collect().sum() == pytest.approx(
        expected["amount"].sum() * 2)


def test_quoted_line_break_is_not_cut_silently(ctx, tmp_path):
    rows = [[i, f"line one\nline two of {i}" if i % 3 == 0 else f"v{i}"] for i in range(40)]
    path = _write_csv(tmp_path / "multiline.csv", rows, header=("id", "text"))
    with pytest.raises(pd.errors.ParserError, match=r"quoted field.*split=False"):
        ctx.files(path, split=b"\n", psize_bytes=64).parse_csv().collect()
    whole = ctx.files(path, split=False, psize_bytes=64).parse_csv().collect()
    _check(whole, pd.read_csv(path))


def test_bom_at_file_start_only(ctx, tmp_path):
    path = tmp_path / "bom.csv"
    bom = "\ufeff"  # mid-file it is data (a zero-width no-break space), not a BOM
    rows = "".join(f"{bom if i % 5 == 0 else ''}k{i},{i}\n" for i in range(60))
    path.write_bytes(("\ufeffkey,value\n" + rows).encode("utf-8"))
    for psize_bytes in (16, 50, 97):
        dset = ctx.files(str(path), split=b"\n", psize_bytes=psize_bytes)
        _check(dset.parse_csv().collect(), pd.read_csv(path))
        _check(dset.parse_csv(encoding="utf-8-sig").collect(),
               pd.read_csv(path, encoding="utf-8-sig"))


def test_crlf_rows_cut_anywhere(ctx, tmp_path):
    path = tmp_path / "crlf.csv"
    text = "a,b\r\n" + "".join(f"{i},é{i}\r\n" for i in range(80))
    path.write_bytes(text.encode())
    for psize_bytes in range(20, 60, 7):
        frame = ctx.files(str(path), split=True, psize_bytes=psize_bytes).parse_csv().collect()
        _check(frame, pd.read_csv(io.BytesIO(text.encode())))


def test_decompressed_files_and_encoding(ctx, tmp_path):
    import gzip

    paths = []
    for i in range(3):
        path = tmp_path / f"z{i}.csv.gz"
        path.write_bytes(gzip.compress(f"k;v\n{i};grüße {i}\n{i + 10};ß\n".encode("latin-1")))
        paths.append(str(path))
    frame = ctx.files(paths).decompress().parse_csv(sep=";", encoding="latin-1").collect()
    _check(frame, _expected(paths, sep=";", encoding="latin-1"))
