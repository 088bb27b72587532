"""What planned tasks run on the workers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from bndl_dask.worker.runtime import current_worker, task_context

SHUFFLE_INPUT_PREFIX = "shuffle:"


class Computed:
    """A partition task's result: its value plus the cached partitions it stored, and where."""

    __slots__ = ("value", "cached", "address")

    def __init__(self, value: Any, cached: list, address: str):
        self.value = value
        self.cached = cached
        self.address = address

    def __reduce__(self):
        return (Computed, (self.value, self.cached, self.address))


def materialize(data: Iterable | None) -> Any:
    """A partition's data as something sized: ranges, lists, tuples and arrays stay as they are."""
    if data is None:
        return []
    if isinstance(data, (list, tuple, range)):
        return data
    if hasattr(data, "__len__") and hasattr(data, "__getitem__") and not isinstance(
            data, (str, bytes, bytearray, dict)):
        return data
    return list(data)


def _install_inputs(inputs: dict[str, Any]) -> dict:
    context = task_context()
    context["shuffle_inputs"] = {name[len(SHUFFLE_INPUT_PREFIX):]: value
                                 for name, value in inputs.items()}
    context["cached"] = []
    return context


def compute_partition(part, transform: Callable | None, **inputs: Any) -> Computed:
    """Compute ``part`` (pulling it through its fused chain) and apply the action's step."""
    context = _install_inputs(inputs)
    data = part.compute()
    value = transform(part.idx, data) if transform is not None else materialize(data)
    return Computed(value, context["cached"], current_worker().address)


def write_partition(part, writer: Callable, **inputs: Any) -> Computed:
    """Compute ``part`` and hand its data to ``writer`` (a shuffle's map side)."""
    context = _install_inputs(inputs)
    manifest = writer(part.idx, part.compute())
    return Computed(manifest, context["cached"], current_worker().address)


def shuffle_inputs() -> dict[str, Any]:
    """Inside a task: shuffle id -> the barrier's list of writer manifests."""
    return task_context().get("shuffle_inputs", {})


def note_cached(dset_id: str, idx: int) -> None:
    """Inside a task: record that this worker now caches partition ``idx`` of ``dset_id``."""
    task_context().setdefault("cached", []).append((dset_id, idx))
