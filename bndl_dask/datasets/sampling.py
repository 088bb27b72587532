"""Sampling."""

from __future__ import annotations


class SamplingMixin:
    pass
