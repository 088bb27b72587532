"""Listing the files ``ctx.files`` designates and cutting them into partitions of chunks.

Pure (no dataset or cluster code), so it runs on the driver or, inside a dask task, on a worker
that sees the files (finding separators means reading them).
"""

from __future__ import annotations

import errno
import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bndl_dask.util.filesystem import FileSystem

#: a piece of a file: (file name, offset, length, whether it is the whole file)
Chunk = tuple

#: line-oriented reads cut large files into pieces of at least this many bytes
MIN_LINE_PIECE = 1024 * 1024


def _has_magic(path: str) -> bool:
    return any(c in path for c in "*?[")


def _not_found(root: Any) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, "files root does not exist", str(root))


def list_files(fs: FileSystem, root: str | Iterable[str], recursive: bool = True,
               dfilter: Callable | None = None, ffilter: Callable | None = None,
               ) -> list[tuple[str, int]]:
    """``(name, size)`` of the files ``root`` designates, in listing order."""
    found: list[tuple[str, int]] = []

    def scan(directory: str) -> None:
        for name, kind, size in fs.entries(directory):
            if kind == "file":
                if ffilter is None or ffilter(name):
                    found.append((name, size))
            elif recursive and (dfilter is None or dfilter(name)):
                scan(name)

    if isinstance(root, str):
        if fs.protocol is None:
            root = os.path.expanduser(root)
        if _has_magic(root):
            matches = fs.glob(root, recursive)
            if not matches:
                raise FileNotFoundError(errno.ENOENT, "no files match", root)
        else:
            matches = [root]
        for match in matches:
            kind = fs.kind(match)
            if kind == "file":
                if ffilter is None or ffilter(match):
                    found.append((fs.name(match), fs.size(match)))
            elif kind == "directory":
                scan(match)
            else:
                raise _not_found(match)
    else:
        for name in root:
            if not isinstance(name, str):
                raise TypeError(f"file names must be str, got {name!r}")
            kind = fs.kind(name)
            if kind is None:
                raise _not_found(name)
            if kind != "file":
                raise ValueError(f"{name!r} is not a regular file")
            found.append((fs.name(name), fs.size(name)))
    return found


def plan_partitions(fs: FileSystem | None, files: Sequence[tuple[str, int]],
                    psize_bytes: int | None, psize_files: int | None,
                    split: bool | bytes) -> list[list[Chunk]]:
    """Cut ``files`` greedily into partitions of chunks (BNDL's rules, see ``ctx.files``);
    ``fs`` is only used to find separators."""
    parts: list[list[Chunk]] = []
    current: list[Chunk] = []
    used = 0

    def flush() -> None:
        nonlocal current, used
        if current:
            parts.append(current)
        current, used = [], 0

    def files_full() -> bool:
        return psize_files is not None and len(current) >= psize_files

    for name, size in files:
        if split is False or size == 0:
            if current and (files_full() or (psize_bytes is not None
                                              and used + size > psize_bytes)):
                flush()
            current.append((name, 0, size, True))
            used += size
            continue
        position = 0
        if split is True:
            while position < size:
                if files_full() or used >= psize_bytes:
                    flush()
                take = min(size - position, psize_bytes - used)
                current.append((name, position, take, position == 0 and take == size))
                used += take
                position += take
            continue
        ends = fs.separator_ends(name, split)
        pending = next(ends, None)
        while position < size:
            if files_full():
                flush()
            room = psize_bytes - used
            best = None
            while pending is not None and pending - position <= room:
                best = pending
                pending = next(ends, None)
            if best is None:
                if current:
                    flush()
                    continue
                best = pending  # nothing fits an empty partition: one oversize piece
                pending = next(ends, None)
            current.append((name, position, best - position, position == 0 and best == size))
            used += best - position
            position = best
    flush()
    return parts


def halve_until(parts: list[list[Chunk]], target: int) -> list[list[Chunk]]:
    """Split partitions of several chunks in halves until there are ``target`` of them."""
    while len(parts) < target and any(len(p) > 1 for p in parts):
        halved = []
        for part in parts:
            if len(part) > 1:
                middle = len(part) // 2
                halved.extend((part[:middle], part[middle:]))
            else:
                halved.append(part)
        parts = halved
    return parts


def list_and_plan(fs: FileSystem, root: Any, recursive: bool, dfilter: Callable | None,
                  ffilter: Callable | None, psize_bytes: int | None, psize_files: int | None,
                  split: bool | bytes) -> list[list[Chunk]]:
    """List and cut into partitions; runs on the driver or on a worker (``location``)."""
    files = list_files(fs, root, recursive, dfilter, ffilter)
    return plan_partitions(fs, files, psize_bytes, psize_files, split)


def cut_for_lines(plan: list[tuple[list[Chunk], Any]], psize_bytes: int,
                  slots: int) -> list[tuple[list[Chunk], Any]] | None:
    """The plan for reading whole files line by line in parallel, or None when no file is large
    enough to be worth cutting.

    Files larger than a piece (``psize_bytes``, smaller when that leaves task slots idle, but
    not under ``MIN_LINE_PIECE``) are cut into byte ranges that readers align to lines.
    """
    total = sum(chunk[2] for chunks, _ in plan for chunk in chunks)
    piece = min(psize_bytes, max(MIN_LINE_PIECE, math.ceil(total / max(slots, 1))))
    if not any(chunk[2] > piece for chunks, _ in plan for chunk in chunks):
        return None
    cut: list[tuple[list[Chunk], Any]] = []
    for chunks, host in plan:
        if not any(chunk[2] > piece for chunk in chunks):
            cut.append((chunks, host))
            continue
        files = [(name, length) for name, _, length, _ in chunks]
        cut.extend((part, host) for part in plan_partitions(None, files, piece, None, True))
    return cut
