"""The documentation is true: every example in docs/ runs, and the Sphinx build is clean.

``>>>`` examples run as doctests with the session's ``ctx``; ``$`` commands in console blocks
must name an installed program whose ``--help`` works.
"""

from __future__ import annotations

import doctest
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from docs_build import build_html

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p.name for p in DOCS.glob("*.rst"))
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def test_pages_present():
    assert {"index.rst", "getting_started.rst", "contexts.rst", "datasets.rst", "execute.rst",
            "futures.rst", "notebooks.rst", "configuration.rst", "profiling.rst"} <= set(PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_page_examples(page, ctx):
    text = (DOCS / page).read_text(encoding="utf-8")
    test = doctest.DocTestParser().get_doctest(text, {"ctx": ctx}, page, str(DOCS / page), 0)
    out: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    try:
        result = runner.run(test, out=out.append)
    finally:
        for key in ("bndl.progress", "bndl.execute.attempts"):  # keys the pages change
            try:
                del ctx.conf[key]
            except KeyError:
                pass
    assert result.failed == 0, "".join(out)
    commands = _console_commands(text)
    assert result.attempted or commands or page == "configuration.rst", f"{page} has no examples"


def _console_commands(text: str) -> list[list[str]]:
    commands = []
    for block in re.findall(r"\.\. code-block:: console\n\n((?:   .*\n|\n)+)", text):
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("$ "):
                commands.append(shlex.split(line[2:]))
    return commands


@pytest.mark.parametrize("page", PAGES)
def test_page_commands(page):
    for argv in _console_commands((DOCS / page).read_text(encoding="utf-8")):
        program = shutil.which(argv[0])
        assert program, f"{page}: {argv[0]} is not installed"
        done = subprocess.run([program, "--help"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{page}: {argv[0]} --help failed: {done.stderr[-2000:]}"


#: ``pip install ARGS`` in prose, a code span or a shell line (up to ``&&``, ``|``, ``;``, `)
PIP_INSTALL = re.compile(r"pip install ([^`\n&|;]+)")


def _install_commands() -> list[tuple[str, str]]:
    commands = []
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.rst"))]:
        for match in PIP_INSTALL.finditer(path.read_text(encoding="utf-8")):
            commands.append((path.name, match.group(1).strip()))
    return commands


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_install_commands_match_pyproject():
    """Every ``pip install`` in README and docs installs bndl_dask from the checkout (it is not
    on PyPI) with extras pyproject.toml defines; other packages (``bokeh``) are named as is."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = set(project.get("optional-dependencies", {}))
    commands = _install_commands()
    assert {"README.md", "getting_started.rst"} <= {where for where, _ in commands}
    for where, args in commands:
        targets = [arg for arg in shlex.split(args) if not arg.startswith("-")]
        assert targets, f"{where}: 'pip install {args}' installs nothing"
        for target in targets:
            local = re.fullmatch(r"\.(?:\[([^\]]*)\])?", target)
            if local:
                named = {extra.strip() for extra in (local.group(1) or "").split(",")} - {""}
                assert named <= extras, (
                    f"{where}: 'pip install {args}' names extras {sorted(named - extras)} "
                    f"that pyproject.toml does not define (it has {sorted(extras)})")
                continue
            name = re.split(r"[\[<>=!~;@ ]", target, maxsplit=1)[0]
            assert _normalized(name) != _normalized(project["name"]), (
                f"{where}: 'pip install {args}' asks PyPI for {project['name']}, which is "
                f"installed from a checkout: pip install -e '.[extra,...]'")
            assert not target.startswith(("/", "./", "..")), (
                f"{where}: 'pip install {args}' names a path other than the checkout ('.')")


@pytest.mark.timeout(600)  # autodoc builds the API reference too (~25 s CPU)
def test_sphinx_build_is_clean():
    pytest.importorskip("sphinx")
    done, html = build_html()  # shared with test_reference.py
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (html / "profiling.html").exists()
