"""``resmap fsc``: gold-standard FSC curves (unmasked, masked, corrected) and resolutions."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ..atomic import write_json
from ..fsc import THRESHOLDS, FSCResult, gold_standard_fsc, resolution_A, soft_mask
from ..mrc import MapData, read_half_maps, read_map, read_mask, sha256_file
from ..prepare import auto_mask
from ..progress import Progress
from ..summary import versions
from ._common import add_common, positive_float, require_suffix

#: Raised-cosine edge given to a binary mask, in voxels of the coarsest axis (RELION's
#: relion_mask_create default soft edge is 6 pixels).
SOFT_EDGE_VOX = 6.0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``fsc`` sub-command."""
    parser = sub.add_parser(
        "fsc",
        help="gold-standard FSC between two half maps",
        description="Writes FSC.json: unmasked, masked and phase-randomisation-corrected FSC "
        "curves and the resolutions at FSC 0.143 and 0.5 (see docs/fsc.md).",
    )
    add_half_map_arguments(parser)
    parser.add_argument("--out", required=True, help="output record, e.g. FSC.json")
    parser.add_argument(
        "--soft-edge",
        type=positive_float,
        default=None,
        metavar="A",
        help=f"raised-cosine edge added to a binary mask, Å (default {SOFT_EDGE_VOX:g} voxels)",
    )
    add_common(parser)
    parser.set_defaults(func=run)


def add_half_map_arguments(parser: argparse.ArgumentParser) -> None:
    """HALF1 HALF2, --mask and --seed (shared with ``resmap wfsc``)."""
    parser.add_argument("half1", help="first half map (MRC)")
    parser.add_argument("half2", help="second half map (MRC), same grid")
    parser.add_argument(
        "--mask",
        default=None,
        help="mask on the half maps' grid, soft or binary (default: automatic mask)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the phase randomisation (default 0)"
    )


def read_soft_mask(
    path: str, like: MapData, voxel_size_overridden: bool, edge_A: float | None
) -> np.ndarray:
    """The mask as float64 in [0, 1]: a soft mask as given, a binary one with a cosine edge.

    The file is validated by :func:`resmap_core.mrc.read_mask` (grid, voxel size, not empty,
    not the whole box). A mask is soft when more than 0.1 % of its voxels lie strictly between
    0.01 and 0.99; then its values (clipped to [0, 1]) are used, as RELION does.
    """
    binary = read_mask(path, like.geometry, check_voxel_size=not voxel_size_overridden)
    raw = read_map(path, voxel_size_A=like.voxel_size_A[0]).data.astype(np.float64)
    between = np.count_nonzero((raw > 0.01) & (raw < 0.99))
    if between > 1e-3 * raw.size:
        return np.clip(raw, 0.0, 1.0)
    spacing = like.geometry.spacing_zyx_A
    edge = SOFT_EDGE_VOX * max(spacing) if edge_A is None else edge_A
    return soft_mask(binary, spacing, edge)


def automatic_mask(h1: MapData, h2: MapData, progress: Progress) -> np.ndarray | None:
    """Binary particle mask of the half-map average (:func:`resmap_core.prepare.auto_mask`).

    None (with a message) when the automatic mask is empty or covers the whole box.
    """
    mean = 0.5 * (h1.data.astype(np.float64) + h2.data)
    mask = auto_mask(mean, h1.geometry.spacing_zyx_A)
    if not mask.any() or mask.all():
        progress.say("no --mask and the automatic mask found no particle: unmasked FSC only")
        return None
    progress.say(f"no --mask: automatic mask of {int(mask.sum())} voxels")
    return mask


def _curve(values: np.ndarray | None) -> list[float | None] | None:
    if values is None:
        return None
    return [float(v) if np.isfinite(v) else None for v in values]


def fsc_record(result: FSCResult) -> dict:
    """The curve and resolution part of FSC.json (docs/outputs.md)."""
    freq = result.frequency_invA
    resolutions: dict[str, dict[str, float] | None] = {}
    for name in ("unmasked", "masked", "corrected"):
        curve = getattr(result, name)
        resolutions[name] = (
            None
            if curve is None
            else {str(t): resolution_A(freq, curve, t) for t in THRESHOLDS}
            | {"halfbit": resolution_A(freq, curve, result.halfbit)}
        )
    main = "corrected" if result.corrected is not None else "unmasked"
    shell = result.randomise_shell
    return {
        "frequency_invA": [float(f) for f in freq],
        "shell_voxels": [int(n) for n in result.shell_voxels],
        "fsc_unmasked": _curve(result.unmasked),
        "fsc_masked": _curve(result.masked),
        "fsc_randomised": _curve(result.randomised),
        "fsc_corrected": _curve(result.corrected),
        "halfbit": _curve(result.halfbit),
        "randomise_from_A": (
            None if shell is None or shell >= len(freq) else float(1.0 / freq[shell])
        ),
        "resolutions": resolutions,
        "resolution_curve": main,
        "resolution_0143_A": resolutions[main]["0.143"],  # type: ignore[index]
        "resolution_05_A": resolutions[main]["0.5"],  # type: ignore[index]
    }


def run(args: argparse.Namespace) -> int:
    """Execute ``resmap fsc``."""
    start = time.perf_counter()
    require_suffix(args.out, (".json",), "--out")
    progress = Progress(args.quiet)
    h1, h2 = read_half_maps(args.half1, args.half2, args.voxel_size)
    spacing = h1.geometry.spacing_zyx_A
    if args.mask:
        mask = read_soft_mask(args.mask, h1, args.voxel_size is not None, args.soft_edge)
        source = "given"
    else:
        binary = automatic_mask(h1, h2, progress)
        edge = SOFT_EDGE_VOX * max(spacing) if args.soft_edge is None else args.soft_edge
        mask = None if binary is None else soft_mask(binary, spacing, edge)
        source = "auto"
    result = gold_standard_fsc(h1.data, h2.data, spacing, mask, args.seed, args.threads)
    record = fsc_record(result) | {
        "voxel_size_A": list(h1.voxel_size_A),
        "mask": None
        if mask is None
        else {"source": source, "path": args.mask, "voxels": int((mask > 0.5).sum())},
        "inputs": [{"path": p, "sha256": sha256_file(p)} for p in (args.half1, args.half2)],
        "seed": args.seed,
        "versions": versions(),
        "seconds": round(time.perf_counter() - start, 3),
    }
    write_json(Path(args.out), record)
    progress.say(
        f"FSC 0.143: {record['resolution_0143_A']:.2f} Å, 0.5: {record['resolution_05_A']:.2f} Å "
        f"({record['resolution_curve']}) -> {args.out}"
    )
    return 0
