"""The scan's stages as separate commands, for the workflow: prepare, wavelengths, pass,
scan-status, fdr."""

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
from resmap_core.cli.commands._scan_options import (
    add_estimator_options,
    add_scan_options,
    params_from_args,
    read_inputs,
)
from resmap_core.defaults import FDR_MODES
from resmap_core.errors import InputError
from resmap_core.progress import Progress

if TYPE_CHECKING:
    import numpy as np

    from resmap_core.localres.prepared import Prepared


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``prepare``, ``wavelengths``, ``pass``, ``scan-status`` and ``fdr``."""
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

    one = sub.add_parser("pass", help="workflow stage 3: the statistic at one wavelength")
    one.add_argument("prepared", help="PREP.npz from 'resmap prepare'")
    one.add_argument(
        "--wavelength", type=positive_float, required=True, metavar="A", help="wavelength, Å"
    )
    one.add_argument("--out", required=True, help="PASS.npz")
    add_estimator_options(one, override=True)
    add_threads_option(one)
    one.add_argument("--quiet", action="store_true")
    one.set_defaults(func=run_pass)

    status = sub.add_parser(
        "scan-status", help="workflow: whether the passes so far decide every voxel (JSON)"
    )
    status.add_argument("prepared", help="PREP.npz from 'resmap prepare'")
    status.add_argument("passes", nargs="+", help="PASS.npz files, the grid's first ones")
    status.add_argument("--out", required=True, help="STATUS.json")
    _add_fdr_overrides(status)
    status.add_argument("--quiet", action="store_true")
    status.set_defaults(func=run_scan_status)

    fdr = sub.add_parser("fdr", help="workflow stage 4: FDR over all passes -> local map")
    fdr.add_argument("prepared", help="PREP.npz from 'resmap prepare'")
    fdr.add_argument("passes", nargs="+", help="PASS.npz files (any order)")
    fdr.add_argument("--out", required=True, help="local-resolution map LOCAL.mrc")
    _add_fdr_overrides(fdr)
    fdr.add_argument("--outside", type=outside_value, default=None, metavar="nan|0|100")
    fdr.add_argument("--quiet", action="store_true")
    fdr.set_defaults(func=run_fdr)


def _add_fdr_overrides(parser: argparse.ArgumentParser) -> None:
    """--fdr-mode, --p-value and the estimator's options: the settings of the stages after
    prepare that may override PREP.npz's."""
    add_estimator_options(parser, override=True)
    parser.add_argument("--fdr-mode", choices=FDR_MODES, default=None)
    parser.add_argument(
        "--p-value", type=probability, default=None, metavar="P", help="FDR level, 0 < P < 1"
    )


_OVERRIDES = ("fdr_mode", "outside", "p_value", "estimator", "band_width", "band_window")
"""Params that the stages after prepare may set (the option's dest has the same name)."""


def _load_with_overrides(args: argparse.Namespace, maps: bool = False) -> Prepared:
    """PREP.npz (without its maps unless ``maps``: the FDR stage needs the masks and the
    fingerprint only), with the settings given on the command line (checked)."""
    from resmap_core.localres import scan

    prep = scan.load_prepared(args.prepared, maps=maps)
    names = [(name, name) for name in _OVERRIDES]
    overrides = {
        key: getattr(args, attr) for key, attr in names if getattr(args, attr, None) is not None
    }
    if overrides:
        prep.params = replace(prep.params, **overrides)
        prep.params.check()
    return prep


def _average(maps: list) -> np.ndarray:
    """The maps' average (float32 [z, y, x]), a few planes at a time (memory-mapped inputs)."""
    import numpy as np

    from resmap_core.io.mrc import planes

    out = np.zeros(maps[0].geometry.shape, dtype=np.float32)
    for m in maps:
        for z0, slab in planes(m.data):
            out[z0 : z0 + len(slab)] += slab
    out /= np.float32(len(maps))
    return out


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
        write_map(args.map_out, _average(maps), maps[0].geometry, "map analysed")
    scan.save_prepared(args.out, prep)
    return 0


