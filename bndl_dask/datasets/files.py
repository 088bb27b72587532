"""``ctx.files``: datasets of file contents, read on the workers."""

from __future__ import annotations


class FilesContextMixin:
    pass
