"""Shuffles and key-wise operations (issue 5)."""

from __future__ import annotations


class ShuffleMixin:
    pass
