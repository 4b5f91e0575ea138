"""``resmap locfilt``: a map filtered voxel by voxel at its local resolution.

Parse, read the map and the local-resolution map (one grid), call
:func:`resmap_core.filtering.local.local_filter`, write the filtered map with the map's
geometry. The library is imported inside :func:`run`, so that ``resmap --help`` stays instant.
"""

from __future__ import annotations

import argparse

from resmap_core.cli.commands._common import (
    add_threads_option,
    bounded,
    finite_float,
    require_suffix,
)

#: Largest |--bfactor| (Å²): exp(|B| k²/4) at Nyquist overflows float32 for 2 Å voxels near
#: B = 1400; sharpening beyond a few hundred Å² only amplifies noise.
MAX_BFACTOR_A2 = 1000.0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``locfilt`` sub-command."""
    parser = sub.add_parser(
        "locfilt",
        help="filter a map by its local resolution (+ optional B-factor)",
        description="Each voxel of MAP takes MAP low-passed at the voxel's value in LOCAL "
        "(a local-resolution map in Å on the same grid, e.g. from resmap local or wfsc). "
        "Filter shape and method: docs/atoms.md.",
    )
    parser.add_argument("map", metavar="MAP", help="the map to filter")
    parser.add_argument("local", metavar="LOCAL", help="local-resolution map (Å), same grid")
    parser.add_argument("--out", required=True, help="filtered map, e.g. filtered.mrc")
    parser.add_argument(
        "--bfactor",
        type=bounded(finite_float, -MAX_BFACTOR_A2, MAX_BFACTOR_A2),
        default=None,
        metavar="B",
        help="B-factor applied first, Å² (negative sharpens: exp(-B k²/4); default none), "
        f"|B| at most {MAX_BFACTOR_A2:g}",
    )
    add_threads_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``resmap locfilt``."""
    require_suffix(args.out, (".mrc", ".map"), "--out")
    from resmap_core.atoms.measures import same_frame
    from resmap_core.filtering.local import local_filter
    from resmap_core.io.mrc import read_map, write_map
    from resmap_core.progress import Progress

    progress = Progress(args.quiet, prefix="resmap locfilt")
    density = read_map(args.map)
    local = read_map(args.local, allow_nan=True)
    same_frame(density.geometry, local.geometry, args.local, args.map)
    filtered, rungs = local_filter(
        density.data,
        local.data,
        density.geometry.spacing_zyx_A,
        bfactor_A2=args.bfactor,
        threads=args.threads,
        progress=progress,
    )
    write_map(args.out, filtered, density.geometry, label="locally filtered")
    progress.say(f"{len(rungs)} low-pass copies, {rungs[0]:.2f}-{rungs[-1]:.2f} Å -> {args.out}")
    return 0
