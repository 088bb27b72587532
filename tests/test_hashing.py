"""portable_hash: the per-type fast paths agree with the general definition, and key-wise
operations over odd keys give the results of a plain dict loop."""

from __future__ import annotations

import enum
import math
import operator
from collections import defaultdict

from bndl_dask.util.hashing import _general_hash, portable_hash


class _Word(str):
    pass


class _Count(int):
    pass


class _Color(enum.IntEnum):
    RED = 1


_NAN = float("nan")

ODD_KEYS = [
    None, 0, 1, 1.0, True, False, 0.0, -0.0, -1, -2, 2**61 - 1, 2**61, 2**64 + 5, -(2**70),
    1.5, math.inf, -math.inf, _NAN, 1 + 2j, "", "a", "spam", "ünïcødé", "日本語", "🐍 snake",
    "lone \ud800 surrogate", _Word("spam"), _Count(7), _Color.RED, b"", b"spam", bytearray(b"ab"),
    (), (1,), (1, "a"), (1.0, "a"), (3, 4), (-1, 2**70), (0, False), (True, 5), (_Count(2), 3),
    (None, 2**70, b"x"), ((1, 2), ("a", (None,))), [1, "a"],
    frozenset({1, "a"}), ("lone \udfff", -1),
]


def test_fast_paths_agree_with_the_general_hash():
    for key in ODD_KEYS:
        assert portable_hash(key) == _general_hash(key), key


def test_equal_keys_hash_alike():
    assert len({portable_hash(k) for k in (1, 1.0, True, _Count(1), _Color.RED)}) == 1
    assert portable_hash((1, "a")) == portable_hash((1.0, "a")) == portable_hash((True, "a"))
    assert portable_hash(_Word("spam")) == portable_hash("spam")
    assert portable_hash(0) == portable_hash(-0.0) == portable_hash(False) == 0


def test_str_hash_is_the_utf8_digest():
    # the fixed digest, not Python's salted hash: other processes compute the same
    assert portable_hash("spam") == 0x044F_01B2_43DA_FF3D
    assert portable_hash("lone \ud800") == _general_hash("lone \ud800")


def _odd_pairs():
    keys = [k for k in ODD_KEYS if k is not _NAN and not isinstance(k, (list, bytearray))]
    return [(k, i) for i in range(5) for k in keys]


def _dict_sum(pairs):
    acc: dict = {}
    for k, v in pairs:
        acc[k] = acc[k] + v if k in acc else v
    return acc


def test_keywise_operations_over_odd_keys(ctx):
    pairs = _odd_pairs()
    dset = ctx.collection(pairs, pcount=3)
    # 1, 1.0, True and friends are one key (as in a dict), wherever each of them was written
    assert dset.reduce_by_key(operator.add, pcount=4).collect_as_map() == _dict_sum(pairs)
    groups = defaultdict(list)
    for k, v in pairs:
        groups[k].append(v)
    got = dset.group_by_key(pcount=5).map_values(sorted).collect_as_map()
    assert got == {k: sorted(vs) for k, vs in groups.items()}
    names = ctx.collection([(k, repr(k)) for k in groups], pcount=2)
    joined = dset.join(names, pcount=3).map_values(sorted).collect_as_map()
    assert joined == {k: sorted((v, repr(k)) for v in vs) for k, vs in groups.items()}
