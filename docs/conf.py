"""Sphinx configuration for the bndl_dask documentation (theme: the default alabaster)."""

import sys
from pathlib import Path

project = "bndl_dask"
author = "bndl_dask contributors"
copyright = "2026, bndl_dask contributors"
release = "0.1.0"

# the reference's own directives (docs/_ext/bndl_reference.py) and the package from this tree
sys.path[:0] = [str(Path(__file__).parent / "_ext"), str(Path(__file__).parent.parent)]

extensions: list[str] = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "bndl_reference"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autosummary_generate = False
exclude_patterns = ["_build", "_ext"]
html_theme = "alabaster"
# the code examples are plain doctest blocks and code-blocks: tests/test_docs.py runs them
# ("default": python, and plain text without a warning where python does not parse)
highlight_language = "default"
