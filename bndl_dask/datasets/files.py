"""``ctx.files``: datasets of file contents, read on the workers.

The driver (or, with ``location='workers'``, one worker per host) only *lists* files and their
sizes and cuts them into chunks (``bndl_dask.util.file_plan``; cutting at separators needs to read
the files: a worker that sees the driver's files does that); a partition carries ``(file name,
offset, length)`` triples and the worker that computes it opens and reads the files itself
(``file_pieces``). Plain paths use the local file system; paths with a protocol (``file://``,
``memory://``, ``s3://`` ...) go through fsspec.

``memory://`` is fsspec's in-process file system: worker processes cannot see the driver's, so
for it (alone) the driver reads the files and ships them inside the partitions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from bndl_dask.datasets.core import check_callable
from bndl_dask.datasets.dataset import Dataset
from bndl_dask.datasets.file_pieces import Decode, Decompress, FilesPartition, Lines
from bndl_dask.datasets.narrow import MapPartitionsDataset
from bndl_dask.util.file_plan import Chunk, cut_for_lines, halve_until, list_and_plan
from bndl_dask.util.filesystem import FileSystem, local_hosts
from bndl_dask.util.text_chunks import is_line_splittable

DEFAULT_PSIZE_BYTES = 16 * 1024 * 1024
DEFAULT_PSIZE_FILES = 10_000
LOCATIONS = ("driver", "workers")


class FileContentsMethods:
    """``decode``, ``lines``, ``decompress`` and ``parse_csv`` on ``(filename, bytes)`` pairs."""

    def decode(self, encoding: str = "utf-8",
               errors: str = "strict") -> Dataset[tuple[str, str]]:
        """``(filename, str)`` pairs. Chunks cut at arbitrary bytes (``split=True``) hold the
        text of the lines that start in them, so no character is cut.

        A byte that is not valid in ``encoding`` raises ``FileDecodeError`` (a
        ``UnicodeDecodeError``) naming the file and the byte's offset in it.

        >>> import pathlib, tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> _ = pathlib.Path(tmp.name, 'a.txt').write_text('héllo\\n')
        >>> ctx.files(tmp.name).decode().values().collect()
        ['héllo\\n']
        >>> tmp.cleanup()
        """
        return self.map_partitions_with_part(Decode(encoding, errors, self._cut_mid_line(True)))

    def lines(self, encoding: str | None = "utf-8", errors: str = "strict",
              keepends: bool = True) -> Dataset[Any]:
        """The lines of all files in order (bytes when ``encoding`` is None), as iterating over
        ``open(path, newline='')`` gives them: ending at ``\\n``, ``\\r\\n`` or ``\\r``.

        Large files are read in parallel: with the default ``split`` of ``ctx.files``, files
        larger than ``psize_bytes`` (or than an even share of the cluster's task slots, but at
        least 1 MiB) are cut at line boundaries, so a 200 MB file gives at least one partition
        per task slot. Wherever files are cut, every line is read whole, once, by one partition.

        >>> import pathlib, tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> _ = pathlib.Path(tmp.name, 'app.log').write_text('ok\\nERROR disk full\\nok\\n')
        >>> ctx.files(tmp.name + '/*.log').lines().filter(lambda l: 'ERROR' in l).collect()
        ['ERROR disk full\\n']
        >>> tmp.cleanup()
        """
        source = self._for_lines(encoding)
        aligned = source._cut_mid_line(False)
        return source.map_partitions_with_part(Lines(encoding, errors, keepends, aligned))

    def decompress(self, compression: str = "gzip") -> FileContentsDataset:
        """``(filename, decompressed bytes)``; ``'gzip'`` or ``'lz4'`` (frame or block format).

        >>> import gzip, pathlib, tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> _ = pathlib.Path(tmp.name, 'a.gz').write_bytes(gzip.compress(b'1\\n2\\n'))
        >>> ctx.files(tmp.name + '/*.gz').decompress().lines().collect()
        ['1\\n', '2\\n']
        >>> tmp.cleanup()
        """
        if compression not in ("gzip", "lz4"):
            raise ValueError(f"Only gzip and lz4 compression is supported, not {compression!r}")
        return FileContentsDataset(self, Decompress(compression))

    def parse_csv(self, sample: Any = None, **kwargs: Any) -> Dataset[Any]:
        """A distributed pandas DataFrame of the CSV files; ``kwargs`` go to
        ``pandas.read_csv``.

        Each file's header is read from its start only; pieces of a file cut at line boundaries
        (large files are, as by ``lines``) are parsed with that file's column names. Column
        dtypes are inferred per piece as pandas does per block; pass ``dtype=`` to fix them.
        A quoted field with a line break in a cut file raises an error: read such files whole
        with ``ctx.files(path, split=False)``.

        >>> import pathlib, tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> _ = pathlib.Path(tmp.name, 'a.csv').write_text('a,b\\n1,2\\n3,4\\n')
        >>> ctx.files(tmp.name + '/*.csv').parse_csv().collect()
           a  b
        0  1  2
        1  3  4
        >>> tmp.cleanup()
        """
        from bndl_dask.datasets.file_csv import parse_csv_pieces

        return parse_csv_pieces(self, sample, kwargs)

    # which files to read, and how (overridden by RemoteFilesDataset)

    def _for_lines(self, encoding: str | None, csv_kwargs: dict | None = None):
        return self

    def _cut_mid_line(self, bytes_only: bool) -> bool:
        return False

    def _has_cut_chunks(self) -> bool:
        return False


class FileContentsDataset(FileContentsMethods, MapPartitionsDataset, Dataset[tuple[str, bytes]]):
    """``(filename, bytes)`` pairs derived from files (e.g. decompressed)."""


class RemoteFilesDataset(FileContentsMethods, Dataset[tuple[str, bytes]]):
    """``(filename, bytes)`` pairs, one per file (or per chunk of a split file).

    Made by ``ctx.files``; ``filenames``, ``filecount`` and ``size`` describe the listing. The
    workers read the files (the driver only lists them), hence BNDL's name for it:

    >>> import bndl_dask
    >>> ctx.files(bndl_dask.__file__)
    <RemoteFilesDataset ...>
    """

    def __init__(self, ctx, fs: FileSystem, plan: list[tuple[list[Chunk], str | None]],
                 location: str, split: bool | bytes | None = False,
                 psize_bytes: int = DEFAULT_PSIZE_BYTES):
        super().__init__(ctx)
        self.fs = fs
        self.location = location
        self.split = split
        self.psize_bytes = psize_bytes
        self._plan = plan
        self._payloads: list[dict[str, bytes]] | None = None
        if fs.process_local:
            self._payloads = [{chunk[0]: fs.read(chunk[0]) for chunk in chunks}
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

    def _has_cut_chunks(self) -> bool:
        return any(not chunk[3] for chunk in self._chunks())

    def _cut_mid_line(self, bytes_only: bool) -> bool:
        """Whether some chunk ends inside a line (``bytes_only``: possibly inside a character),
        so that text must be read line-aligned."""
        if self.split is True:
            cut_anywhere = True
        elif isinstance(self.split, bytes) and not bytes_only:
            cut_anywhere = not self.split.endswith(b"\n")
        else:
            return False
        return cut_anywhere and self._has_cut_chunks()

    def _for_lines(self, encoding: str | None,
                   csv_kwargs: dict | None = None) -> RemoteFilesDataset:
        """This dataset, or (default ``split``, uncached, large files) one that reads them in
        line-aligned pieces."""
        if self.split is not None or self.cached or not is_line_splittable(encoding):
            return self
        if csv_kwargs is not None:
            from bndl_dask.datasets.file_csv import splittable_csv

            if not splittable_csv(csv_kwargs):
                return self
        plan = cut_for_lines(self._plan, self.psize_bytes, self.ctx.default_pcount)
        if plan is None:
            return self
        return RemoteFilesDataset(self.ctx, self.fs, plan, self.location, True, self.psize_bytes)

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


#: the name this class had before it took BNDL's
FilesDataset = RemoteFilesDataset


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
              psize_files: int | None = None, split: bool | bytes | str | None = None,
              location: str = "driver", *,
              storage_options: dict | None = None) -> RemoteFilesDataset:
        """A dataset of ``(filename, contents as bytes)``, one per file (or chunk), read on the
        workers.

        ``root`` is a file, a directory (scanned, ``recursive``ly, descending into directories
        ``dfilter`` accepts), a glob pattern, or a list of file names; ``ffilter`` picks files.
        URLs (``file://``, ``memory://``, ``s3://`` ...) are read with fsspec
        (``storage_options`` go to the file system).

        Partitions hold at most ``psize_bytes`` bytes and ``psize_files`` files. When neither is
        given both take their defaults, ``bndl.compute.files.psize_bytes`` (16 MiB) and
        ``bndl.compute.files.psize_files`` (10,000), also when splitting; giving only
        ``psize_files`` limits the file count alone (and cannot be combined with ``split``). A
        file larger than ``psize_bytes`` that is not split is a partition of its own.

        ``split``: ``None`` (the default) keeps files whole as ``(filename, bytes)`` pairs, while
        ``lines()`` and ``parse_csv()`` read large files in parallel, cut at line boundaries;
        ``False`` never cuts files; ``True`` cuts them at any byte so partitions hold exactly
        ``psize_bytes``; a ``bytes``/``str`` separator cuts just after separators. Text read
        from cut files (``lines``, ``decode``, ``parse_csv``) is the same as from whole files.
        ``location='workers'`` lists the root on one worker per host instead of on the driver.

        >>> import pathlib, tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> for name in ('a.csv', 'b.csv', 'c.txt'):
        ...     _ = pathlib.Path(tmp.name, name).write_text('x\\ny\\n')
        >>> ctx.files(tmp.name + '/*.csv').lines().count()
        4
        >>> ctx.files(tmp.name, ffilter=lambda f: f.endswith('.txt')).filecount
        1
        >>> tmp.cleanup()
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
        elif split is not None and not isinstance(split, bool):
            raise TypeError(f"split must be None, a bool, bytes or str, "
                            f"not {type(split).__name__}")
        if psize_bytes is None and psize_files is None:
            psize_bytes = int(self.conf.get("bndl.compute.files.psize_bytes")
                              or DEFAULT_PSIZE_BYTES)
            psize_files = int(self.conf.get("bndl.compute.files.psize_files")
                              or DEFAULT_PSIZE_FILES)
        if split not in (None, False) and psize_bytes is None:
            raise ValueError("split needs psize_bytes (only psize_files was given)")
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
        args = (root, recursive, dfilter, ffilter, psize_bytes, psize_files, split or False)
        if location == "driver":
            if isinstance(split, bytes) and not fs.process_local:
                # finding separators means reading the files: a worker does that
                parts = self._plan_on_a_worker(fs, args)
            else:
                parts = list_and_plan(fs, *args)
            plan = [(chunks, None) for chunks in halve_until(parts, self.default_pcount)]
        else:
            plan = self._plan_on_workers(fs, args)
        return RemoteFilesDataset(self, fs, plan, location, split,
                            psize_bytes if psize_bytes is not None else DEFAULT_PSIZE_BYTES)

    def _plan_on_a_worker(self, fs: FileSystem, args: tuple) -> list[list[Chunk]]:
        """List and cut on one worker that sees the driver's files (the driver when none)."""
        self.await_workers()
        workers = self.workers
        if fs.on_local_disk:
            local = local_hosts()
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
