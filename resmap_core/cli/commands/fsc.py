"""``resmap fsc``: gold-standard FSC curves (unmasked, masked, corrected) and resolutions."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resmap_core.cli.commands._common import (
    add_common,
    bounded,
    nonnegative_float,
    nonnegative_int,
    require_suffix,
)
from resmap_core.errors import InputError
from resmap_core.fsc.gold_standard import (
    THRESHOLDS,
    Crossing,
    FSCResult,
    crossing_text,
    gold_standard_fsc,
    nyquist_A,
    soft_mask,
    threshold_crossing,
)
from resmap_core.io.atomic import write_json
from resmap_core.io.mrc import MapData, read_half_maps, read_map, read_mask, sha256_file
from resmap_core.io.summary import versions
from resmap_core.localres.prepare import auto_mask
from resmap_core.progress import Progress

#: Raised-cosine edge given to the *automatic* mask, in voxels of the coarsest axis (unless
#: --soft-edge says otherwise). That mask is our own binary construction whose edge lies on the
#: density, so a hard edge would let the mask's sharp transform carry low-resolution signal to
#: high frequencies; 6 voxels is the usual soft-edge width of cryo-EM masking practice.
AUTO_SOFT_EDGE_VOX = 6.0
#: Mask values may leave [0, 1] by this much (rounding in resampled or converted masks); they
#: are clipped. Anything further out is refused, as relion_postprocess refuses it.
MASK_RANGE_TOLERANCE = 1e-3
#: Widest soft edge accepted (Å): wider ones would be a different mask, not an edge.
MAX_SOFT_EDGE_A = 1000.0

#: A mask is binary when at most this fraction of its voxels lies strictly between 0.01 and 0.99.
SOFT_VOXEL_FRACTION = 1e-3


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
        type=bounded(nonnegative_float, high=MAX_SOFT_EDGE_A),
        default=None,
        metavar="A",
        help="raised-cosine edge (Å) added outside a binary --mask (default: none, the mask is "
        f"used as given); for the automatic mask the default is {AUTO_SOFT_EDGE_VOX:g} voxels "
        "and 0 means none",
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
        "--seed",
        type=nonnegative_int,
        default=0,
        help="seed of the phase randomisation (default 0)",
    )


@dataclass(frozen=True)
class FSCMask:
    """The mask the masked FSC multiplies both half maps by.

    ``values``: float64 ``[z, y, x]`` in [0, 1]. ``binary``: whether the mask was binary before
    any edge was added. ``soft_edge_A``: the raised-cosine edge we added (Å), None when the mask
    is used as it came.
    """

    values: np.ndarray
    source: str
    path: str | None
    binary: bool
    soft_edge_A: float | None

    def record(self) -> dict:
        """The ``mask`` entry of FSC.json (docs/outputs.md)."""
        return {
            "source": self.source,
            "path": self.path,
            "voxels": int((self.values > 0.5).sum()),
            "binary": self.binary,
            "soft_edge_A": self.soft_edge_A,
        }


def _is_binary(values: np.ndarray) -> bool:
    """True when at most :data:`SOFT_VOXEL_FRACTION` of the voxels lie strictly in (0.01, 0.99)."""
    between = np.count_nonzero((values > 0.01) & (values < 0.99))
    return bool(between <= SOFT_VOXEL_FRACTION * values.size)


def read_given_mask(
    path: str, like: MapData, voxel_size_overridden: bool, edge_A: float | None
) -> FSCMask:
    """The ``--mask`` file as the FSC uses it: its values as given, unless an edge is asked for.

    The file is validated by :func:`resmap_core.io.mrc.read_mask` (grid, voxel size, not empty,
    not the whole box). Values must lie in [0, 1] (to :data:`MASK_RANGE_TOLERANCE`; the small
    overshoot is clipped). With ``edge_A`` > 0 a binary mask (:func:`_is_binary`) gets a
    raised-cosine edge of that width outside its voxels above 0.5; a soft mask is refused then,
    since it already has an edge of its own.
    """
    inside = read_mask(path, like.geometry, check_voxel_size=not voxel_size_overridden)
    raw = read_map(path, voxel_size_A=like.voxel_size_A[0]).data.astype(np.float64)
    lo, hi = float(raw.min()), float(raw.max())
    if lo < -MASK_RANGE_TOLERANCE or hi > 1.0 + MASK_RANGE_TOLERANCE:
        raise InputError(
            f"{path}: the mask's values run from {lo:.4g} to {hi:.4g}; an FSC mask must lie in "
            "[0, 1] (relion_postprocess refuses it too); rescale the mask."
        )
    values = np.clip(raw, 0.0, 1.0)
    binary = _is_binary(values)
    if not edge_A:
        return FSCMask(values, "given", path, binary, None)
    if not binary:
        raise InputError(
            f"{path}: the mask is already soft; --soft-edge adds an edge to a binary mask only "
            "(leave it out to use this mask as given)."
        )
    spacing = like.geometry.spacing_zyx_A
    return FSCMask(soft_mask(inside, spacing, edge_A), "given", path, True, edge_A)


def automatic_mask(h1: MapData, h2: MapData, progress: Progress) -> np.ndarray | None:
    """Binary particle mask of the half-map average
    (:func:`resmap_core.localres.prepare.auto_mask`).

    None (with a message) when the automatic mask is empty or covers the whole box.
    """
    mean = 0.5 * (h1.data.astype(np.float64) + h2.data)
    mask = auto_mask(mean, h1.geometry.spacing_zyx_A)
    if not mask.any() or mask.all():
        progress.say("no --mask and the automatic mask found no particle: unmasked FSC only")
        return None
    progress.say(f"no --mask: automatic mask of {int(mask.sum())} voxels")
    return mask


def automatic_fsc_mask(
    h1: MapData, h2: MapData, edge_A: float | None, progress: Progress
) -> FSCMask | None:
    """The automatic mask with a raised-cosine edge (:data:`AUTO_SOFT_EDGE_VOX` voxels of the
    coarsest axis, or ``edge_A`` Å; 0 = none). None when it finds no particle."""
    binary = automatic_mask(h1, h2, progress)
    if binary is None:
        return None
    spacing = h1.geometry.spacing_zyx_A
    edge = AUTO_SOFT_EDGE_VOX * max(spacing) if edge_A is None else edge_A
    values = soft_mask(binary, spacing, edge)
    return FSCMask(values, "auto", None, True, edge if edge > 0 else None)


def _curve(values: np.ndarray | None) -> list[float | None] | None:
    if values is None:
        return None
    return [float(v) if np.isfinite(v) else None for v in values]


def curve_crossings(result: FSCResult) -> dict[str, dict[str, Crossing] | None]:
    """Crossings of 0.143, 0.5 and the half-bit curve for each curve (None: curve absent)."""
    freq = result.frequency_invA
    out: dict[str, dict[str, Crossing] | None] = {}
    for name in ("unmasked", "masked", "corrected"):
        curve = getattr(result, name)
        out[name] = (
            None
            if curve is None
            else {str(t): threshold_crossing(freq, curve, t) for t in THRESHOLDS}
            | {"halfbit": threshold_crossing(freq, curve, result.halfbit)}
        )
    return out


def fsc_record(result: FSCResult, nyquist: float | None = None) -> dict:
    """The curve and resolution part of FSC.json (docs/outputs.md).

    ``nyquist`` (Å, of the coarsest axis) is recorded so that readers can name a bound at the
    top shell.
    """
    freq = result.frequency_invA
    crossings = curve_crossings(result)
    main = "corrected" if result.corrected is not None else "unmasked"
    headline = crossings[main]
    assert headline is not None  # the unmasked curve always exists
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
        "nyquist_A": nyquist,
        "resolutions": {
            name: None if c is None else {k: v.to_record() for k, v in c.items()}
            for name, c in crossings.items()
        },
        "resolution_curve": main,
        "resolution_0143_A": headline["0.143"].value_A,
        "resolution_0143_bound": headline["0.143"].bound,
        "resolution_05_A": headline["0.5"].value_A,
        "resolution_05_bound": headline["0.5"].bound,
    }


def run(args: argparse.Namespace) -> int:
    """Execute ``resmap fsc``."""
    start = time.perf_counter()
    require_suffix(args.out, (".json",), "--out")
    progress = Progress(args.quiet)
    h1, h2 = read_half_maps(args.half1, args.half2, args.voxel_size)
    spacing = h1.geometry.spacing_zyx_A
    if args.mask:
        mask = read_given_mask(args.mask, h1, args.voxel_size is not None, args.soft_edge)
    else:
        mask = automatic_fsc_mask(h1, h2, args.soft_edge, progress)
    values = None if mask is None else mask.values
    result = gold_standard_fsc(h1.data, h2.data, spacing, values, args.seed, args.threads)
    nyquist = nyquist_A(spacing)
    record = fsc_record(result, nyquist) | {
        "voxel_size_A": list(h1.voxel_size_A),
        "mask": None if mask is None else mask.record(),
        "inputs": [{"path": p, "sha256": sha256_file(p)} for p in (args.half1, args.half2)],
        "seed": args.seed,
        "versions": versions(),
        "seconds": round(time.perf_counter() - start, 3),
    }
    write_json(Path(args.out), record)
    main = record["resolutions"][record["resolution_curve"]]
    text = {t: crossing_text(Crossing.from_record(main[t]), nyquist) for t in ("0.143", "0.5")}
    progress.say(
        f"FSC 0.143: {text['0.143']}, 0.5: {text['0.5']} ({record['resolution_curve']}) "
        f"-> {args.out}"
    )
    return 0
