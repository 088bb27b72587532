"""bndl settings stored in ``dask.config`` under the ``bndl`` namespace.

BNDL's dotted keys (``bndl.execute.attempts``) are dask.config keys as they are, so a dask YAML
file, ``DASK_BNDL__EXECUTE__ATTEMPTS=2`` and ``BNDL_CONF="bndl.execute.attempts=2"`` all set the
same value. HEAD-revision names (``bndl.compute.attempts``) are accepted as aliases.
"""

from __future__ import annotations

import ast
import difflib
import os
import shlex
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import dask.config
import yaml

_DEFAULTS_FILE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "bndl.yaml")

#: HEAD-revision key -> the seed-revision key that stores the value.
ALIASES = {
    "bndl.compute.attempts": "bndl.execute.attempts",
    "bndl.compute.concurrency": "bndl.execute.concurrency",
    "bndl.compute.executor_count": "bndl.compute.worker_count",
}

_MISSING = object()

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


def _read_defaults() -> dict:
    with open(_DEFAULTS_FILE) as f:
        return yaml.safe_load(f)


def _load_defaults() -> None:
    dask.config.update_defaults(_read_defaults())
    env = os.environ.get("BNDL_CONF")
    if env:
        dask.config.set(parse_bndl_conf(env))


_load_defaults()


# -- known keys -----------------------------------------------------------------------------------

def _flatten(prefix: str, node: Any) -> Iterator[str]:
    """The dotted names of a settings tree's leaves: ``{'a': {'b': 1}}`` -> ``'bndl.a.b'``."""
    if isinstance(node, Mapping) and node:
        for name, child in node.items():
            yield from _flatten(f"{prefix}.{name}", child)
    else:
        yield prefix


#: every setting bndl reads: the leaves of bndl.yaml, and the HEAD-revision names of some
KNOWN_KEYS = frozenset(_flatten("bndl", _read_defaults()["bndl"])) | frozenset(ALIASES)


class UnknownSettingError(KeyError, ValueError):
    """A ``bndl.*`` key that bndl does not read (most often a typo)."""

    def __str__(self) -> str:
        return str(self.args[0])  # KeyError would show the message quoted


def _closest_key(key: str) -> str | None:
    close = difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1, cutoff=0.6)
    return close[0] if close else None


def _unknown_setting(key: str, source: str) -> UnknownSettingError:
    close = _closest_key(key)
    hint = f"; did you mean {close!r}?" if close else "."
    return UnknownSettingError(
        f"unknown bndl setting {key!r} in {source}{hint} "
        f"The settings are listed in bndl_dask/bndl.yaml and docs/configuration.rst")


def check_key(key: str, source: str = "ctx.conf") -> str:
    """The canonical name of a setting the user gives, refusing keys bndl does not know.

    >>> check_key('bndl.compute.attempts')
    'bndl.execute.attempts'
    >>> try:
    ...     check_key('bndl.execute.atempts')
    ... except KeyError as error:
    ...     print(str(error)[:80])
    unknown bndl setting 'bndl.execute.atempts' in ctx.conf; did you mean 'bndl.exec
    """
    canonical = canonical_key(key)
    if key.replace("-", "_") not in KNOWN_KEYS:  # dask treats - and _ in names alike
        raise _unknown_setting(key, source)
    return canonical


def _environment_settings() -> Iterator[tuple[str, str]]:
    for name in sorted(os.environ):
        if name.startswith("DASK_BNDL__"):
            key = "bndl." + name[len("DASK_BNDL__"):].lower().replace("__", ".")
            yield key, f"the environment variable {name}"
    text = os.environ.get("BNDL_CONF")
    if text:
        for key in parse_bndl_conf(text):
            yield key, "the BNDL_CONF environment variable"


def _yaml_settings() -> Iterator[tuple[str, str]]:
    for path, settings in dask.config.collect_yaml(dask.config.paths, return_paths=True):
        if isinstance(settings, Mapping) and "bndl" in settings:
            for key in _flatten("bndl", settings["bndl"]):
                yield key, f"the dask config file {path}"


def check_settings() -> None:
    """Refuse unknown ``bndl.*`` keys wherever they were set, naming the key and its source.

    Called when a context starts, before a cluster does: a typo such as
    ``DASK_BNDL__EXECUTE__ATEMPTS=3`` would otherwise be ignored without a word. The sources
    are checked one by one so the error says where the key came from; whatever is left
    (``dask.config.set``) is checked last.
    """
    for source in (_environment_settings(), _yaml_settings()):
        for key, where in source:
            check_key(key, where)
    check_dask_config()


def check_dask_config() -> None:
    """Refuse unknown ``bndl.*`` keys in dask's config as it is now; jobs call this too, as
    ``with dask.config.set(...)`` comes after the context started."""
    for key in _flatten("bndl", dask.config.get("bndl", {})):
        check_key(key, "dask.config (dask.config.set or a dask config file)")


#: settings that must be whole numbers of at least this much
_POSITIVE_INTS = {
    "bndl.execute.attempts": 1,
    "bndl.execute.concurrency": 1,
    "bndl.execute.partitions_per_task": 1,
    "bndl.dashboard.max_jobs": 1,
    "bndl.dashboard.max_tasks": 1,
}
#: of those, settings for which null means "bndl decides" (concurrency: the workers' threads)
_NULLABLE = {"bndl.execute.concurrency", "bndl.execute.partitions_per_task"}


def check_value(key: str, value: Any) -> Any:
    """``value`` for the canonical ``key``, checked where bndl knows what the key takes.

    A bad value raises ValueError naming the key, so a typo such as
    ``ctx.conf['bndl.execute.attempts'] = 0`` fails where it is made instead of deep inside
    the next job (a concurrency of 0 would even plan jobs without partitions).

    >>> check_value('bndl.execute.attempts', '3')
    3
    """
    minimum = _POSITIVE_INTS.get(key)
    if minimum is None or (value is None and key in _NULLABLE):
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
            close = _closest_key(key)
            hint = f" (did you mean {close!r}?)" if close else ""
            raise KeyError(f"no bndl setting {key!r}{hint}; see bndl_dask/bndl.yaml for the names")
        return check_value(key, value)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __setitem__(self, key: str, value: Any) -> None:
        key = check_key(key)
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
