"""``ctx.files``: datasets of file contents, read on the workers.

The driver (or, with ``location='workers'``, one worker per host) only *lists* files and their
sizes and cuts them into chunks (cutting at separators needs to read the files: a worker that
sees the driver's files does that); a partition carries ``(file name, offset, length)`` triples and
the worker that computes it opens and reads the files itself. Plain paths use the local file
system; paths with a protocol (``file://``, ``memory://``, ``s3://`` ...) go through fsspec.

``memory://`` is fsspec's in-process file system: worker processes cannot see the driver's, so
for it (alone) the driver reads the bytes and ships them inside the partitions.
"""

from __future__ import annotations

import errno
import glob
import gzip
import io
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from bndl_dask.datasets.core import Partition, check_callable
from bndl_dask.datasets.dataset import Dataset
from bndl_dask.datasets.narrow import MapPartitionsDataset

DEFAULT_PSIZE_BYTES = 16 * 1024 * 1024
DEFAULT_PSIZE_FILES = 10_000
LOCATIONS = ("driver", "workers")
_READ_BLOCK = 1024 * 1024

#: a piece of a file: (file name, offset, length, whether it is the whole file)
Chunk = tuple


# -- file systems ----------------------------------------------------------------------------------

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


# -- listing and cutting into partitions ---------------------------------------------------------

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


def plan_partitions(fs: FileSystem, files: Sequence[tuple[str, int]], psize_bytes: int | None,
                    psize_files: int | None, split: bool | bytes) -> list[list[Chunk]]:
    """Cut ``files`` greedily into partitions of chunks (BNDL's rules, see ``ctx.files``)."""
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


def _halve_until(parts: list[list[Chunk]], target: int) -> list[list[Chunk]]:
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


def _local_hosts() -> set[str]:
    hosts = {"127.0.0.1", "localhost", "::1", socket.gethostname()}
    try:
        hosts.add(socket.gethostbyname(socket.gethostname()))
    except OSError:
        pass
    return hosts


# -- the dataset -----------------------------------------------------------------------------------

class FilesPartition(Partition):
    """Chunks of files; reading happens in ``_compute``, on the worker."""

    def __init__(self, dset: FilesDataset, idx: int, chunks: list[Chunk],
                 host: str | None = None, payload: list[bytes] | None = None):
        super().__init__(dset, idx)
        self.chunks = chunks
        self.host = host          # location='workers': the host whose file system was listed
        self.payload = payload    # memory:// only: the bytes, read on the driver

    def _compute(self) -> Iterator[tuple[str, bytes]]:
        if self.payload is not None:
            yield from ((chunk[0], blob) for chunk, blob in zip(self.chunks, self.payload))
            return
        fs = self.dset.fs
        for name, offset, length, whole in self.chunks:
            yield name, fs.read(name, 0 if whole else offset, None if whole else length)

    def locality(self, workers):
        result = super().locality(workers)
        if self.host is not None:
            hosts, forbid_others = {self.host}, True
        elif self.payload is None and self.dset.fs.on_local_disk:
            hosts, forbid_others = _local_hosts(), False
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


class FileContentsMethods:
    """``decode``, ``lines``, ``decompress`` and ``parse_csv`` on ``(filename, bytes)`` pairs."""

    def decode(self, encoding: str = "utf-8", errors: str = "strict"):
        """``(filename, str)`` pairs.

        >>> ctx.files('docs/').decode().values().map(len).collect()   # doctest: +SKIP
        """
        return self.map_values(_Decode(encoding, errors))

    def lines(self, encoding: str | None = "utf-8", errors: str = "strict",
              keepends: bool = True):
        """The lines of all files in order (bytes when ``encoding`` is None).

        >>> ctx.files('logs/*.log').lines().filter(lambda l: 'ERROR' in l).count()  # doctest: +SKIP
        """
        stream = isinstance(self, FilesDataset) and keepends
        return self.map_partitions_with_part(_Lines(encoding, errors, keepends, stream))

    def decompress(self, compression: str = "gzip"):
        """``(filename, decompressed bytes)``; ``'gzip'`` or ``'lz4'`` (frame or block format).

        >>> ctx.files('out/*.gz').decompress().lines().count()   # doctest: +SKIP
        """
        if compression not in ("gzip", "lz4"):
            raise ValueError(f"Only gzip and lz4 compression is supported, not {compression!r}")
        return FileContentsDataset(self, _Decompress(compression))

    def parse_csv(self, sample: Any = None, **kwargs: Any):
        """A distributed pandas DataFrame of the CSV files (see ``Dataset.parse_csv``).

        >>> ctx.files('data/*.csv').parse_csv().collect()   # doctest: +SKIP
        """
        return self.decode().values().parse_csv(sample, **kwargs)


