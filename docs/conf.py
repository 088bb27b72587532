"""Sphinx configuration for the bndl_dask documentation (theme: the default alabaster)."""

project = "bndl_dask"
author = "bndl_dask contributors"
copyright = "2026, bndl_dask contributors"
release = "0.1.0"

extensions: list[str] = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
# the code examples are plain doctest blocks and code-blocks: tests/test_docs.py runs them
highlight_language = "python3"