def run_wavelengths(args: argparse.Namespace) -> int:
    """Execute ``resmap wavelengths``."""
    from resmap_core.io.atomic import write_json
    from resmap_core.localres import scan

    prep = scan.load_prepared(args.prepared, maps=False)  # the grid needs the masks only
    grid = scan.wavelength_grid(prep)
    write_json(
        args.out,
        {
            "wavelengths_A": grid,
            "mode": prep.mode,
            "voxels": int(prep.mask.sum()),
            "shape_zyx": list(prep.mask.shape),
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

    prep = _load_with_overrides(args, maps=True)
    check_wavelength(prep, args.wavelength)
    result = scan.compute_pass(prep, args.wavelength, args.threads)
    scan.save_pass(args.out, result)
    Progress(args.quiet).say(
        f"λ = {args.wavelength:.2f} Å ({result.estimator}): σ² = {result.sigma2:.4g} from "
        f"{result.noise_blocks} {'voxels' if result.estimator == 'band' else 'blocks'}, "
        f"{result.seconds:.2f} s"
    )
    return 0


def _grid_prefix(prep: Prepared, paths: list[str]) -> list[tuple[dict, str]]:
    """(meta, path) of the pass files in increasing λ; refuses a set that is not the wavelength
    grid's first wavelengths (a gap, a stranger, a duplicate)."""
    from resmap_core.localres import scan

    metas = sorted(((scan.pass_meta(p), p) for p in paths), key=lambda m: m[0]["wavelength_A"])
    expected = scan.wavelength_grid(prep)
    given = [float(meta["wavelength_A"]) for meta, _ in metas]
    if not given or given != expected[: len(given)]:
        raise InputError(
            f"the pass files cover {given} Å but the wavelength grid is {expected} Å; "
            "run 'resmap pass' for the wavelengths of 'resmap wavelengths', in order from the "
            "first."
        )
    return metas


def run_scan_status(args: argparse.Namespace) -> int:
    """Execute ``resmap scan-status``: {finished, wavelengths_A, grid_complete} as JSON."""
    from resmap_core.io.atomic import write_json
    from resmap_core.localres import scan

    prep = _load_with_overrides(args)
    metas = _grid_prefix(prep, args.passes)
    complete = len(metas) == len(scan.wavelength_grid(prep))
    finished = scan.scan_finished(prep, (scan.load_pass(path) for _, path in metas))
    given = [float(meta["wavelength_A"]) for meta, _ in metas]
    write_json(args.out, {"finished": finished, "grid_complete": complete, "wavelengths_A": given})
    Progress(args.quiet).say(
        f"passes up to {given[-1]:.2f} Å: "
        + ("every voxel decided" if finished else "voxels left to test")
        + ("" if not complete else " (the whole grid)")
    )
    return 0


def run_fdr(args: argparse.Namespace) -> int:
    """Execute ``resmap fdr``."""
    from resmap_core.localres import scan

    start = time.perf_counter()
    require_suffix(args.out, (".mrc", ".map"), "--out")
    progress = Progress(args.quiet)
    prep = _load_with_overrides(args)
    metas = _grid_prefix(prep, args.passes)
    if len(metas) < len(scan.wavelength_grid(prep)) and not scan.scan_finished(
        prep, (scan.load_pass(path) for _, path in metas)
    ):
        raise InputError(
            f"the pass files stop at {metas[-1][0]['wavelength_A']} Å but voxels are left that "
            "longer wavelengths could resolve; run 'resmap pass' for the rest of the grid."
        )
    # loaded one at a time as the scan consumes them: large maps have many passes
    passes = (scan.load_pass(path) for _, path in metas)
    resolution, records = scan.assign_resolution(prep, passes, progress)
    volume, record = scan.finalize(prep, resolution, records)
    seconds = time.perf_counter() - start + sum(float(meta["seconds"]) for meta, _ in metas)
    scan.write_result(args.out, volume, record, prep.input_geometry, seconds)
    return 0
