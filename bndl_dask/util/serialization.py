"""Turning partitions into one block of bytes and back.

Every partition, bucket or cached value that leaves a process travels as one block: dask moves a
bare list element by element, which is orders of magnitude slower for many small records.
"""

from __future__ import annotations

import gzip
import json
import marshal
import pickle
from typing import Any

import cloudpickle
import lz4.frame

SERIALIZATIONS = ("pickle", "marshal", "json", "text", "binary", "cloudpickle")
COMPRESSIONS = (None, "lz4", "gzip")


def dumps(data: Any, serialization: str = "pickle") -> bytes:
    if serialization == "pickle":
        return pickle.dumps(data, protocol=5)
    if serialization == "cloudpickle":
        return cloudpickle.dumps(data, protocol=5)
    if serialization == "marshal":
        return marshal.dumps(list(data) if not isinstance(data, (list, tuple)) else data)
    if serialization == "json":
        return json.dumps(list(data)).encode()
    if serialization == "text":
        return "\0".join(data).encode()
    if serialization == "binary":
        return b"".join(len(e).to_bytes(8, "little") + bytes(e) for e in data)
    raise ValueError(f"Unsupported serialization {serialization!r}; use one of {SERIALIZATIONS}")


def loads(blob: bytes, serialization: str = "pickle") -> Any:
    if serialization in ("pickle", "cloudpickle"):
        return pickle.loads(blob)
    if serialization == "marshal":
        return marshal.loads(blob)
    if serialization == "json":
        return json.loads(blob)
    if serialization == "text":
        return blob.decode().split("\0") if blob else []
    if serialization == "binary":
        out, pos, view = [], 0, memoryview(blob)
        while pos < len(blob):
            size = int.from_bytes(view[pos:pos + 8], "little")
            out.append(bytes(view[pos + 8:pos + 8 + size]))
            pos += 8 + size
        return out
    raise ValueError(f"Unsupported serialization {serialization!r}; use one of {SERIALIZATIONS}")


def compress(blob: bytes, compression: str | None) -> bytes:
    if compression is None:
        return blob
    if compression == "lz4":
        return lz4.frame.compress(blob)
    if compression == "gzip":
        return gzip.compress(blob, compresslevel=1)
    raise ValueError(f"Unsupported compression {compression!r}; use one of {COMPRESSIONS}")


def decompress(blob: bytes, compression: str | None) -> bytes:
    if compression is None:
        return blob
    if compression == "lz4":
        return lz4.frame.decompress(blob)
    if compression == "gzip":
        return gzip.decompress(blob)
    raise ValueError(f"Unsupported compression {compression!r}; use one of {COMPRESSIONS}")


class Block:
    """One partition's worth of Python objects, pickled as a single object.

    dask serializes a ``Block`` with one pickle call instead of one per element.
    """

    __slots__ = ("data",)

    def __init__(self, data: Any):
        self.data = data

    def __reduce__(self):
        return (Block, (self.data,))

    def __repr__(self) -> str:
        size = len(self.data) if hasattr(self.data, "__len__") else "?"
        return f"<Block of {size}>"
