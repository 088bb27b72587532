"""File systems for ``ctx.files``: the local one for plain paths, fsspec's for URLs.

Pure (no dataset or cluster code): listing and planning run on the driver or inside a dask task on
a worker, reading runs inside bndl tasks.
"""

from __future__ import annotations

import glob
import os
import socket
from collections.abc import Iterator
from typing import Any

_READ_BLOCK = 1024 * 1024


class FileSystem:
    """Lists and reads files: the local file system, or an fsspec one for URLs.

    Picklable (it travels inside partitions); the fsspec object is made again where needed.
    """

    def __init__(self, protocol: str | None = None, storage_options: dict | None = None):
        self.protocol = protocol
        self.storage_options = dict(storage_options or {})
        self._fs = None

    @classmethod
    def for_path(cls, path: str, storage_options: dict | None = None) -> FileSystem:
        import fsspec.core

        protocol, _ = fsspec.core.split_protocol(path)
        if protocol is not None and len(protocol) == 1:  # a Windows drive letter, not a protocol
            protocol = None
        return cls(protocol, storage_options)

    def __getstate__(self) -> dict:
        return {"protocol": self.protocol, "storage_options": self.storage_options}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._fs = None

    @property
    def fs(self):
        if self._fs is None:
            import fsspec

            self._fs = fsspec.filesystem(self.protocol, **self.storage_options)
        return self._fs

    @property
    def process_local(self) -> bool:
        """Whether files only exist in the process that made them (fsspec's memory://)."""
        return self.protocol == "memory"

    @property
    def on_local_disk(self) -> bool:
        return self.protocol in (None, "file", "local")

    def name(self, path: str) -> str:
        """The name users see: the path as given, or a full URL for fsspec file systems."""
        if self.protocol is None:
            return path
        return self.fs.unstrip_protocol(self.fs._strip_protocol(path))

    # listing: each returns full names (see ``name``)

    def kind(self, path: str) -> str | None:
        """'file', 'directory' or None when ``path`` does not exist."""
        if self.protocol is None:
            if os.path.isfile(path):
                return "file"
            return "directory" if os.path.isdir(path) else None
        try:
            info = self.fs.info(path)
        except (FileNotFoundError, OSError):
            return None
        return "directory" if info.get("type") == "directory" else "file"

    def size(self, path: str) -> int:
        if self.protocol is None:
            return os.stat(path).st_size
        return int(self.fs.size(path))

    def glob(self, pattern: str, recursive: bool) -> list[str]:
        if self.protocol is None:
            return sorted(glob.glob(pattern, recursive=recursive))
        return sorted(self.name(p) for p in self.fs.glob(pattern))

    def entries(self, directory: str) -> list[tuple[str, str, int]]:
        """``(name, 'file'|'directory', size)`` of a directory's entries, sorted by name."""
        out = []
        if self.protocol is None:
            with os.scandir(directory) as scan:
                for entry in scan:
                    if entry.is_dir():
                        out.append((entry.path, "directory", 0))
                    elif entry.is_file():
                        out.append((entry.path, "file", entry.stat().st_size))
        else:
            for info in self.fs.ls(directory, detail=True):
                kind = "directory" if info.get("type") == "directory" else "file"
                name = self.name(info["name"])
                if name.rstrip("/") != self.name(directory).rstrip("/"):  # some list themselves
                    out.append((name, kind, int(info.get("size") or 0)))
        return sorted(out)

    # reading

    def open(self, path: str, mode: str = "rb", **kwargs: Any):
        if self.protocol is None:
            return open(path, mode, **kwargs)
        return self.fs.open(path, mode, **kwargs)

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        with self.open(path, "rb") as file:
            if offset:
                file.seek(offset)
            return file.read() if length is None else file.read(length)

    def separator_ends(self, path: str, sep: bytes) -> Iterator[int]:
        """Offsets just after each occurrence of ``sep`` in the file, then its size when the
        file does not end with ``sep``."""
        offset, data = 0, b""  # data: unconsumed bytes, starting at file offset ``offset``
        last = 0
        with self.open(path, "rb") as file:
            while True:
                block = file.read(_READ_BLOCK)
                if not block:
                    break
                data += block
                start = 0
                while True:
                    found = data.find(sep, start)
                    if found < 0:
                        break
                    start = found + len(sep)
                    last = offset + start
                    yield last
                # keep what may be the start of a separator cut by the block boundary
                cut = max(start, len(data) - (len(sep) - 1))
                offset += cut
                data = data[cut:]
        size = offset + len(data)
        if size > last:
            yield size


def local_hosts() -> set[str]:
    """The names and addresses of this machine."""
    hosts = {"127.0.0.1", "localhost", "::1", socket.gethostname()}
    try:
        hosts.add(socket.gethostbyname(socket.gethostname()))
    except OSError:
        pass
    return hosts
