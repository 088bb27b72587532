"""What planned tasks run on the workers."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from bndl_dask.util.checks import add_note
from bndl_dask.util.gc_pause import gc_paused
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
    with gc_paused():
        data = part.compute()
        value = transform(part.idx, data) if transform is not None else materialize(data)
        del data
    return Computed(value, context["cached"], current_worker().address)


def write_partition(part, writer: Callable, **inputs: Any) -> Computed:
    """Compute ``part`` and hand its data to ``writer`` (a shuffle's map side)."""
    context = _install_inputs(inputs)
    manifest = writer(part.idx, part.compute())
    return Computed(manifest, context["cached"], current_worker().address)


class Batch(list):
    """The values of a task that computed several partitions, one per partition, in order."""

    __slots__ = ()


def compute_partitions(parts: list, transform: Callable | None, **inputs: Any) -> Computed:
    """``compute_partition`` for several partitions in one task: their values as a ``Batch``."""
    context = _install_inputs(inputs)
    values = Batch()
    for part in _in_turn(parts):
        with _naming(part, parts), gc_paused():
            data = part.compute()
            values.append(transform(part.idx, data) if transform is not None
                          else materialize(data))
            del data
    return Computed(values, context["cached"], current_worker().address)


def write_partitions(parts: list, writer: Callable, **inputs: Any) -> Computed:
    """``write_partition`` for several map partitions in one task: a ``Batch`` of manifests.

    A writer that ``merges_partitions`` writes them as one map output, named by the first
    partition (fewer, larger blocks; a map-side combine spans them all); the planner batches
    only partitions the read side need not tell apart.
    """
    context = _install_inputs(inputs)
    if getattr(writer, "merges_partitions", False):
        current = [parts[0]]

        def each_data() -> Iterator:
            for part in _in_turn(parts):
                current[0] = part
                yield part.compute() or ()

        # the records go from each partition's iterator to the writer without a generator
        # frame per record in between; an error is named after the partition being read
        try:
            manifest = writer(parts[0].idx, itertools.chain.from_iterable(each_data()))
        except Exception as exc:
            _name(exc, current[0], parts)
            raise
        return Computed(Batch([manifest]), context["cached"], current_worker().address)
    manifests = Batch()
    for part in _in_turn(parts):
        with _naming(part, parts):
            manifests.append(writer(part.idx, part.compute()))
    return Computed(manifests, context["cached"], current_worker().address)


def start_fetches(part) -> None:
    """Start fetching the shuffle buckets ``part`` reads (the partitions in its narrow chain
    that can ``start_fetch``); not through a cached dataset, which may not need its input."""
    stack = [part]
    while stack:
        current = stack.pop()
        start = getattr(current, "start_fetch", None)
        if start is not None:
            start()
        elif current.dset._cache_options is None:
            stack.extend(current.source_partitions())


def _in_turn(parts: list) -> Iterator:
    """The partitions of a batch one by one, each next one's shuffle input already on its way
    while the current one computes."""
    for i, part in enumerate(parts):
        if i + 1 < len(parts):
            start_fetches(parts[i + 1])
        yield part


@contextmanager
def _naming(part, parts: list) -> Iterator[None]:
    """Say which partition of a batch an error came from (the task names the whole batch)."""
    try:
        yield
    except Exception as exc:
        _name(exc, part, parts)
        raise


def _name(exc: BaseException, part, parts: list) -> None:
    add_note(exc, f"in partition {part.idx} (this task computed partitions "
                  f"{parts[0].idx}-{parts[-1].idx})")


class UnbatchedBarrier:
    """A barrier's ``finish`` that sees one writer result per map partition, also where a
    task wrote several (a ``Batch`` of manifests), then applies ``finish`` (None: the list)."""

    __slots__ = ("finish",)

    def __init__(self, finish: Callable | None):
        self.finish = finish

    def __call__(self, *results: Any) -> Any:
        flat: list = []
        for result in results:
            if isinstance(result, Computed) and isinstance(result.value, Batch):
                flat.extend(result.value)
            else:
                flat.append(result)
        return flat if self.finish is None else self.finish(*flat)


def shuffle_inputs() -> dict[str, Any]:
    """Inside a task: shuffle id -> the barrier's list of writer manifests."""
    return task_context().get("shuffle_inputs", {})


def note_cached(dset_id: str, idx: int) -> None:
    """Inside a task: record that this worker now caches partition ``idx`` of ``dset_id``."""
    task_context().setdefault("cached", []).append((dset_id, idx))
