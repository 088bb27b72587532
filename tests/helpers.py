"""Small helpers shared by the execute-layer tests."""

from __future__ import annotations

import os
import uuid


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def first_time(path: str) -> bool:
    """True for the first caller only, across all worker processes of this machine."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False
