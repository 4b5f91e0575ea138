"""Argument helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

from resmap_core import defaults
from resmap_core.errors import InputError

#: Upper limit of --threads: the FFT library takes the count as a C int and fails with a
#: traceback beyond 2**31; no machine has more than a few thousand hardware threads.
MAX_THREADS = 4096

#: Accepted --voxel-size, Å: cryo-EM and tomography maps lie well inside; far outside, the
#: spectra and window sizes overflow (1e-300 Å gave an OverflowError traceback).
MIN_VOXEL_SIZE_A = 0.01
MAX_VOXEL_SIZE_A = 1000.0

Number = TypeVar("Number", int, float)


def finite_float(text: str) -> float:
    """argparse type: any finite float (refuses 'nan', 'inf' and overflowing literals)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def nonnegative_float(text: str) -> float:
    """argparse type: a finite float >= 0."""
    value = finite_float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def probability(text: str) -> float:
    """argparse type: a float strictly between 0 and 1 (a p-value or an FSC cutoff)."""
    value = finite_float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must lie strictly between 0 and 1")
    return value


def integer(text: str) -> int:
    """argparse type: an integer written in decimal ('4', not '4.0' or '1e3')."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0 (e.g. a random seed: numpy refuses negative ones)."""
    value = integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def bounded(
    parse: Callable[[str], Number], low: float | None = None, high: float | None = None
) -> Callable[[str], Number]:
    """argparse type: ``parse`` followed by inclusive limits ``low`` and ``high`` (None: none)."""

    def checked(text: str) -> Number:
        value = parse(text)
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"{text!r} must be >= {low:g}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text!r} must be <= {high:g}")
        return value

    # argparse names the type in some messages; keep it readable
    checked.__name__ = parse.__name__
    return checked


#: argparse type of every --threads option: 1 .. MAX_THREADS.
thread_count = bounded(positive_int, high=MAX_THREADS)

#: argparse type of every --voxel-size option (Å).
voxel_size = bounded(positive_float, MIN_VOXEL_SIZE_A, MAX_VOXEL_SIZE_A)


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """--threads N (default: all cores)."""
    parser.add_argument(
        "--threads",
        type=thread_count,
        default=None,
        metavar="N",
        help=f"worker threads, 1..{MAX_THREADS} (default: all cores)",
    )


def add_common(parser: argparse.ArgumentParser) -> None:
    """Options every computing command takes: --voxel-size, --threads, --quiet."""
    parser.add_argument(
        "--voxel-size",
        type=voxel_size,
        default=None,
        metavar="A",
        help="voxel size in Å, overriding the header "
        f"(isotropic; {MIN_VOXEL_SIZE_A:g}..{MAX_VOXEL_SIZE_A:g})",
    )
    add_threads_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress messages on stderr")


#: The values --outside accepts, as written on the command line and in the workflow's config.
OUTSIDE_VALUES = {"nan": float("nan"), "0": 0.0, "100": 100.0}


def outside_value(text: str) -> float:
    """argparse type for --outside: 'nan', '0' or '100' (Å written outside the mask)."""
    if text not in OUTSIDE_VALUES:
        raise argparse.ArgumentTypeError("choose nan, 0 or 100")
    return OUTSIDE_VALUES[text]


def add_outside_option(parser: argparse.ArgumentParser) -> None:
    """--outside: the value (Å) written outside the mask and for unresolved voxels."""
    default = defaults.text("outside")
    parser.add_argument(
        "--outside",
        type=outside_value,
        default=outside_value(default),
        metavar="nan|0|100",
        help=f"value written outside the mask and for unresolved voxels ({default})",
    )


def require_suffix(path: str, suffixes: tuple[str, ...], what: str) -> None:
    """Refuse an output name whose suffix is not one of ``suffixes``."""
    if not path.lower().endswith(suffixes):
        raise InputError(f"{path}: {what} must end with one of {', '.join(suffixes)}.")
