"""Checks of arguments that every layer takes: one wording for one mistake."""

from __future__ import annotations

from typing import Any


def positive_int(name: str, value: Any) -> int | None:
    """``value`` when it is a whole number of at least 1 (or None, meaning "the default").

    A bool or a non-int raises TypeError, a number below 1 ValueError; both name the argument.

    >>> positive_int('pcount', 4), positive_int('pcount', None)
    (4, None)
    >>> positive_int('pcount', 0)
    Traceback (most recent call last):
    ValueError: pcount must be at least 1, got 0
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def add_note(exc: BaseException, note: str) -> None:
    """``exc.add_note(note)`` where Python has it (3.11+), else the same ``__notes__`` list
    (bndl's error messages include the notes either way).

    >>> error = ValueError('bad')
    >>> add_note(error, 'in partition 3')
    >>> error.__notes__
    ['in partition 3']
    """
    notes = getattr(exc, "__notes__", None)
    if notes is None:
        try:
            exc.__notes__ = notes = []  # type: ignore[attr-defined]
        except AttributeError:  # an exception type that takes no attributes
            return
    notes.append(note)
