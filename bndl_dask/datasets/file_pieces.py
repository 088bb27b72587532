"""Reading ``ctx.files`` partitions on the workers: raw chunks, and the text functions behind
``decode``, ``lines`` and ``decompress``.

A text function reads the files itself, rather than the raw chunks, when the dataset is not
cached (whole files are then streamed, not held in memory) and when chunks were cut at arbitrary
bytes: such a chunk is read line-aligned (``bndl_dask.util.text_chunks``), so a partition boundary
never cuts a line, a ``\\r\\n`` pair or a character.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Iterator
from typing import Any

from bndl_dask.datasets.core import Partition
from bndl_dask.util.file_plan import Chunk
from bndl_dask.util.filesystem import local_hosts
from bndl_dask.util.text_chunks import decode, iter_lines, read_aligned, stream_blocks

#: what text functions see of a chunk: (file name, offset of the bytes in the file, whole, bytes)
Piece = tuple


class FilesPartition(Partition):
    """Chunks of files; reading happens in ``_compute``, on the worker."""

    def __init__(self, dset: Any, idx: int, chunks: list[Chunk], host: str | None = None,
                 payload: dict[str, bytes] | None = None):
        super().__init__(dset, idx)
        self.chunks = chunks
        self.host = host          # location='workers': the host whose file system was listed
        self.payload = payload    # memory:// only: whole files by name, read on the driver

    def open(self, name: str):
        if self.payload is not None:
            return io.BytesIO(self.payload[name])
        return self.dset.fs.open(name, "rb")

    def _compute(self) -> Iterator[tuple[str, bytes]]:
        for name, offset, length, whole in self.chunks:
            with self.open(name) as file:
                if whole:
                    yield name, file.read()
                else:
                    file.seek(offset)
                    yield name, file.read(length)

    def read_pieces(self, stream: bool = False,
                    aligned: bool = True) -> Iterator[tuple[str, int, bool, Any]]:
        """``(name, offset, whole, data)`` read from the files, cut chunks line-aligned when
        ``aligned``; ``data`` is bytes, or an iterable of blocks when ``stream``."""
        for name, offset, length, whole in self.chunks:
            with self.open(name) as file:
                if whole:
                    yield name, 0, True, stream_blocks(file) if stream else file.read()
                    continue
                if aligned:
                    size = file.seek(0, io.SEEK_END)
                    offset, blob = read_aligned(file, offset, length, size)
                else:
                    file.seek(offset)
                    blob = file.read(length)
                yield name, offset, False, [blob] if stream else blob

    def locality(self, workers):
        result = super().locality(workers)
        if self.host is not None:
            hosts, forbid_others = {self.host}, True
        elif self.payload is None and self.dset.fs.on_local_disk:
            hosts, forbid_others = local_hosts(), False
        else:
            return result
        for worker in workers:
            current = result.get(worker.name, 0)
            if worker.host in hosts:
                if 0 <= current < 3:
                    result[worker.name] = 3
            elif forbid_others:
                result[worker.name] = -1
        return result


def pieces(part: Partition, data: Iterable | None, aligned: bool,
           stream: bool = False) -> Iterator[Piece]:
    """The pieces of a partition of ``(name, bytes)`` pairs.

    From a files partition: read from the files when chunks must be ``aligned`` to lines or the
    dataset is not cached, else the (cached) chunks with their offsets. From anything else
    (decompressed files): whole files.
    """
    source = part.src
    if isinstance(source, FilesPartition):
        if aligned or not source.dset.cached:
            yield from source.read_pieces(stream, aligned)
            return
        for (name, blob), (_, offset, _, whole) in zip(data, source.chunks):
            yield name, offset, whole, [blob] if stream else blob
        return
    for name, blob in data if data is not None else ():
        yield name, 0, True, [blob] if stream else blob


class Decode:
    def __init__(self, encoding: str, errors: str, aligned: bool):
        self.encoding, self.errors, self.aligned = encoding, errors, aligned

    def __call__(self, part, data):
        for name, offset, _, blob in pieces(part, data, self.aligned):
            yield name, decode(blob, self.encoding, self.errors, name, offset)


class Lines:
    def __init__(self, encoding: str | None, errors: str, keepends: bool, aligned: bool):
        self.encoding, self.errors = encoding, errors
        self.keepends, self.aligned = keepends, aligned

    def __call__(self, part, data):
        for name, offset, _, blocks in pieces(part, data, self.aligned, stream=True):
            yield from iter_lines(blocks, self.encoding, self.errors, self.keepends, name, offset)


class Decompress:
    def __init__(self, compression: str):
        self.compression = compression

    def __call__(self, part, data):
        return ((name, decompress(blob, self.compression)) for name, blob in data)


def decompress(blob: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.decompress(blob)
    import lz4.block
    import lz4.frame

    if blob[:4] == b"\x04\x22\x4d\x18":  # the lz4 frame magic number
        return lz4.frame.decompress(blob)
    return lz4.block.decompress(blob)
