"""Options of the local-resolution scan, shared by ``resmap local`` and ``resmap prepare``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from resmap_core.cli.commands._common import (
    add_outside_option,
    bounded,
    positive_float,
    probability,
)
from resmap_core.defaults import ESTIMATORS, FDR_MODES, KERNELS, number, text
from resmap_core.errors import InputError

if TYPE_CHECKING:
    from resmap_core.io.mrc import MapData
    from resmap_core.localres.params import Params

DEFAULT_KERNEL = text("kernel")

#: Smallest --step-res, Å: the grid is rounded to 1e-6 Å and capped at 100000 wavelengths, so a
#: tiny step ran 100000 identical passes (hours); each step costs one full pass.
MIN_STEP_RES_A = 0.01


def add_scan_options(parser: argparse.ArgumentParser) -> None:
    """Inputs (one map or two half maps), --mask and every scan parameter."""
    parser.add_argument("maps", nargs="+", metavar="MAP", help="one map, or two half maps")
    parser.add_argument("--mask", default=None, help="particle mask on the map's grid (>0.5 in)")
    parser.add_argument(
        "--p-value", type=probability, default=0.05, metavar="P", help="FDR level, 0 < P < 1 (0.05)"
    )
    parser.add_argument(
        "--min-res",
        type=positive_float,
        default=None,
        metavar="A",
        help="smallest wavelength tested (default 2.2 × voxel size)",
    )
    parser.add_argument(
        "--max-res",
        type=positive_float,
        default=None,
        metavar="A",
        help="largest wavelength (default: data-driven, see docs/method-notes.md)",
    )
    parser.add_argument(
        "--step-res",
        type=bounded(positive_float, low=MIN_STEP_RES_A),
        default=1.0,
        metavar="A",
        help=f"wavelength step, at least {MIN_STEP_RES_A:g} Å (1 Å)",
    )
    parser.add_argument(
        "--kernel",
        choices=KERNELS,
        default=DEFAULT_KERNEL,
        help=f"window kernel (default {DEFAULT_KERNEL}; see docs/kernel-calibration.md)",
    )
    parser.add_argument("--no-prewhiten", action="store_true", help="skip automatic pre-whitening")
    parser.add_argument(
        "--no-lowpass-check", action="store_true", help="skip low-pass detection and resampling"
    )
    parser.add_argument(
        "--fdr-mode",
        choices=FDR_MODES,
        default="per-wavelength",
        help="BY per wavelength over unresolved voxels (ResMap) or one global family",
    )
    add_estimator_options(parser)
    add_outside_option(parser)


def add_estimator_options(parser: argparse.ArgumentParser, override: bool = False) -> None:
    """--estimator, --band-width, --band-window: the table's defaults, or (``override``: the
    stages after prepare) None, which keeps PREP.npz's."""
    keep = "; default: as prepared" if override else ""
    parser.add_argument(
        "--estimator",
        choices=ESTIMATORS,
        default=None if override else text("estimator"),
        help=f"resmap (ResMap-H2) or band (band energy, docs/band-energy.md){keep}",
    )
    for flag, name, unit in (
        ("--band-width", "band_width", "shell sd in units of 1/λ"),
        ("--band-window", "band_window", "window sd in units of λ"),
    ):
        default = None if override else number(name)
        parser.add_argument(
            flag,
            type=positive_float,
            default=default,
            metavar="X",
            help=f"band energy: {unit} ({number(name):g}{keep})",
        )


def params_from_args(args: argparse.Namespace) -> Params:
    """Build and check :class:`Params` from parsed options."""
    from resmap_core.localres.params import Params

    params = Params(
        p_value=args.p_value,
        min_res_A=args.min_res,
        max_res_A=args.max_res,
        step_res_A=args.step_res,
        kernel=args.kernel,
        prewhiten=not args.no_prewhiten,
        lowpass_check=not args.no_lowpass_check,
        fdr_mode=args.fdr_mode,
        outside=args.outside,
        estimator=args.estimator,
        band_width=args.band_width,
        band_window=args.band_window,
    )
    params.check()
    return params


def read_inputs(args: argparse.Namespace) -> tuple[list[MapData], object, str | None]:
    """Read the map(s) and the optional mask named on the command line."""
    from resmap_core.io.mrc import read_map, read_mask

    if len(args.maps) > 2:
        raise InputError("give one map (single mode) or two half maps (split mode), not more.")
    # memory-mapped: the scan reads the maps slab by slab (large boxes), checking every value
    maps = [read_map(p, voxel_size_A=args.voxel_size, memory_map=True) for p in args.maps]
    mask = None
    if args.mask:
        mask = read_mask(args.mask, maps[0].geometry, check_voxel_size=args.voxel_size is None)
    return maps, mask, args.mask
