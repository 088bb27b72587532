"""Pickling task specs with what the tasks of a job share pickled once.

The tasks of a stage all carry the same lineage (a dataset's functions and settings) and differ
only in their partition. Pickling each task's spec on its own walks that lineage again per
task; ``SharedPickles`` pickles each shared object once per job and puts its bytes into every
spec that needs it (copying bytes costs next to nothing next to pickling functions).
"""

from __future__ import annotations

import io
from typing import Any

import cloudpickle


def load_shared(blob: bytes) -> Any:
    """Rebuild an object pickled once by ``SharedPickles`` (runs on the workers)."""
    return cloudpickle.loads(blob)


class SharedPickles:
    """Pickles values for the workers; objects marked with ``share(obj)`` are pickled once
    and their bytes reused in every pickle that contains them.

    >>> shared = SharedPickles()
    >>> common = range(5)
    >>> shared.share(common)
    >>> specs = [shared.dumps((common, i)) for i in range(3)]
    >>> [cloudpickle.loads(spec) for spec in specs]
    [(range(0, 5), 0), (range(0, 5), 1), (range(0, 5), 2)]
    >>> len(shared.blobs)  # the range was pickled once
    1
    """

    def __init__(self) -> None:
        #: id of a shared object -> the object (kept alive, so that the id stays its own)
        self.shared: dict[int, Any] = {}
        #: id of a shared object -> its bytes, once pickled
        self.blobs: dict[int, bytes] = {}

    def share(self, obj: Any) -> None:
        self.shared[id(obj)] = obj

    def blob(self, obj: Any) -> bytes:
        blob = self.blobs.get(id(obj))
        if blob is None:
            blob = self.blobs[id(obj)] = cloudpickle.dumps(obj, protocol=5)
        return blob

    def dumps(self, value: Any) -> bytes:
        if not self.shared:
            return cloudpickle.dumps(value, protocol=5)
        buffer = io.BytesIO()
        _SharingPickler(buffer, self).dump(value)
        return buffer.getvalue()


class _SharingPickler(cloudpickle.Pickler):
    def __init__(self, file: io.BytesIO, shared: SharedPickles):
        super().__init__(file, protocol=5)
        self._shared = shared

    def reducer_override(self, obj: Any) -> Any:
        if id(obj) in self._shared.shared:
            return load_shared, (self._shared.blob(obj),)
        return super().reducer_override(obj)
