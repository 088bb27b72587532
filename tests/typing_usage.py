"""What a type checker infers through a pipeline: tests/test_typing.py runs mypy over this file.

It is only type-checked, never run (pytest collects ``test_*.py`` files, not this one).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from typing_extensions import assert_type

from bndl_dask import ComputeContext, Dataset


def pipeline(ctx: ComputeContext) -> None:
    numbers = ctx.range(10)
    assert_type(numbers, Dataset[int])
    assert_type(ctx.collection(["a", "b"]), Dataset[str])
    assert_type(ctx.collection({"a": 1}), Dataset[tuple[str, int]])
    assert_type(ctx.files("/tmp").first(), tuple[str, bytes])

    strings = numbers.map(str)
    assert_type(strings, Dataset[str])
    assert_type(numbers.map(lambda i: i * 0.5), Dataset[float])
    assert_type(numbers.filter(lambda i: i % 2 == 0), Dataset[int])
    assert_type(strings.flatmap(list), Dataset[str])
    assert_type(numbers.map_partitions(lambda part: [sum(part)]), Dataset[int])
    assert_type(numbers.glom(), Dataset[Iterable[int]])  # a partition's data, whole
    assert_type(numbers.union(numbers), Dataset[int])
    assert_type(numbers.zip(strings), Dataset[tuple[int, str]])
    assert_type(numbers.distinct().sort(), Dataset[int])

    pairs = numbers.key_by(str)
    assert_type(pairs, Dataset[tuple[str, int]])
    assert_type(pairs.keys(), Dataset[str])
    assert_type(pairs.values(), Dataset[int])
    assert_type(pairs.map_values(float), Dataset[tuple[str, float]])
    assert_type(pairs.map_keys(len), Dataset[tuple[int, int]])
    assert_type(pairs.reduce_by_key(max), Dataset[tuple[str, int]])
    assert_type(pairs.group_by_key(), Dataset[tuple[str, list[int]]])
    assert_type(numbers.group_by(str), Dataset[tuple[str, list[int]]])
    names = ctx.collection([("1", b"one")])
    assert_type(pairs.join(names), Dataset[tuple[str, list[tuple[int, bytes]]]])
    assert_type(pairs.left_outer_join(names),
                Dataset[tuple[str, list[tuple[int, bytes | None]]]])
    assert_type(pairs.aggregate_by_key(sum), Dataset[tuple[str, int]])
    assert_type(pairs.count_by_key(), Counter[str])
    assert_type(pairs.collect_as_map(), dict[Any, Any] | list[dict[Any, Any]])

    assert_type(numbers.collect(), list[Any])
    assert_type(numbers.first(), int)
    assert_type(numbers.take(3), list[int])
    assert_type(numbers.reduce(max), int)
    assert_type(numbers.fold(0, max), int)
    assert_type(numbers.aggregate(sum), int)
    assert_type(numbers.count(), int)
    assert_type(numbers.mean(), float)
    assert_type(numbers.nlargest(2), list[int])
    assert_type(numbers.count_by_value(), Counter[int])
    assert_type(numbers.collect_as_set(), set[int])
    assert_type(numbers.random_split([0.5, 0.5]), list[Dataset[int]])
    assert_type(numbers.cache(), Dataset[int])
    assert_type(numbers.set_name("n"), Dataset[int])


def wrong_types(ctx: ComputeContext) -> None:
    # Mistakes mypy reports: each ignore names the error, and mypy runs with
    # warn_unused_ignores, so an ignore that stops being needed fails tests/test_typing.py.
    ctx.range(3).reduce(str.__add__)  # type: ignore[arg-type]
    ctx.range(3).keys()  # type: ignore[misc]
    ctx.range(3).map(str.upper)  # type: ignore[arg-type]
    ctx.range(3).key_by(str).join(ctx.range(3).key_by(int))  # type: ignore[arg-type]
