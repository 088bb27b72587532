"""Adding bndl's defaults to the command line of one of dask's click commands."""

from __future__ import annotations

import click
from click.core import ParameterSource

LOCALHOST = "127.0.0.1"


class ParsedArgs:
    """Which options a user gave on a dask command line, parsed leniently by the command itself
    (so every dask option keeps its meaning); bndl's defaults are added only for the rest."""

    def __init__(self, command: click.Command, prog: str, args: list[str]):
        self.args = list(args)
        self.params: dict = {}
        self._given: set[str] = set()
        try:
            context = command.make_context(prog, list(args), resilient_parsing=True)
        except click.ClickException:
            return  # dask reports the mistake itself when the command runs
        self.params = dict(context.params)
        for name in self.params:
            if context.get_parameter_source(name) in (ParameterSource.COMMANDLINE,
                                                      ParameterSource.ENVIRONMENT):
                self._given.add(name)

    def given(self, *names: str) -> bool:
        """Whether the user set any of these parameters (click's parameter names)."""
        return any(name in self._given for name in names)

    def add(self, option: str, value: str) -> None:
        # Options go in front: dask's commands take trailing arguments for --preload modules.
        self.args[:0] = [option, value]

    def wants_help(self) -> bool:
        return any(a in ("--help", "--version") for a in self.args)
