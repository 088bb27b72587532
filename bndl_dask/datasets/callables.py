"""Turning BNDL's function arguments into callables: bound extra arguments and key specs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from operator import itemgetter
from typing import Any


def bind(func: Callable, args: tuple, kwargs: dict) -> Callable:
    """``func`` with extra arguments bound before the element (BNDL's convention).

    >>> bind(divmod, (17,), {})(5)
    (3, 2)
    """
    if not args and not kwargs:
        return func
    return functools.partial(func, *args, **kwargs)


def getter(key: Any) -> Callable:
    """A callable from BNDL's ``key`` convention: callables as is, a list of indices gives a
    tuple of items, any other value is an item index.

    >>> getter(1)('ab'), getter([0, 2])('abc'), getter([1])('ab')
    ('b', ('a', 'c'), ('b',))
    """
    if callable(key):
        return key
    if isinstance(key, list):
        if len(key) >= 2:
            return itemgetter(*key)  # returns a tuple for two or more indices
        indices = tuple(key)
        return lambda element: tuple(element[i] for i in indices)
    return itemgetter(key)
