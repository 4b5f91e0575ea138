"""Argument helpers shared by the sub-commands."""

from __future__ import annotations

import argparse

from ..errors import InputError


def positive_float(text: str) -> float:
    """argparse type: a float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def add_common(parser: argparse.ArgumentParser) -> None:
    """Options every computing command takes: --voxel-size, --threads, --quiet."""
    parser.add_argument(
        "--voxel-size",
        type=positive_float,
        default=None,
        metavar="A",
        help="voxel size in Å, overriding the header (isotropic)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, metavar="N", help="threads for FFTs (default: all)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress messages on stderr")


def outside_value(text: str) -> float:
    """argparse type for --outside: 'nan', '0' or '100' (Å written outside the mask)."""
    table = {"nan": float("nan"), "0": 0.0, "100": 100.0}
    if text not in table:
        raise argparse.ArgumentTypeError("choose nan, 0 or 100")
    return table[text]


def add_outside_option(parser: argparse.ArgumentParser) -> None:
    """--outside: the value (Å) written outside the mask and for unresolved voxels."""
    parser.add_argument(
        "--outside",
        type=outside_value,
        default=100.0,
        metavar="nan|0|100",
        help="value written outside the mask and for unresolved voxels (100)",
    )


def require_suffix(path: str, suffixes: tuple[str, ...], what: str) -> None:
    """Refuse an output name whose suffix is not one of ``suffixes``."""
    if not path.lower().endswith(suffixes):
        raise InputError(f"{path}: {what} must end with one of {', '.join(suffixes)}.")
