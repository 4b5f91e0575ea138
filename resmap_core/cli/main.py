"""The ``resmap`` console command: the sub-commands of :data:`COMMANDS`, each imported on demand.

:data:`COMMANDS` lists every sub-command with the module under ``resmap_core.cli.commands``
that implements it and its one-line help, so ``resmap --help`` is printed without importing
any command module. A command's module is imported only when the command is chosen (or its
``--help`` asked); it defines ``register(subparsers)``, which adds its parser(s) and sets
``func`` (a callable taking the parsed namespace and returning an exit status). Command
modules import NumPy, Matplotlib and the like inside their run functions, so that building a
parser stays instant. Bad input (:class:`InputError`) becomes one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from resmap_core import __version__
from resmap_core.errors import InputError

_COMMANDS_PACKAGE = "resmap_core.cli.commands"


@dataclass(frozen=True)
class Command:
    """A sub-command: its name, the module (in ``resmap_core.cli.commands``) that registers it,
    and the one-line help that ``resmap --help`` lists (the same text the module gives)."""

    name: str
    module: str
    help: str


#: Every sub-command, in the order ``resmap --help`` lists them.
COMMANDS: tuple[Command, ...] = (
    Command("fetch", "fetch", "download an EMDB entry (half maps, map, header, FSC)"),
    Command("locate", "fetch", "check local maps (readable, same grid) and hash them"),
    Command("fsc", "fsc", "gold-standard FSC between two half maps"),
    Command("local", "local", "local resolution (ResMap-H2) of a map or of two half maps"),
    Command(
        "report",
        "report",
        "HTML report of one dataset (+ Mol* viewer, ChimeraX scripts, summary.json)",
    ),
    Command("report-index", "report", "index page of all dataset reports of a run"),
    Command("prepare", "stages", "workflow stage 1: prepare maps (mask, whitening)"),
    Command("wavelengths", "stages", "workflow stage 2: the wavelength grid (JSON)"),
    Command("pass", "stages", "workflow stage 3: the statistic at one wavelength"),
    Command(
        "scan-status", "stages", "workflow: whether the passes so far decide every voxel (JSON)"
    ),
    Command("fdr", "stages", "workflow stage 4: FDR over all passes -> local map"),
    Command("wfsc", "wfsc", "windowed (local) FSC resolution map between two half maps"),
    Command("atoms", "atoms", "local resolution at a fitted model: per atom, residue and chain"),
    Command("locfilt", "locfilt", "filter a map by its local resolution (+ optional B-factor)"),
)
_BY_NAME = {command.name: command for command in COMMANDS}


class OneLineParser(argparse.ArgumentParser):
    """argparse with usage errors on one line (exit 2), pointing at ``--help`` for the usage."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see PROG --help)`` to stderr and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class LazySubParsers(argparse._SubParsersAction):
    """Sub-parsers that start as placeholders (name and help only) and are replaced by the
    parsers their module registers when the command is chosen."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded_modules: set[str] = set()

    def add_placeholder(self, command: Command) -> None:
        """List ``command`` (for ``--help`` and the choices) without importing its module."""
        self.add_parser(command.name, help=command.help, add_help=False)

    def load(self, name: str) -> argparse.ArgumentParser:
        """The real parser of command ``name``, importing and registering its module once."""
        module_name = _BY_NAME[name].module
        if module_name not in self._loaded_modules:
            module = importlib.import_module(f"{_COMMANDS_PACKAGE}.{module_name}")
            # The module registers into a scratch action (same program prefix and parser
            # class), so the placeholders' entries in the help listing stay as they are.
            scratch = argparse._SubParsersAction(
                option_strings=[], prog=self._prog_prefix, parser_class=self._parser_class
            )
            module.register(scratch)
            for registered, parser in scratch._name_parser_map.items():
                if registered in self._name_parser_map:
                    self._name_parser_map[registered] = parser
            self._loaded_modules.add(module_name)
        return self._name_parser_map[name]

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        """Load the chosen command's parser, then let argparse parse its arguments with it."""
        assert isinstance(values, list)  # nargs=PARSER: [command name, *its arguments]
        self.load(values[0])
        super().__call__(parser, namespace, values, option_string)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; every sub-command is listed, none of their modules imported."""
    parser = OneLineParser(
        prog="resmap",
        description="Local resolution of cryo-EM maps (ResMap-H2), FSC and windowed FSC.",
    )
    parser.add_argument("--version", action="version", version=f"resmap_core {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, action=LazySubParsers
    )
    assert isinstance(sub, LazySubParsers)
    for command in COMMANDS:
        sub.add_placeholder(command)
    return parser


def command_parser(name: str) -> argparse.ArgumentParser:
    """The complete parser of sub-command ``name`` (imports its module), e.g. to read defaults."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, LazySubParsers))
    return sub.load(name)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``resmap`` command; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"resmap {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"resmap {args.command}: interrupted; no output was written.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
