"""Writing partitions to files (collect_as_* / save_as_*)."""

from __future__ import annotations


class OutputMixin:
    pass
