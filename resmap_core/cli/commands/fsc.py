"""``resmap fsc``: gold-standard FSC curves (unmasked, masked, corrected) and resolutions.

Parse, call :mod:`resmap_core.fsc` (masks, curves, record), write FSC.json. The library is
imported inside :func:`run`, so that ``resmap --help`` does not load NumPy and SciPy.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from resmap_core.cli.commands._common import (
    add_common,
    bounded,
    nonnegative_float,
    nonnegative_int,
    require_suffix,
)

# Literal copies of library constants, so that building the parser imports no NumPy;
# tests/test_fsc.py checks that they match resmap_core.fsc.masks.
#: resmap_core.fsc.masks.MAX_SOFT_EDGE_A (Å)
MAX_SOFT_EDGE_A = 1000.0
#: resmap_core.fsc.masks.AUTO_SOFT_EDGE_VOX (voxels of the coarsest axis)
AUTO_SOFT_EDGE_VOX = 6.0


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


def run(args: argparse.Namespace) -> int:
    """Execute ``resmap fsc``: read the half maps, choose the mask, measure, write FSC.json."""
    start = time.perf_counter()
    require_suffix(args.out, (".json",), "--out")
    from resmap_core.fsc.crossing import nyquist_A
    from resmap_core.fsc.gold_standard import curves_record, gold_standard_fsc, headline_text
    from resmap_core.fsc.masks import fsc_mask
    from resmap_core.io.atomic import write_json
    from resmap_core.io.mrc import read_half_maps
    from resmap_core.io.records.common import InputFile
    from resmap_core.io.records.fsc import FSCRecord
    from resmap_core.io.summary import versions
    from resmap_core.progress import Progress

    progress = Progress(args.quiet)
    h1, h2 = read_half_maps(args.half1, args.half2, args.voxel_size)
    spacing = h1.geometry.spacing_zyx_A
    overridden = args.voxel_size is not None
    mask = fsc_mask(args.mask, h1, h2, overridden, args.soft_edge, progress)
    values = None if mask is None else mask.values
    result = gold_standard_fsc(h1.data, h2.data, spacing, values, args.seed, args.threads)
    record = FSCRecord(
        curves=curves_record(result, nyquist_A(spacing)),
        voxel_size_A=tuple(h1.voxel_size_A),
        mask=None if mask is None else mask.record(),
        inputs=(InputFile.hashed(args.half1), InputFile.hashed(args.half2)),
        seed=args.seed,
        versions=versions(),
        seconds=round(time.perf_counter() - start, 3),
    )
    write_json(Path(args.out), record.to_json())
    progress.say(f"{headline_text(record.curves)} -> {args.out}")
    return 0
