"""Sphinx directives for bndl_dask's reference, generated from the code so it cannot drift.

``.. method-group:: Dataset`` with one method name per line
    a summary table of the methods, then each method documented (autodoc); a method belongs to
    the group whose page lists it. Without names: every public member the class defines in
    bndl_dask.
``.. inherited-members:: Executor``
    the public names a class inherits from another package, by the class they come from.
``.. bndl-settings::``
    every key of ``bndl_dask/bndl.yaml`` with its default and the comment that explains it, as
    ``setting`` objects (cross-referenced with ``:setting:`bndl.execute.attempts```).
``.. cli-help:: module``
    the ``--help`` text of a command's ``main`` (``bndl_dask.cli.shell`` ...), as printed.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.nodes import nested_parse_with_titles

ROOT = Path(__file__).resolve().parents[2]
YAML = ROOT / "bndl_dask" / "bndl.yaml"
#: the hand-written table of docs/configuration.rst: a key's meaning when bndl.yaml has none
CONFIGURATION = ROOT / "docs" / "configuration.rst"
KEY_LINE = re.compile(
    r"^(?P<indent> *)(?P<key>[A-Za-z_][\w-]*):(?P<value>[^#]*)(?:#\s?(?P<doc>.*))?$")
COMMENT_LINE = re.compile(r"^ +#\s?(?P<doc>.*)$")


def settings_from_yaml(text: str) -> list[tuple[str, str, str]]:
    """``(dotted key, default, meaning)`` for every leaf key of bndl.yaml, in file order; the
    meaning is the key's trailing comment and the comment lines aligned under it."""
    settings: list[list[str]] = []
    path: list[tuple[int, str]] = []
    last_leaf_col: int | None = None
    for line in text.splitlines():
        match = KEY_LINE.match(line)
        if match:
            indent = len(match["indent"])
            path = [(level, key) for level, key in path if level < indent]
            path.append((indent, match["key"]))
            value = match["value"].strip()
            if value:  # a leaf: sections have no value
                settings.append([".".join(key for _, key in path), value,
                                 (match["doc"] or "").strip()])
                last_leaf_col = line.index("#") if match["doc"] is not None else None
            else:
                last_leaf_col = None
            continue
        comment = COMMENT_LINE.match(line)
        if comment and settings and last_leaf_col is not None \
                and line.index("#") == last_leaf_col:
            settings[-1][2] = f"{settings[-1][2]} {comment['doc'].strip()}".strip()
        elif not comment:
            last_leaf_col = None
    return [(key, default, doc) for key, default, doc in settings]


def meanings_from_table(rst: str) -> dict[str, str]:
    """Key -> meaning from the simple table of configuration.rst (continuation lines joined)."""
    meanings: dict[str, str] = {}
    key = None
    column = None
    for line in rst.splitlines():
        row = re.match(r"^``(bndl\.[\w.]+)``\s+\S+\s+(.*)$", line)
        if row:
            key, column = row[1], line.index(row[2])
            meanings[key] = row[2].strip()
        elif key and column and line[:column].strip() == "" and line.strip() \
                and not line.startswith("="):
            meanings[key] += " " + line.strip()
        else:
            key = None
    return meanings


class MethodGroup(Directive):
    """A summary table and the autodoc entries of the listed methods of a class."""

    required_arguments = 1
    has_content = True

    def run(self) -> list[nodes.Node]:
        cls = self.arguments[0]
        owner = getattr(importlib.import_module("bndl_dask"), cls)
        names = [line.strip() for line in self.content if line.strip()] or _own_members(owner)
        lines = [".. autosummary::", ""]
        lines += [f"   {cls}.{name}" for name in names]
        lines.append("")
        for name in names:
            member = inspect.getattr_static(owner, name)
            kind = "autoproperty" if isinstance(member, property) else \
                "automethod" if callable(member) else "autoattribute"
            lines += [f".. {kind}:: {cls}.{name}", ""]
        return _parse(self, lines)


class BndlSettings(Directive):
    """Every bndl.yaml key as a ``setting`` object with its default and meaning."""

    def run(self) -> list[nodes.Node]:
        table = meanings_from_table(CONFIGURATION.read_text(encoding="utf-8"))
        lines: list[str] = []
        for key, default, doc in settings_from_yaml(YAML.read_text(encoding="utf-8")):
            meaning = _rst_text(doc) or table.get(key)
            if not meaning:
                raise self.error(f"{key} has no comment in bndl.yaml and no row in "
                                 "docs/configuration.rst: say what it means in either")
            lines += [f".. setting:: {key}", "", f"   {meaning}", "",
                      f"   Default: ``{default}``.", ""]
        return _parse(self, lines)


class CliHelp(Directive):
    """The ``--help`` text of a command whose ``main(argv)`` lives in the named module."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        module = importlib.import_module(self.arguments[0])
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            module.main(["--help"])
        text = out.getvalue().rstrip()
        if not text:
            raise self.error(f"{self.arguments[0]}.main(['--help']) printed nothing")
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


class InheritedMembers(Directive):
    """The public names a ``bndl_dask`` class inherits from a class of another package, listed
    with the class they come from (their documentation is that package's)."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        cls = getattr(importlib.import_module("bndl_dask"), self.arguments[0])
        by_origin: dict[str, list[str]] = {}
        for name in sorted(n for n in dir(cls) if not n.startswith("_")):
            origin = next(c for c in cls.__mro__ if name in vars(c))
            if not origin.__module__.startswith("bndl_dask"):
                by_origin.setdefault(f"{origin.__module__}.{origin.__qualname__}", []).append(name)
        lines: list[str] = []
        for origin, names in by_origin.items():
            lines += [f"From ``{origin}``: " + ", ".join(f"``{n}``" for n in names) + ".", ""]
        return _parse(self, lines)


def _own_members(cls: type) -> list[str]:
    """The public members a class defines in bndl_dask (not those it inherits from dask)."""
    return [name for name in dir(cls) if not name.startswith("_")
            and next(c for c in cls.__mro__ if name in vars(c)).__module__.startswith("bndl_dask")]


def _rst_text(doc: str) -> str:
    """A yaml comment as rst text: `x` (markdown code) becomes ``x``."""
    return re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", doc)


def _parse(directive: Directive, lines: list[str]) -> list[nodes.Node]:
    container = nodes.section()
    source = directive.state_machine.get_source_and_line(directive.lineno)[0]
    nested_parse_with_titles(directive.state, StringList(lines, source=source), container)
    return container.children


def setup(app: Sphinx) -> dict:
    app.add_object_type("setting", "setting", "pair: %s; setting")
    app.add_directive("method-group", MethodGroup)
    app.add_directive("bndl-settings", BndlSettings)
    app.add_directive("cli-help", CliHelp)
    app.add_directive("inherited-members", InheritedMembers)
    return {"version": "1", "parallel_read_safe": True}
