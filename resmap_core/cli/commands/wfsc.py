"""``resmap wfsc``: windowed (local) FSC resolution maps at FSC 0.5 and 0.143."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from resmap_core.cli.commands._common import (
    add_common,
    add_outside_option,
    bounded,
    positive_int,
    probability,
    require_suffix,
)
from resmap_core.cli.commands.fsc import add_half_map_arguments, automatic_mask
from resmap_core.errors import InputError
from resmap_core.fsc.gold_standard import Crossing, crossing_text
from resmap_core.fsc.windowed import DEFAULT_BOX, DEFAULT_STEP, bound_fractions, windowed_fsc
from resmap_core.io.atomic import write_json
from resmap_core.io.mrc import read_half_maps, read_mask, sha256_file, write_map
from resmap_core.io.summary import resolution_summary, versions
from resmap_core.progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``wfsc`` sub-command."""
    parser = sub.add_parser(
        "wfsc",
        help="windowed (local) FSC resolution map between two half maps",
        description="Writes OUT.mrc (Å, at --cutoff), the map at the other cutoff beside it "
        "(OUT_0143.mrc or OUT_05.mrc) and OUT.json (see docs/fsc.md).",
    )
    add_half_map_arguments(parser)
    parser.add_argument("--out", required=True, help="output map, e.g. WFSC.mrc")
    parser.add_argument(
        "--box",
        type=bounded(positive_int, low=4),
        default=DEFAULT_BOX,
        help="box edge, voxels (20)",
    )
    parser.add_argument(
        "--step",
        type=positive_int,
        default=DEFAULT_STEP,
        help=f"sampling step, voxels ({DEFAULT_STEP})",
    )
    parser.add_argument(
        "--cutoff", type=probability, default=0.5, help="FSC cutoff of OUT.mrc (0.5)"
    )
    parser.add_argument(
        "--correct",
        action="store_true",
        help="phase-randomisation correction of each box's FSC (as RELION --locres)",
    )
    add_outside_option(parser)
    add_common(parser)
    parser.set_defaults(func=run)


def _other_cutoff(cutoff: float) -> float:
    return 0.5 if np.isclose(cutoff, 0.143) else 0.143


def cutoff_path(out: str, cutoff: float) -> Path:
    """OUT_0143.mrc / OUT_05.mrc beside ``out`` (digits of the cutoff without the point)."""
    p = Path(out)
    tag = f"{cutoff:g}".replace(".", "")
    return p.with_name(f"{p.stem}_{tag}{p.suffix}")


def run(args: argparse.Namespace) -> int:
    """Execute ``resmap wfsc``."""
    start = time.perf_counter()
    require_suffix(args.out, (".mrc", ".map"), "--out")
    if args.box < 4:
        raise InputError(f"--box {args.box}: the box must be at least 4 voxels.")
    if args.step < 1:
        raise InputError(f"--step {args.step}: the step must be at least 1 voxel.")
    if not args.cutoff < 1:
        raise InputError(f"--cutoff {args.cutoff}: an FSC cutoff must lie in (0, 1).")
    progress = Progress(args.quiet)
    h1, h2 = read_half_maps(args.half1, args.half2, args.voxel_size)
    # The mask only chooses the box centres (voxels > 0.5, given or automatic); it never
    # multiplies the maps (each box has its own Hann taper), so no edge is ever added to it.
    if args.mask:
        mask = read_mask(args.mask, h1.geometry, check_voxel_size=args.voxel_size is None)
        source = "given"
    else:
        mask = automatic_mask(h1, h2, progress)
        source = "auto"
        if mask is None:
            raise InputError(
                f"{args.half1}: no --mask given and the automatic mask found no particle; "
                "pass --mask."
            )
    other = _other_cutoff(args.cutoff)
    maps = windowed_fsc(
        h1.data,
        h2.data,
        mask,
        h1.geometry.spacing_zyx_A,
        box=args.box,
        step=args.step,
        cutoffs=(args.cutoff, other),
        correct=args.correct,
        seed=args.seed,
        threads=args.threads,
        progress=progress,
    )
    geometry = h1.geometry
    outputs = {args.cutoff: Path(args.out), other: cutoff_path(args.out, other)}
    summaries = {}
    for cutoff, path in outputs.items():
        values = maps[cutoff]
        summary = resolution_summary(values[mask])
        bounds = bound_fractions(values[mask], args.box, geometry.spacing_zyx_A)
        summaries[cutoff] = summary | {
            "bounds": bounds,
            "median_bound": summary_bound(summary["median_A"], bounds),
        }
        volume = np.where(mask & np.isfinite(values), values, args.outside)
        write_map(path, volume, geometry, label=f"windowed FSC {cutoff:g} resolution (A)")
    record = summaries[args.cutoff] | {
        "box_vox": args.box,
        "step_vox": args.step,
        "cutoff": args.cutoff,
        "corrected": bool(args.correct),
        "seed": args.seed,
        "outside_value": "nan" if np.isnan(args.outside) else args.outside,
        "mask_voxels": int(mask.sum()),
        "mask": {"source": source, "path": args.mask},
        "voxel_size_A": list(geometry.voxel_size_A),
        "other_cutoff": {"cutoff": other, "path": outputs[other].name, **summaries[other]},
        "inputs": [{"path": p, "sha256": sha256_file(p)} for p in (args.half1, args.half2)],
        "versions": versions(),
        "seconds": round(time.perf_counter() - start, 3),
    }
    write_json(Path(args.out).with_suffix(".json"), record)
    progress.say(f"{progress_text(record)} -> {args.out}")
    return 0


def summary_bound(value_A: float | None, bounds: dict) -> str | None:
    """Whether a summary value (e.g. the median) is itself a bound of :func:`bound_fractions`."""
    if value_A is None:
        return None
    if np.isclose(value_A, bounds["better_than"]["value_A"], rtol=1e-9):
        return "better_than"
    if value_A > bounds["worse_than"]["value_A"]:
        return "worse_than"
    return None


def progress_text(record: dict) -> str:
    """The result line: median at the cutoff, and how much of the mask is a bound, in words."""
    median = record["median_A"]
    if median is None:
        return "no voxel resolved"
    nyquist = 2.0 * max(record["voxel_size_A"])
    bounds = record["bounds"]
    median_text = crossing_text(Crossing(median, record["median_bound"]), nyquist)
    parts = [f"median {median_text} at FSC {record['cutoff']:g}"]
    for kind, where in (("better_than", "of the mask "), ("worse_than", "")):
        if bounds[kind]["fraction"] > 0:
            limit = crossing_text(Crossing(bounds[kind]["value_A"], kind), nyquist)
            parts.append(f"{100 * bounds[kind]['fraction']:.1f} % {where}{limit}")
    return "; ".join(parts)
