"""``resmap local``: the local-resolution map of one map or two half maps."""

from __future__ import annotations

import argparse
import time

from resmap_core.cli.commands._common import add_common, require_suffix
from resmap_core.cli.commands._scan_options import add_scan_options, params_from_args, read_inputs
from resmap_core.progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``local`` sub-command."""
    parser = sub.add_parser(
        "local",
        help="local resolution (ResMap-H2) of a map or of two half maps",
        description="Writes OUT.mrc (Å) and OUT.json beside it. Two maps = split mode (noise from "
        "the half-map difference); one map = single mode (noise from the background).",
    )
    add_scan_options(parser)
    parser.add_argument("--out", required=True, help="output map, e.g. local.mrc")
    add_common(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``resmap local``."""
    from resmap_core.localres.scan import compute_local, write_result

    start = time.perf_counter()
    require_suffix(args.out, (".mrc", ".map"), "--out")
    progress = Progress(args.quiet)
    params = params_from_args(args)
    maps, mask, mask_path = read_inputs(args)
    volume, record = compute_local(maps, mask, params, mask_path, args.threads, progress)
    write_result(args.out, volume, record, maps[0].geometry, time.perf_counter() - start)
    median = record.median_A
    progress.say(
        f"median {median:.2f} Å, unresolved {100 * record.unresolved_fraction:.1f} % -> {args.out}"
        if median is not None
        else f"no voxel resolved -> {args.out}"
    )
    return 0
