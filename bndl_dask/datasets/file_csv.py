"""``parse_csv`` of files: a file's header is read from its start only.

A file cut into pieces (large files are, by default) is parsed piece by piece: the piece at the
file's start with the user's arguments (its header row is consumed there), every later piece
with ``header=None`` and the column names of *its own* file's header, read again by the worker.
So every piece gets the columns ``pandas.read_csv`` gives the whole file, and the collected frame
equals it. Pieces are cut at line breaks; a quoted field holding a line break would be cut, and
pandas then reports an unterminated quote for the piece before the cut: that error is turned into
one that says to read the file whole.
"""

from __future__ import annotations

import codecs
import io
from typing import Any

from bndl_dask.datasets.dataset import DistributedDataFrame
from bndl_dask.datasets.file_pieces import FilesPartition, pieces
from bndl_dask.datasets.interop import _pandas
from bndl_dask.datasets.interop_datasets import _concat
from bndl_dask.util.text_chunks import FileDecodeError, is_line_splittable, stream_blocks

SAMPLE_ROWS = 100
SAMPLE_BYTES = 256 * 1024
#: what pandas needs to read a header row (and nothing that drops or moves columns)
_HEADER_KEYS = ("sep", "delimiter", "header", "names", "skiprows", "skipinitialspace",
                "quotechar", "quoting", "doublequote", "escapechar", "comment", "encoding",
                "encoding_errors", "dialect", "lineterminator", "engine", "skip_blank_lines",
                "delim_whitespace")
_UNTERMINATED_QUOTE = ("EOF inside string", "unexpected end of data")


def splittable_csv(kwargs: dict) -> bool:
    """Whether CSV read with ``kwargs`` can be parsed piece by piece (arguments that count
    rows from the start or the end of a file cannot)."""
    if any(kwargs.get(key) for key in ("nrows", "skipfooter", "chunksize", "iterator")):
        return False
    if isinstance(kwargs.get("header"), (list, tuple)):
        return False
    skiprows = kwargs.get("skiprows")
    if skiprows is not None and (isinstance(skiprows, bool) or not isinstance(skiprows, int)):
        return False
    if kwargs.get("lineterminator") not in (None, "\n"):
        return False
    return is_line_splittable(kwargs.get("encoding") or "utf-8")


def parse_csv_pieces(dset: Any, sample: Any, kwargs: dict) -> DistributedDataFrame:
    """The distributed frame behind ``FileContentsMethods.parse_csv``."""
    pd = _pandas()
    source = dset._for_lines(kwargs.get("encoding") or "utf-8", kwargs)
    if source._has_cut_chunks() and not splittable_csv(kwargs):
        raise ValueError("these read_csv arguments (nrows, skipfooter, a list header, skiprows "
                         "as rows, a lineterminator, a non-ASCII-compatible encoding) need whole "
                         "files; read them with ctx.files(..., split=False)")
    aligned = source._cut_mid_line(False)
    if sample is not None:
        meta = sample.iloc[:0]
    else:
        try:
            meta = source.map_partitions_with_part(_CsvSample(kwargs, aligned)).first()
        except StopIteration:
            meta = pd.DataFrame(columns=list(kwargs["names"]) if "names" in kwargs else None)
    return DistributedDataFrame(source, _ParseCsvPieces(kwargs, meta, aligned), meta)


class _CsvSample:
    """An empty frame with the columns and dtypes of the first rows of a partition's first
    file (the meta of the distributed frame)."""

    def __init__(self, kwargs: dict, aligned: bool):
        self.kwargs, self.aligned = kwargs, aligned

    def __call__(self, part, data):
        pd = _pandas()
        for name, offset, _, blocks in pieces(part, data, self.aligned, stream=True):
            if offset:
                continue
            if isinstance(part.src, FilesPartition):
                # the file's head, not just this piece: a small piece says little about dtypes
                with part.src.open(name) as file:
                    blocks = list(stream_blocks(file, SAMPLE_BYTES))[:2] + [b""]
            blocks = iter(blocks)
            head = next(blocks, b"")
            rest = next(blocks, None)
            kwargs = dict(self.kwargs)
            if rest and not kwargs.get("skipfooter"):
                cut = head.rfind(b"\n") + 1  # whole lines are enough for SAMPLE_ROWS rows
                head = head[:cut] if cut else head + rest + b"".join(blocks)
                kwargs["nrows"] = min(kwargs.get("nrows") or SAMPLE_ROWS, SAMPLE_ROWS)
            elif rest:
                head += rest + b"".join(blocks)
            try:
                frame = _read_csv(head, kwargs, name, 0)
            except pd.errors.ParserError:
                if not rest:
                    raise
                continue  # a quoted line break in the head: the full parse reports it
            yield frame.iloc[:0]
            return


