"""Text from pieces of files: line-aligned byte ranges, decoding that says where it failed, and
lines split the way Python reads a file.

A file cut into byte ranges is read as text with Hadoop's rule: a range owns the lines that
*start* in it. It skips the partial line it starts in (the previous range finishes that line)
and reads past its end to finish its own last line. Ranges that cover a file then yield every
line exactly once, and no line, ``\\r\\n`` pair or multi-byte character is ever cut (the
delimiter is an ASCII byte, which UTF-8 and the other ASCII-compatible encodings never use inside
a character).

Lines end at ``\\n``, ``\\r\\n`` or ``\\r``, as when iterating over ``open(path, newline='')``.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterable, Iterator
from typing import IO

LINE_DELIMITER = b"\n"
_SCAN_BLOCK = 64 * 1024
_STREAM_BLOCK = 1024 * 1024
#: where str.splitlines breaks lines but files do not
_OTHER_LINE_BREAKS = ("\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


class FileDecodeError(UnicodeDecodeError):
    """A file's bytes are not valid in the encoding asked for; says which file, where, and what
    to do. Still a ``UnicodeDecodeError``, so ``except UnicodeDecodeError`` catches it.

    ``filename`` and ``offset`` (the bad byte's position in the file) are attributes.
    """

    filename: str | None = None
    offset: int | None = None

    @classmethod
    def from_error(cls, error: UnicodeDecodeError, filename: str, offset: int) -> FileDecodeError:
        # keep a little context around the bad bytes, not the whole chunk (the error is pickled)
        lo = max(0, error.start - 16)
        obj = bytes(error.object[lo:error.end + 16])
        made = cls(error.encoding, obj, error.start - lo, error.end - lo, error.reason)
        made.filename, made.offset = filename, offset
        return made

    def __str__(self) -> str:
        # from args: a copy made without __init__ (as exception wrappers make) lacks the fields
        try:
            encoding, obj, start, end, reason = self.args
            bad = bytes(obj[start:end][:4]).hex(" ")
        except (TypeError, ValueError):
            return super().__str__()
        return (f"{self.filename!r} is not valid {encoding}: byte {bad} at offset "
                f"{self.offset} of the file ({reason}). Pass the file's encoding "
                f"(encoding='latin-1', ...), or errors='replace' to read it anyway")


def is_line_splittable(encoding: str | None) -> bool:
    """Whether files in ``encoding`` can be cut at ``\\n`` bytes (ASCII-compatible encodings)."""
    if encoding is None:
        return True
    try:
        data = "a\n\r".encode(encoding)
    except (LookupError, UnicodeError):
        return False
    return data in (b"a\n\r", codecs.BOM_UTF8 + b"a\n\r")


def piece_encoding(encoding: str, offset: int) -> str:
    """The encoding to decode a piece starting at ``offset`` with: a BOM belongs to the file's
    start only, so a later piece must not strip (or expect) one."""
    if offset > 0 and codecs.lookup(encoding).name == "utf-8-sig":
        return "utf-8"
    return encoding


def decode(blob: bytes, encoding: str, errors: str, filename: str, offset: int) -> str:
    """``blob.decode``; an error names the file and the byte offset in it."""
    try:
        return blob.decode(piece_encoding(encoding, offset), errors)
    except UnicodeDecodeError as exc:
        raise FileDecodeError.from_error(exc, filename, offset + exc.start) from None


def boundary_at_or_after(file: IO[bytes], position: int, size: int,
                         delimiter: bytes = LINE_DELIMITER) -> int:
    """The first position >= ``position`` that directly follows ``delimiter`` (or is 0 or
    ``size``): where the first line starting at or after ``position`` begins."""
    if position <= 0:
        return 0
    if position >= size:
        return size
    # a delimiter ending exactly at ``position`` counts: start looking len(delimiter) before it
    start = position - len(delimiter)
    file.seek(start)
    data = b""
    while True:
        block = file.read(_SCAN_BLOCK if data else max(len(delimiter), 1) * 64)
        if not block:
            return size
        data += block
        found = data.find(delimiter)
        if found >= 0:
            return start + found + len(delimiter)
        keep = len(delimiter) - 1
        start += len(data) - keep
        data = data[len(data) - keep:] if keep else b""


def read_aligned(file: IO[bytes], offset: int, length: int, size: int,
                 delimiter: bytes = LINE_DELIMITER) -> tuple[int, bytes]:
    """``(start, bytes)`` of the whole lines that start in ``[offset, offset + length)``."""
    start = boundary_at_or_after(file, offset, size, delimiter)
    end = boundary_at_or_after(file, offset + length, size, delimiter)
    if start >= end:
        return start, b""
    file.seek(start)
    return start, file.read(end - start)


def stream_blocks(file: IO[bytes], block: int = _STREAM_BLOCK) -> Iterator[bytes]:
    while True:
        data = file.read(block)
        if not data:
            return
        yield data


def split_lines(data: str | bytes, keepends: bool) -> list:
    """Lines ending at ``\\n``, ``\\r\\n`` or ``\\r`` (unlike ``str.splitlines``, not at form
    feeds, ``\\x1c`` or ``\\u2028``): what iterating over ``open(path, newline='')`` yields."""
    if isinstance(data, bytes):
        return data.splitlines(keepends)  # bytes split at exactly these three
    if not any(separator in data for separator in _OTHER_LINE_BREAKS):
        return data.splitlines(keepends)  # the same here, and faster than StringIO
    lines = io.StringIO(data, newline="").readlines()
    if not keepends:
        lines = [line.rstrip("\r\n") for line in lines]
    return lines


def iter_lines(blocks: Iterable[bytes], encoding: str | None, errors: str, keepends: bool,
               filename: str, offset: int = 0) -> Iterator:
    """The lines of consecutive blocks of a file, the first starting at byte ``offset``:
    decoded incrementally (characters cut between blocks are joined), errors name the file and
    the byte offset."""
    decoder = None
    if encoding is not None:
        decoder = codecs.getincrementaldecoder(piece_encoding(encoding, offset))(errors)
    pending: str | bytes = "" if decoder else b""
    newline, ends = ("\n", "\r\n") if decoder else (b"\n", b"\r\n")
    position = offset  # file offset of the next block's first byte
    for block in blocks:
        if decoder is None:
            text = block
        else:
            buffered = len(decoder.getstate()[0])
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as exc:
                where = position - buffered + exc.start
                raise FileDecodeError.from_error(exc, filename, where) from None
        position += len(block)
        lines = split_lines(pending + text, True)
        pending = lines.pop() if lines else pending[:0]
        if pending.endswith(newline):
            lines.append(pending)
            pending = pending[:0]
        # a trailing '\r' stays pending: the next block may start with its '\n'
        if not keepends:
            lines = [line.rstrip(ends) for line in lines]
        yield from lines
    if decoder is not None:
        buffered = len(decoder.getstate()[0])
        try:
            pending += decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise FileDecodeError.from_error(exc, filename, position - buffered + exc.start) \
                from None
    if pending:
        yield from split_lines(pending, keepends)
