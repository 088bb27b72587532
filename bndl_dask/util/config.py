"""bndl settings stored in ``dask.config`` under the ``bndl`` namespace.

BNDL's dotted keys (``bndl.execute.attempts``) are dask.config keys as they are, so a dask YAML
file, ``DASK_BNDL__EXECUTE__ATTEMPTS=2`` and ``BNDL_CONF="bndl.execute.attempts=2"`` all set the
same value. HEAD-revision names (``bndl.compute.attempts``) are accepted as aliases.
"""

from __future__ import annotations

import ast
import os
import shlex
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import dask.config
import yaml

_DEFAULTS_FILE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "bndl.yaml")

_MISSING = object()

#: HEAD-revision key -> the seed-revision key that stores the value.
ALIASES = {
    "bndl.compute.attempts": "bndl.execute.attempts",
    "bndl.compute.concurrency": "bndl.execute.concurrency",
    "bndl.compute.executor_count": "bndl.compute.worker_count",
}


#: canonical key -> its HEAD-revision names
_NAMES_OF = {canonical: [alias for alias, c in ALIASES.items() if c == canonical]
             for canonical in set(ALIASES.values())}


def canonical_key(key: str) -> str:
    """The name a setting is stored under: ``'bndl.compute.attempts'`` ->
    ``'bndl.execute.attempts'``; other keys stay as they are."""
    if not isinstance(key, str) or not key.startswith("bndl."):
        raise KeyError(f"bndl settings are named 'bndl.<section>.<name>', not {key!r}")
    return ALIASES.get(key, key)


def _lookup(key: str, default: Any = _MISSING) -> Any:
    """Read a canonical key from ``dask.config``, honouring a HEAD name set there.

    Alias names have no defaults, so a value under one (from a YAML file, a ``DASK_BNDL__...``
    variable or ``dask.config.set``) was set by the user and wins over the default.
    """
    for alias in _NAMES_OF.get(key, ()):
        value = dask.config.get(alias, _MISSING)
        if value is not _MISSING:
            return value
    return dask.config.get(key, default)


def _parse_value(text: str) -> Any:
    """Read a BNDL_CONF value: Python literals where they parse, else the plain string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        lowered = text.lower()
        if lowered in ("true", "yes", "on"):
            return True
        if lowered in ("false", "no", "off"):
            return False
        return text


def parse_bndl_conf(text: str) -> dict[str, Any]:
    """Parse ``"key=value key2=value2"`` (shell-split) into a dict of canonical keys."""
    settings = {}
    for item in shlex.split(text):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"BNDL_CONF items are key=value, got {item!r}")
        settings[canonical_key(key.strip())] = _parse_value(value.strip())
    return settings


def _load_defaults() -> None:
    with open(_DEFAULTS_FILE) as f:
        defaults = yaml.safe_load(f)
    dask.config.update_defaults(defaults)
    env = os.environ.get("BNDL_CONF")
    if env:
        dask.config.set(parse_bndl_conf(env))


_load_defaults()


#: settings that must be whole numbers of at least this much
_POSITIVE_INTS = {
    "bndl.execute.attempts": 1,
    "bndl.execute.concurrency": 1,
}


def check_value(key: str, value: Any) -> Any:
    """``value`` for the canonical ``key``, checked where bndl knows what the key takes.

    A bad value raises ValueError naming the key, so a typo such as
    ``ctx.conf['bndl.execute.attempts'] = 0`` fails where it is made instead of deep inside
    the next job (a concurrency of 0 would even plan jobs without partitions).

    >>> check_value('bndl.execute.attempts', '3')
    3
    """
    minimum = _POSITIVE_INTS.get(key)
    if minimum is None:
        return value
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("+").isdigit():
        number = int(value)  # environment variables and BNDL_CONF give text
    if number is None or number < minimum:
        raise ValueError(
            f"setting {key!r} must be a whole number of at least {minimum}, got {value!r}; "
            f"fix it in ctx.conf, dask.config or BNDL_CONF")
    return number


def get(key: str, default: Any = _MISSING) -> Any:
    """The global value of a bndl setting (``dask.config``)."""
    key = canonical_key(key)
    value = _lookup(key, default)
    if value is _MISSING:
        raise KeyError(key)
    return value if value is default else check_value(key, value)


class Conf(MutableMapping):
    """A context's view of the bndl settings.

    Reads fall through to ``dask.config``; values assigned here belong to this context only, so
    two contexts (or a test that raises ``attempts``) do not change each other's settings.

    >>> conf = Conf()
    >>> conf['bndl.execute.attempts']
    1
    >>> conf['bndl.compute.attempts'] = 3   # HEAD name of the same setting
    >>> conf['bndl.execute.attempts']
    3
    """

    def __init__(self, overrides: Mapping[str, Any] | None = None):
        self._overrides: dict[str, Any] = {}
        for key, value in (overrides or {}).items():
            self[key] = value

    def __getitem__(self, key: str) -> Any:
        key = canonical_key(key)
        if key in self._overrides:
            return self._overrides[key]
        value = _lookup(key)
        if value is _MISSING:
            raise KeyError(f"no bndl setting {key!r}; see bndl_dask/bndl.yaml for the names")
        return check_value(key, value)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __setitem__(self, key: str, value: Any) -> None:
        key = canonical_key(key)
        self._overrides[key] = check_value(key, value)

    def __delitem__(self, key: str) -> None:
        del self._overrides[canonical_key(key)]

    def _flat_keys(self) -> list[str]:
        keys: list[str] = []

        def walk(prefix: str, node: Any) -> None:
            if isinstance(node, Mapping):
                for name, child in node.items():
                    walk(f"{prefix}.{name}", child)
            else:
                keys.append(prefix)

        walk("bndl", dask.config.get("bndl", {}))
        return sorted((set(keys) - set(ALIASES)) | set(self._overrides))

    def __iter__(self) -> Iterator[str]:
        return iter(self._flat_keys())

    def __len__(self) -> int:
        return len(self._flat_keys())

    def __repr__(self) -> str:
        return f"<Conf {dict(self._overrides)!r} over dask.config>"

    def __reduce__(self):
        return (Conf, (dict(self._overrides),))
