"""Accumulators (BNDL §5.1; §6 test_accumulator)."""

from __future__ import annotations

import math
import sys


def test_all_operators(ctx):
    accs = [ctx.accumulator(v) for v in (0, 0, 1, 1, 1, sys.maxsize, 15, 0)]
    add, sub, mul, div, lshift, rshift, and_, or_ = accs

    def update(i):
        nonlocal add, sub, mul, div, lshift, rshift, and_, or_
        add += i
        sub -= i
        mul *= i + 1
        div /= i + 1
        lshift <<= i
        rshift >>= i
        and_ &= i
        or_ |= i
        return i

    assert ctx.collection(range(10)).map(update).count() == 10
    assert add.value == 45
    assert sub.value == -45
    assert mul.value == math.factorial(10)
    assert math.isclose(div.value, 1 / math.factorial(10))
    assert lshift.value == 1 << 45
    assert rshift.value == sys.maxsize >> 45
    assert and_.value == 0
    assert or_.value == 15


def test_cancelling_pairs(ctx):
    plain, add_sub, mul_div = ctx.accumulator(0), ctx.accumulator(0), ctx.accumulator(1)
    shifts = ctx.accumulator(sys.maxsize // 2)

    def update(i):
        nonlocal plain, add_sub, mul_div, shifts
        plain += i
        add_sub += i
        add_sub -= i
        mul_div *= i + 1
        mul_div /= i + 1
        shifts <<= i
        shifts >>= i

    assert ctx.range(10).map(update).execute() is None
    assert plain.value == 45 and add_sub.value == 0
    assert math.isclose(mul_div.value, 1) and shifts.value == sys.maxsize // 2


def test_update_by_method_name(ctx):
    seen = ctx.accumulator(set())

    def note(i):
        seen.update("add", i)
        return i

    ctx.range(10).map(note).execute()
    assert seen.value == set(range(10))


def test_only_computed_datasets_update(ctx):
    acc = ctx.accumulator(0)

    def adds_i(i):
        nonlocal acc
        acc += i
        return i

    mapped = ctx.range(10).map(adds_i)
    assert ctx.range(10).sum() == 45 and acc.value == 0
    assert mapped.sum() == 45 and acc.value == 45
    assert mapped.sum() == 45 and acc.value == 90
    mapped.take(0)
    assert acc.value == 90


def test_failed_attempts_never_count(make_ctx, tmp_path):
    """A task that adds and then fails once is retried; only the successful attempt counts."""
    ctx = make_ctx(worker_count=1)  # a retry may run on the same worker when it is the only one
    ctx.conf["bndl.execute.attempts"] = 2
    acc = ctx.accumulator(0)
    failed = ctx.accumulator(0)
    marker = tmp_path / "failed-once"

    def flaky(part):
        nonlocal acc, failed
        data = list(part)
        acc += sum(data)
        if 3 in data and not marker.exists():
            marker.touch()  # the next attempt succeeds
            failed += 1
            raise RuntimeError("first attempt fails")
        return data

    assert sorted(ctx.range(10, pcount=2).map_partitions(flaky).collect()) == list(range(10))
    assert marker.exists()
    assert acc.value == 45
    assert failed.value == 0