class FileContentsDataset(FileContentsMethods, MapPartitionsDataset):
    """``(filename, bytes)`` pairs derived from files (e.g. decompressed)."""


class FilesDataset(FileContentsMethods, Dataset):
    """``(filename, bytes)`` pairs, one per file (or per chunk of a split file).

    Made by ``ctx.files``; ``filenames``, ``filecount`` and ``size`` describe the listing.
    """

    def __init__(self, ctx, fs: FileSystem, plan: list[tuple[list[Chunk], str | None]],
                 location: str):
        super().__init__(ctx)
        self.fs = fs
        self.location = location
        self._plan = plan
        self._payloads: list[list[bytes]] | None = None
        if fs.process_local:
            self._payloads = [[fs.read(name, offset, length) for name, offset, length, _ in chunks]
                              for chunks, _ in plan]

    def _make_parts(self):
        return [FilesPartition(self, i, chunks, host,
                               self._payloads[i] if self._payloads is not None else None)
                for i, (chunks, host) in enumerate(self._plan)]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_plan", None)  # every partition carries its own chunks
        state.pop("_payloads", None)
        return state

    def _chunks(self) -> Iterator[Chunk]:
        for chunks, _ in self._plan:
            yield from chunks

    @property
    def filenames(self) -> list[str]:
        """The file name of every chunk, in partition order."""
        return [chunk[0] for chunk in self._chunks()]

    @property
    def filecount(self) -> int:
        """The number of chunks (files, unless they are split)."""
        return sum(len(chunks) for chunks, _ in self._plan)

    @property
    def size(self) -> int:
        """The total number of bytes."""
        return sum(chunk[2] for chunk in self._chunks())


# -- partition functions ---------------------------------------------------------------------------

class _Decode:
    def __init__(self, encoding: str, errors: str):
        self.encoding, self.errors = encoding, errors

    def __call__(self, blob: bytes) -> str:
        return blob.decode(self.encoding, self.errors)


class _Decompress:
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


class _Lines:
    def __init__(self, encoding: str | None, errors: str, keepends: bool, stream: bool):
        self.encoding, self.errors = encoding, errors
        self.keepends, self.stream = keepends, stream

    def __call__(self, part, data):
        source = part.src
        if (self.stream and isinstance(source, FilesPartition) and source.payload is None
                and not source.dset.cached):
            # read whole files line by line instead of holding them in memory
            return self._stream(source)
        return self._split(data)

    def _split(self, data):
        for _, blob in data:
            text = blob.decode(self.encoding, self.errors) if self.encoding else blob
            yield from text.splitlines(self.keepends)

    def _stream(self, source: FilesPartition):
        fs = source.dset.fs
        for name, offset, length, whole in source.chunks:
            if not whole:
                yield from self._split([(name, fs.read(name, offset, length))])
                continue
            with fs.open(name, "rb") as raw:
                if self.encoding is None:
                    yield from raw
                else:
                    text = io.TextIOWrapper(raw, encoding=self.encoding, errors=self.errors,
                                            newline="")
                    yield from text


# -- ctx.files -------------------------------------------------------------------------------------

