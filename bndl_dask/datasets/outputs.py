"""Writing partitions to files (collect_as_* / save_as_*).

Every partition becomes one file named ``<partition index><ext>`` (plus ``.gz`` / ``.lz4`` when
compressed). ``collect_as_*`` writes on the driver: the workers encode (and compress) each
partition into one blob of bytes, the driver writes the blobs. ``save_as_*`` writes on the
workers, to their own file systems. Directories with a protocol (``s3://bucket/out``) are
written with fsspec.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import pickle
from collections.abc import Iterable
from typing import IO, Any

from bndl_dask.datasets.core import DatasetCore, T

COMPRESSION_EXTENSIONS = {None: "", "gzip": ".gz", "lz4": ".lz4"}


def _check_compression(compression: str | None) -> str:
    if compression not in COMPRESSION_EXTENSIONS:
        raise ValueError("Only gzip and lz4 compression is supported")
    return COMPRESSION_EXTENSIONS[compression]


def _has_protocol(path: str) -> bool:
    import fsspec.core

    protocol, _ = fsspec.core.split_protocol(path)
    return protocol is not None and len(protocol) > 1


def _directory(directory: str | os.PathLike | None) -> str:
    if directory is None:
        return os.getcwd()
    directory = os.fsdecode(directory)
    if _has_protocol(directory):
        return directory
    return os.path.abspath(os.path.expanduser(directory))


def _makedirs(directory: str) -> None:
    if _has_protocol(directory):
        import fsspec.core

        fs, path = fsspec.core.url_to_fs(directory)
        fs.makedirs(path, exist_ok=True)
    else:
        os.makedirs(directory, exist_ok=True)


def _join(directory: str, name: str) -> str:
    if _has_protocol(directory):
        return directory.rstrip("/") + "/" + name
    return os.path.join(directory, name)


@contextlib.contextmanager
def _open_for_write(path: str, compression: str | None):
    """A binary file to write to, compressing the whole stream when asked."""
    with contextlib.ExitStack() as stack:
        if _has_protocol(path):
            import fsspec

            raw = stack.enter_context(fsspec.open(path, "wb"))
        else:
            raw = stack.enter_context(open(path, "wb"))
        if compression == "gzip":
            yield stack.enter_context(gzip.GzipFile(fileobj=raw, mode="wb"))
        elif compression == "lz4":
            import lz4.frame

            yield stack.enter_context(lz4.frame.LZ4FrameFile(raw, mode="wb"))
        else:
            yield raw


def write_partition(file: IO[bytes], fmt: str, mode: str, data: Iterable | None) -> None:
    """Write one partition in ``fmt`` ('pickles', 'json' or 'files') to a binary file."""
    data = data if data is not None else ()
    if fmt == "pickles":
        pickle.dump(list(data), file, protocol=pickle.HIGHEST_PROTOCOL)
    elif fmt == "json":
        for element in data:
            file.write((json.dumps(element) + os.linesep).encode())
    elif mode == "b":
        for element in data:
            file.write(element)
    else:
        for element in data:
            if not isinstance(element, str):
                raise TypeError(f"mode 't' needs str elements, got {type(element).__name__}")
            file.write(element.encode())


class _Encode:
    """Worker side of collect_as_*: the partition as one (compressed) blob."""

    def __init__(self, fmt: str, mode: str, compression: str | None):
        self.fmt, self.mode, self.compression = fmt, mode, compression

    def __call__(self, idx: int, data: Iterable) -> bytes:
        buffer = io.BytesIO()
        if self.compression is None:
            write_partition(buffer, self.fmt, self.mode, data)
            return buffer.getvalue()
        with _compressing(buffer, self.compression) as file:
            write_partition(file, self.fmt, self.mode, data)
        return buffer.getvalue()


@contextlib.contextmanager
def _compressing(buffer: IO[bytes], compression: str):
    if compression == "gzip":
        with gzip.GzipFile(fileobj=buffer, mode="wb") as file:
            yield file
    else:
        import lz4.frame

        with lz4.frame.LZ4FrameFile(buffer, mode="wb") as file:
            yield file


class _Save:
    """Worker side of save_as_*: write the partition to ``<directory>/<idx><ext>``."""

    def __init__(self, directory: str, ext: str, fmt: str, mode: str, compression: str | None):
        self.directory, self.ext = directory, ext
        self.fmt, self.mode, self.compression = fmt, mode, compression

    def __call__(self, idx: int, data: Iterable) -> str:
        _makedirs(self.directory)
        path = _join(self.directory, f"{idx}{self.ext}")
        with _open_for_write(path, self.compression) as file:
            write_partition(file, self.fmt, self.mode, data)
        return path


class OutputMixin(DatasetCore[T]):
    """``collect_as_*`` (written by the driver) and ``save_as_*`` (by the workers)."""

    def _output(self, fmt: str, on_driver: bool, directory: Any, ext: str, mode: str,
                compression: str | None) -> list[str]:
        if mode not in ("t", "b"):
            raise ValueError(f"mode must be 't' (text) or 'b' (binary), not {mode!r}")
        ext = ext + _check_compression(compression)
        directory = _directory(directory)
        name = ("collect_as_" if on_driver else "save_as_") + fmt
        paths: dict[int, str] = {}
        if on_driver:
            _makedirs(directory)
            for idx, blob in self._run(ordered=False, name=name,
                                       transform=_Encode(fmt, mode, compression)):
                path = _join(directory, f"{idx}{ext}")
                with _open_for_write(path, None) as file:
                    file.write(blob)
                paths[idx] = path
        else:
            save = _Save(directory, ext, fmt, mode, compression)
            for idx, path in self._run(ordered=False, name=name, transform=save):
                paths[idx] = path
        return [paths[idx] for idx in sorted(paths)]

    def collect_as_pickles(self, directory: str | None = None,
                           compression: str | None = None) -> list[str]:
        """Write each partition as one pickled list to ``<directory>/<index>.p`` on the driver.

        Action: runs a job; the partitions' data are collected to the driver, which writes
        the files.

        Returns the paths written. ``compression``: None, 'gzip' (``.p.gz``) or 'lz4'
        (``.p.lz4``, lz4 frame format).

        >>> import os, tempfile
        >>> with tempfile.TemporaryDirectory() as out:
        ...     paths = ctx.range(10, pcount=2).collect_as_pickles(out)
        ...     [os.path.relpath(path, out) for path in paths]
        ['0.p', '1.p']
        """
        return self._output("pickles", True, directory, ".p", "b", compression)

    def save_as_pickles(self, directory: str | None = None,
                        compression: str | None = None) -> list[str]:
        """Like ``collect_as_pickles``, but the workers write to their own file systems.

        Action: runs a job; the workers write the files, only file names reach the driver.

        >>> import gzip, pickle, tempfile
        >>> with tempfile.TemporaryDirectory() as out:
        ...     paths = ctx.range(10, pcount=2).save_as_pickles(out, compression='gzip')
        ...     with gzip.open(paths[1]) as file:
        ...         pickle.load(file)
        [5, 6, 7, 8, 9]
        """
        return self._output("pickles", False, directory, ".p", "b", compression)

    def collect_as_json(self, directory: str | None = None,
                        compression: str | None = None) -> list[str]:
        """Write each partition to ``<directory>/<index>.json`` on the driver: one JSON document
        per element, each followed by ``os.linesep``.

        Action: runs a job; the partitions' data are collected to the driver, which writes
        the files.

        >>> import json, tempfile
        >>> with tempfile.TemporaryDirectory() as out:
        ...     paths = ctx.range(4, pcount=2).map(lambda i: {'i': i}).collect_as_json(out)
        ...     with open(paths[1]) as file:
        ...         [json.loads(line) for line in file]
        [{'i': 2}, {'i': 3}]
        """
        return self._output("json", True, directory, ".json", "b", compression)

    def save_as_json(self, directory: str | None = None,
                     compression: str | None = None) -> list[str]:
        """Like ``collect_as_json``, but the workers write to their own file systems.

        Action: runs a job; the workers write the files, only file names reach the driver.

        >>> import os, tempfile
        >>> with tempfile.TemporaryDirectory() as out:
        ...     paths = ctx.range(4, pcount=2).save_as_json(out)
        ...     [os.path.relpath(path, out) for path in paths]
        ['0.json', '1.json']
        """
        return self._output("json", False, directory, ".json", "b", compression)

    def collect_as_files(self, directory: str | None = None, ext: str = "", mode: str = "b",
                         compression: str | None = None) -> list[str]:
        """Write each partition's elements back to back to ``<directory>/<index><ext>`` on the
        driver; elements are bytes (``mode='b'``) or str (``mode='t'``, written as UTF-8).

        Action: runs a job; the partitions' data are collected to the driver, which writes
        the files.

        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as out:
        ...     lines = ctx.collection(['a\\n', 'b\\n', 'c\\n'], pcount=2)
        ...     paths = lines.collect_as_files(out, '.txt', 't')
        ...     [pathlib.Path(path).read_text() for path in paths]
        ['a\\nb\\n', 'c\\n']
        """
        return self._output("files", True, directory, ext, mode, compression)

    def save_as_files(self, directory: str | None = None, ext: str = "", mode: str = "b",
                      compression: str | None = None) -> list[str]:
        """Like ``collect_as_files``, but the workers write to their own file systems.

        Action: runs a job; the workers write the files, only file names reach the driver.

        >>> import os, tempfile
        >>> with tempfile.TemporaryDirectory() as out:
        ...     paths = ctx.collection([b'ab', b'c']).save_as_files(out, '.bin')
        ...     sorted(os.listdir(out)) == [os.path.basename(path) for path in paths]
        True
        """
        return self._output("files", False, directory, ext, mode, compression)
