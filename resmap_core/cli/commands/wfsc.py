"""``resmap wfsc``: windowed (local) FSC resolution maps at FSC 0.5 and 0.143.

Parse, call :mod:`resmap_core.fsc` (box-centre mask, windowed FSC, summaries), write the two
maps and WFSC.json. The library is imported inside :func:`run`, so that ``resmap --help`` does
not load NumPy and SciPy.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from resmap_core.cli.commands._common import (
    add_common,
    add_outside_option,
    bounded,
    positive_int,
    probability,
    require_suffix,
)
from resmap_core.cli.commands.fsc import add_half_map_arguments

if TYPE_CHECKING:  # annotations only: nothing heavy is imported with the parser
    import numpy as np

    from resmap_core.io.mrc import MapData
    from resmap_core.io.records.wfsc import WFSCRecord, WFSCSummary
    from resmap_core.progress import Progress

# Literal copies of library constants, so that building the parser imports no NumPy;
# tests/test_wfsc.py checks that they match resmap_core.fsc.windowed.
#: resmap_core.fsc.windowed.DEFAULT_BOX (voxels)
DEFAULT_BOX = 20
#: resmap_core.fsc.windowed.DEFAULT_STEP (voxels)
DEFAULT_STEP = 2
#: resmap_core.fsc.windowed.MIN_BOX (voxels)
MIN_BOX = 4


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
        type=bounded(positive_int, low=MIN_BOX),
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


def cutoff_path(out: str, cutoff: float) -> Path:
    """OUT_0143.mrc / OUT_05.mrc beside ``out`` (digits of the cutoff without the point)."""
    p = Path(out)
    tag = f"{cutoff:g}".replace(".", "")
    return p.with_name(f"{p.stem}_{tag}{p.suffix}")


def run(args: argparse.Namespace) -> int:
    """Execute ``resmap wfsc``: read, choose the box centres, measure, write both maps and
    WFSC.json."""
    start = time.perf_counter()
    require_suffix(args.out, (".mrc", ".map"), "--out")
    from resmap_core.errors import InputError
    from resmap_core.fsc.masks import box_centre_mask
    from resmap_core.fsc.windowed_summary import summary_text
    from resmap_core.io.mrc import read_half_maps
    from resmap_core.progress import Progress

    progress = Progress(args.quiet)
    h1, h2 = read_half_maps(args.half1, args.half2, args.voxel_size)
    chosen = box_centre_mask(args.mask, h1, h2, args.voxel_size is not None, progress)
    if chosen is None:
        raise InputError(
            f"{args.half1}: no --mask given and the automatic mask found no particle; pass --mask."
        )
    mask, source = chosen
    summaries, outputs = _write_maps(args, h1, h2, mask, progress)
    record = _write_record(args, h1, int(mask.sum()), source, summaries, outputs, start)
    spacing = h1.geometry.spacing_zyx_A
    progress.say(f"{summary_text(record.summary, args.cutoff, spacing)} -> {args.out}")
    return 0


def _write_maps(
    args: argparse.Namespace, h1: MapData, h2: MapData, mask: np.ndarray, progress: Progress
) -> tuple[dict[float, WFSCSummary], dict[float, Path]]:
    """Windowed FSC at ``--cutoff`` and the other cutoff; writes both maps and returns, per
    cutoff, the summary inside ``mask`` and the file written (``--cutoff``'s first)."""
    from resmap_core.fsc.windowed import other_cutoff, windowed_fsc, with_outside
    from resmap_core.fsc.windowed_summary import windowed_summary
    from resmap_core.io.mrc import write_map

    other = other_cutoff(args.cutoff)
    spacing = h1.geometry.spacing_zyx_A
    maps = windowed_fsc(
        h1.data,
        h2.data,
        mask,
        spacing,
        box=args.box,
        step=args.step,
        cutoffs=(args.cutoff, other),
        correct=args.correct,
        seed=args.seed,
        threads=args.threads,
        progress=progress,
    )
    outputs = {args.cutoff: Path(args.out), other: cutoff_path(args.out, other)}
    summaries = {}
    for cutoff, path in outputs.items():
        summaries[cutoff] = windowed_summary(maps[cutoff][mask], args.box, spacing)
        volume = with_outside(maps[cutoff], mask, args.outside)
        write_map(path, volume, h1.geometry, label=f"windowed FSC {cutoff:g} resolution (A)")
    return summaries, outputs


def _write_record(
    args: argparse.Namespace,
    h1: MapData,
    mask_voxels: int,
    source: str,
    summaries: dict[float, WFSCSummary],
    outputs: dict[float, Path],
    start: float,
) -> WFSCRecord:
    """Write WFSC.json beside ``--out`` (docs/outputs.md) and return it; ``start`` is the
    command's start (``time.perf_counter``)."""
    from resmap_core.io.atomic import write_json
    from resmap_core.io.records.common import InputFile
    from resmap_core.io.records.wfsc import OtherCutoff, WFSCMask, WFSCRecord
    from resmap_core.io.summary import versions

    _, other = outputs  # --cutoff's map first, then the other cutoff's
    record = WFSCRecord(
        summary=summaries[args.cutoff],
        box_vox=args.box,
        step_vox=args.step,
        cutoff=args.cutoff,
        corrected=bool(args.correct),
        seed=args.seed,
        outside_value=args.outside,
        mask_voxels=mask_voxels,
        mask=WFSCMask(source, args.mask),
        voxel_size_A=tuple(h1.voxel_size_A),
        other_cutoff=OtherCutoff(other, outputs[other].name, summaries[other]),
        inputs=(InputFile.hashed(args.half1), InputFile.hashed(args.half2)),
        versions=versions(),
        seconds=round(time.perf_counter() - start, 3),
    )
    write_json(Path(args.out).with_suffix(".json"), record.to_json())
    return record
