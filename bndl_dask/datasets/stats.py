"""Statistics, histograms and tree aggregation."""

from __future__ import annotations


class StatsMixin:
    pass