class _ParseCsvPieces:
    def __init__(self, kwargs: dict, meta: Any, aligned: bool):
        self.kwargs, self.meta, self.aligned = _keep_text_columns(kwargs, meta), meta, aligned

    def __call__(self, part, data):
        columns: dict[str, list] = {}
        frames = []
        for name, offset, whole, blob in pieces(part, data, self.aligned):
            if offset == 0:
                kwargs = self.kwargs
            else:
                if name not in columns:
                    columns[name] = self._file_columns(part.src, name)
                unprefixed = len(blob)
                blob, kwargs = self._continuation(blob, columns[name])
                offset -= len(blob) - unprefixed  # the file offset of blob[0]
            if not whole and not blob.strip():
                continue  # no line starts in this piece
            frame = self._read(blob, kwargs, name, offset, whole)
            frames.append(_widen(frame, self.meta))
        return _concat_pieces(frames, self.meta)

    def _file_columns(self, source: Any, name: str) -> list:
        """All column names of file ``name`` (before ``usecols`` and ``index_col``)."""
        pd = _pandas()
        kwargs = {key: self.kwargs[key] for key in _HEADER_KEYS if key in self.kwargs}
        with source.open(name) as file:
            return list(pd.read_csv(file, nrows=0, **kwargs).columns)

    def _continuation(self, blob: bytes, columns: list) -> tuple[bytes, dict]:
        kwargs = {k: v for k, v in self.kwargs.items() if k not in ("header", "names", "skiprows")}
        encoding = codecs.lookup(self.kwargs.get("encoding") or "utf-8").name
        if blob.startswith(codecs.BOM_UTF8) and encoding in ("utf-8", "utf-8-sig"):
            # U+FEFF that starts a line mid-file is data; pandas would strip it as a BOM at the
            # start of its input, so give pandas a header line to replace instead
            return b"_\n" + blob, {**kwargs, "header": 0, "names": columns}
        return blob, {**kwargs, "header": None, "names": columns}

    @staticmethod
    def _read(blob: bytes, kwargs: dict, name: str, offset: int, whole: bool):
        pd = _pandas()
        try:
            return _read_csv(blob, kwargs, name, offset)
        except pd.errors.ParserError as exc:
            if whole or not any(text in str(exc) for text in _UNTERMINATED_QUOTE):
                raise
            raise pd.errors.ParserError(
                f"{name!r}: the piece at bytes {offset}..{offset + len(blob)} ends inside a "
                f"quoted field: a quoted value holds a line break, and the file was cut at line "
                f"breaks to be read in parallel. Read this file whole: "
                f"ctx.files(path, split=False).parse_csv(...)") from exc


def _read_csv(blob: bytes, kwargs: dict, name: str, offset: int) -> Any:
    """``pandas.read_csv`` of ``blob``, the bytes at ``offset`` of file ``name``; its errors
    say which file (pandas' own name neither the file nor, for bad bytes, the position)."""
    pd = _pandas()
    try:
        return pd.read_csv(io.BytesIO(blob), **kwargs)
    except UnicodeDecodeError as exc:
        if kwargs.get("compression") not in (None, "infer"):
            raise  # offsets in compressed bytes would mislead
        try:
            blob.decode(kwargs.get("encoding") or "utf-8")
        except UnicodeDecodeError as located:
            raise FileDecodeError.from_error(located, name, offset + located.start) from None
        raise exc
    except pd.errors.ParserError as exc:
        raise type(exc)(f"{name!r} (bytes from offset {offset}): {exc}") from exc


def _keep_text_columns(kwargs: dict, meta: Any) -> dict:
    """``kwargs`` with ``dtype=`` naming the sample's text columns: a piece whose values of
    such a column all look like numbers (or are all empty) keeps them as the text pandas gives
    the whole file ('007' stays '007')."""
    dtype = kwargs.get("dtype")
    if meta is None or (dtype is not None and not isinstance(dtype, dict)):
        return kwargs
    text = {column: kind for column, kind in getattr(meta, "dtypes", {}).items()
            if getattr(kind, "kind", None) == "O"}  # object and string dtypes
    if not text:
        return kwargs
    return {**kwargs, "dtype": {**text, **(dtype or {})}}


def _concat_pieces(frames: list, meta: Any) -> Any:
    """One frame of a partition's pieces; renumbered only when the index is pandas' default
    (a named index, as from ``index_col``, is data)."""
    pd = _pandas()
    non_empty = [frame for frame in frames if len(frame)]
    if len(non_empty) == 1:
        return non_empty[0]
    if not non_empty:
        return _concat(frames, meta)
    default = all(isinstance(f.index, pd.RangeIndex) and f.index.name is None for f in non_empty)
    return pd.concat(non_empty, ignore_index=default)


def _widen(frame: Any, meta: Any) -> Any:
    """Integer columns of a piece become float where the sample's are, so pieces agree."""
    if meta is None:
        return frame
    for column, dtype in getattr(meta, "dtypes", {}).items():
        if (column in frame.columns and dtype.kind == "f"
                and frame[column].dtype.kind in "iu"):
            frame[column] = frame[column].astype(dtype)
    return frame
