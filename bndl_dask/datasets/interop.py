"""Interop with dask futures, bags and dataframes."""

from __future__ import annotations


class InteropMixin:
    pass


class InteropContextMixin:
    pass
