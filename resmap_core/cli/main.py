"""The ``resmap`` console command: one sub-command per module in ``resmap_core.cli.commands``.

Each command module defines ``register(subparsers)`` which adds its parser and sets
``func`` (a callable taking the parsed namespace and returning an exit status). Bad input
(:class:`InputError`) becomes one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import NoReturn

from resmap_core import __version__
from resmap_core.cli import commands
from resmap_core.errors import InputError


class OneLineParser(argparse.ArgumentParser):
    """argparse with usage errors on one line (exit 2), pointing at ``--help`` for the usage."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see PROG --help)`` to stderr and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered (in name order)."""
    parser = OneLineParser(
        prog="resmap",
        description="Local resolution of cryo-EM maps (ResMap-H2), FSC and windowed FSC.",
    )
    parser.add_argument("--version", action="version", version=f"resmap_core {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


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
