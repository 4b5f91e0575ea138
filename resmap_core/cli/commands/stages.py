"""The scan's stages as separate commands, for the workflow: prepare, wavelengths, pass, fdr."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from resmap_core.cli.commands._common import (
    add_common,
    add_threads_option,
    outside_value,
    positive_float,
    probability,
    require_suffix,
)
from resmap_core.cli.commands._scan_options import add_scan_options, params_from_args, read_inputs
from resmap_core.defaults import FDR_MODES
from resmap_core.errors import InputError
from resmap_core.progress import Progress

if TYPE_CHECKING:
    from resmap_core.localres.prepared import Prepared


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``prepare``, ``wavelengths``, ``pass`` and ``fdr``."""
    prep = sub.add_parser("prepare", help="workflow stage 1: prepare maps (mask, whitening)")
    add_scan_options(prep)
    prep.add_argument("--out", required=True, help="prepared data, PREP.npz")
    prep.add_argument("--mask-out", default=None, help="also write the mask used (input grid)")
    prep.add_argument(
        "--map-out",
        default=None,
        help="also write the map analysed, before whitening: the half-map average or the map",
    )
    add_common(prep)
    prep.set_defaults(func=run_prepare)

    grid = sub.add_parser("wavelengths", help="workflow stage 2: the wavelength grid (JSON)")
    grid.add_argument("prepared", help="PREP.npz from 'resmap prepare'")
    grid.add_argument("--out", required=True, help="WAVELENGTHS.json")
    grid.add_argument("--quiet", action="store_true")
    grid.set_defaults(func=run_wavelengths)

    one = sub.add_parser("pass", help="workflow stage 3: LRS for one wavelength")
    one.add_argument("prepared", help="PREP.npz from 'resmap prepare'")
    one.add_argument(
        "--wavelength", type=positive_float, required=True, metavar="A", help="wavelength, Å"
    )
    one.add_argument("--out", required=True, help="PASS.npz")
    add_threads_option(one)
    one.add_argument("--quiet", action="store_true")
    one.set_defaults(func=run_pass)

    fdr = sub.add_parser("fdr", help="workflow stage 4: FDR over all passes -> local map")
    fdr.add_argument("prepared", help="PREP.npz from 'resmap prepare'")
    fdr.add_argument("passes", nargs="+", help="PASS.npz files (any order)")
    fdr.add_argument("--out", required=True, help="local-resolution map LOCAL.mrc")
    fdr.add_argument("--fdr-mode", choices=FDR_MODES, default=None)
    fdr.add_argument("--outside", type=outside_value, default=None, metavar="nan|0|100")
    fdr.add_argument(
        "--p-value", type=probability, default=None, metavar="P", help="FDR level, 0 < P < 1"
    )
    fdr.add_argument("--quiet", action="store_true")
    fdr.set_defaults(func=run_fdr)


def run_prepare(args: argparse.Namespace) -> int:
    """Execute ``resmap prepare``."""
    from resmap_core.io.mrc import write_map
    from resmap_core.localres import scan

    require_suffix(args.out, (".npz",), "--out")
    progress = Progress(args.quiet)
    params = params_from_args(args)
    maps, mask, mask_path = read_inputs(args)
    prep = scan.prepare_inputs(maps, mask, params, mask_path, args.threads, progress)
    if args.mask_out:
        write_map(args.mask_out, prep.input_mask.astype("float32"), maps[0].geometry, "mask")
    if args.map_out:
        average = sum(m.data for m in maps) / len(maps)
        write_map(args.map_out, average, maps[0].geometry, "map analysed")
    scan.save_prepared(args.out, prep)
    return 0


def run_wavelengths(args: argparse.Namespace) -> int:
    """Execute ``resmap wavelengths``."""
    from resmap_core.io.atomic import write_json
    from resmap_core.localres import scan

    prep = scan.load_prepared(args.prepared)
    grid = scan.wavelength_grid(prep)
    write_json(
        args.out,
        {
            "wavelengths_A": grid,
            "mode": prep.mode,
            "voxels": int(prep.mask.sum()),
            "shape_zyx": list(prep.signal.shape),
        },
    )
    Progress(args.quiet).say(f"{len(grid)} wavelengths: {grid[0]:.2f} .. {grid[-1]:.2f} Å")
    return 0


def check_wavelength(prep: Prepared, wavelength_A: float) -> None:
    """Refuse a wavelength whose local model cannot be built on the prepared grid.

    Below Nyquist the model has no rank (a traceback deep in the basis); a window wider than
    the box has no voxel to test and, for absurd wavelengths, cannot even be allocated.
    """
    from resmap_core.localres.basis import window_radius_vox

    spacing = prep.spacing_zyx_A
    nyquist_A = 2.0 * max(spacing)
    if wavelength_A < nyquist_A - 1e-9:
        raise InputError(
            f"--wavelength {wavelength_A:g} Å is below Nyquist ({nyquist_A:.3f} Å on the prepared "
            "grid); use the wavelengths of 'resmap wavelengths'."
        )
    edges = [2 * r + 1 for r in window_radius_vox(wavelength_A, spacing)]
    if any(e > n for e, n in zip(edges, prep.signal.shape, strict=True)):
        raise InputError(
            f"--wavelength {wavelength_A:g} Å needs a window wider than the prepared box "
            f"{prep.signal.shape[::-1]}; use the wavelengths of 'resmap wavelengths'."
        )


def run_pass(args: argparse.Namespace) -> int:
    """Execute ``resmap pass``."""
    from resmap_core.localres import scan

    prep = scan.load_prepared(args.prepared)
    check_wavelength(prep, args.wavelength)
    result = scan.compute_pass(prep, args.wavelength, args.threads)
    scan.save_pass(args.out, result)
    Progress(args.quiet).say(
        f"λ = {args.wavelength:.2f} Å: σ² = {result.sigma2:.4g} from {result.noise_blocks} blocks, "
        f"{result.seconds:.2f} s"
    )
    return 0


def run_fdr(args: argparse.Namespace) -> int:
    """Execute ``resmap fdr``."""
    from resmap_core.localres import scan

    start = time.perf_counter()
    require_suffix(args.out, (".mrc", ".map"), "--out")
    progress = Progress(args.quiet)
    prep = scan.load_prepared(args.prepared)
    overrides = {
        k: v
        for k, v in (
            ("fdr_mode", args.fdr_mode),
            ("outside", args.outside),
            ("p_value", args.p_value),
        )
        if v is not None
    }
    if overrides:
        prep.params = replace(prep.params, **overrides)
        prep.params.check()
    metas = sorted(
        ((scan.pass_meta(p), p) for p in args.passes), key=lambda m: m[0]["wavelength_A"]
    )
    expected = scan.wavelength_grid(prep)
    given = [float(meta["wavelength_A"]) for meta, _ in metas]
    if given != expected:
        raise InputError(
            f"the pass files cover {given} Å but the wavelength grid is {expected} Å; "
            "run 'resmap pass' for exactly the wavelengths of 'resmap wavelengths'."
        )
    # loaded one at a time as the scan consumes them: large maps have many passes
    passes = (scan.load_pass(path) for _, path in metas)
    resolution, records = scan.assign_resolution(prep, passes, progress)
    volume, record = scan.finalize(prep, resolution, records)
    seconds = time.perf_counter() - start + sum(float(meta["seconds"]) for meta, _ in metas)
    scan.write_result(args.out, volume, record, prep.input_geometry, seconds)
    return 0