def _check_psize(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


class FilesContextMixin:
    def files(self, root: str | Iterable[str], recursive: bool = True,
              dfilter: Callable[[str], bool] | None = None,
              ffilter: Callable[[str], bool] | None = None, psize_bytes: int | None = None,
              psize_files: int | None = None, split: bool | bytes | str = False,
              location: str = "driver", *, storage_options: dict | None = None) -> FilesDataset:
        """A dataset of ``(filename, contents as bytes)``, one per file (or chunk), read on the
        workers.

        ``root`` is a file, a directory (scanned, ``recursive``ly, descending into directories
        ``dfilter`` accepts), a glob pattern, or a list of file names; ``ffilter`` picks files.
        URLs (``file://``, ``memory://``, ``s3://`` ...) are read with fsspec
        (``storage_options`` go to the file system). Partitions hold at most ``psize_bytes`` bytes
        and ``psize_files`` files (16 MiB and 10,000 when neither is given); ``split=True`` cuts
        files anywhere, a ``bytes``/``str`` separator cuts just after separators.
        ``location='workers'`` lists the root on one worker per host instead of on the driver.

        >>> ctx.files('/var/log/*.log').lines().count()                    # doctest: +SKIP
        >>> ctx.files('data/', ffilter=lambda f: f.endswith('.csv')).filecount  # doctest: +SKIP
        """
        self._check_running()
        _check_psize("psize_bytes", psize_bytes)
        _check_psize("psize_files", psize_files)
        check_callable(dfilter, "dfilter", optional=True)
        check_callable(ffilter, "ffilter", optional=True)
        if location not in LOCATIONS:
            raise ValueError(f"location must be one of {LOCATIONS}, not {location!r}")
        if isinstance(split, str):
            if not split:
                raise ValueError("the split separator must not be empty")
            split = split.encode()
        elif isinstance(split, (bytes, bytearray)):
            if not split:
                raise ValueError("the split separator must not be empty")
            split = bytes(split)
        elif not isinstance(split, bool):
            raise TypeError(f"split must be a bool, bytes or str, not {type(split).__name__}")
        if split is not False and psize_bytes is None:
            raise ValueError("split needs psize_bytes")
        if psize_bytes is None and psize_files is None:
            psize_bytes, psize_files = DEFAULT_PSIZE_BYTES, DEFAULT_PSIZE_FILES
        if isinstance(root, (bytes, os.PathLike)):
            root = os.fsdecode(root)
        if isinstance(root, str):
            fs = FileSystem.for_path(root, storage_options)
        else:
            if not isinstance(root, Iterable):
                raise TypeError(f"files takes a path, a glob pattern or a list of file names, "
                                f"not {type(root).__name__}")
            root = [os.fsdecode(r) if isinstance(r, (bytes, os.PathLike)) else r for r in root]
            if not root:
                raise ValueError("files needs at least one file name")
            fs = FileSystem.for_path(root[0] if isinstance(root[0], str) else "",
                                     storage_options)
        args = (root, recursive, dfilter, ffilter, psize_bytes, psize_files, split)
        if location == "driver":
            if isinstance(split, bytes) and not fs.process_local:
                # finding separators means reading the files: a worker does that
                parts = self._plan_on_a_worker(fs, args)
            else:
                parts = list_and_plan(fs, *args)
            plan = [(chunks, None) for chunks in _halve_until(parts, self.default_pcount)]
        else:
            plan = self._plan_on_workers(fs, args)
        return FilesDataset(self, fs, plan, location)

    def _plan_on_a_worker(self, fs: FileSystem, args: tuple) -> list[list[Chunk]]:
        """List and cut on one worker that sees the driver's files (the driver when none)."""
        self.await_workers()
        workers = self.workers
        if fs.on_local_disk:
            local = _local_hosts()
            workers = [w for w in workers if w.host in local]
        if not workers:
            return list_and_plan(fs, *args)
        future = self.client.submit(list_and_plan, fs, *args,
                                    workers=[w.address for w in workers],
                                    allow_other_workers=False, pure=False,
                                    key=f"bndl-files-plan-{os.urandom(4).hex()}")
        return future.result()

    def _plan_on_workers(self, fs: FileSystem, args: tuple) -> list[tuple[list[Chunk], str]]:
        if not isinstance(args[0], str):
            raise ValueError("location='workers' needs a str root")
        if fs.process_local:
            raise ValueError("memory:// file systems live in one process; use location='driver'")
        self.await_workers()
        hosts: dict[str, Any] = {}
        for worker in self.workers:
            hosts.setdefault(worker.host, worker)
        futures = {host: self.client.submit(list_and_plan, fs, *args, workers=[host],
                                            allow_other_workers=False, pure=False,
                                            key=f"bndl-files-list-{host}-{os.urandom(4).hex()}")
                   for host in hosts}
        per_host = {host: future.result() for host, future in futures.items()}
        plan = []
        for i in range(max((len(p) for p in per_host.values()), default=0)):
            for host, parts in per_host.items():
                if i < len(parts):
                    plan.append((parts[i], host))
        return plan
