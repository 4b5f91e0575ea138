"""``resmap fetch`` (download an EMDB entry) and ``resmap locate`` (check local maps).

Both write the workflow's ``meta.json`` record (docs/outputs.md) describing the dataset's files.
The downloader and the map reader are imported inside the run functions, so that building the
parser stays instant.
"""

from __future__ import annotations

import argparse

from resmap_core import defaults
from resmap_core.cli.commands._common import (
    bounded,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    voxel_size,
)

# Limits of the download policy: Python's sleep and socket timeouts overflow (a traceback) past
# about 9e9 s, and the back-off doubles per retry, so the longest wait, MAX_BACKOFF_S *
# 2**(MAX_RETRIES - 1), must stay far below that; a day without data is a dead connection.
MAX_TIMEOUT_S = 86400.0
MAX_RETRIES = 20
MAX_BACKOFF_S = 600.0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``fetch`` and ``locate``."""
    fetch = sub.add_parser("fetch", help="download an EMDB entry (half maps, map, header, FSC)")
    fetch.add_argument("accession", help="EMDB accession, e.g. EMD-11638")
    fetch.add_argument("--out-dir", required=True, help="folder for the downloaded files")
    fetch.add_argument("--meta", required=True, help="meta.json describing the dataset")
    fetch.add_argument("--dataset", default=None, help="dataset name (default: the accession)")
    fetch.add_argument(
        "--base-url",
        default=defaults.text("emdb_base_url"),
        help="mirror of the EMDB archive",
    )
    timeout = defaults.number("download.timeout_s")
    retries = defaults.integer("download.retries")
    backoff = defaults.number("download.backoff_s")
    fetch.add_argument(
        "--timeout",
        type=bounded(positive_float, high=MAX_TIMEOUT_S),
        default=timeout,
        metavar="S",
        help="seconds without data before an attempt is abandoned, at most "
        f"{MAX_TIMEOUT_S:g} ({timeout:g})",
    )
    fetch.add_argument(
        "--retries",
        type=bounded(nonnegative_int, high=MAX_RETRIES),
        default=retries,
        metavar="N",
        help=f"retries per file, 0..{MAX_RETRIES} ({retries})",
    )
    fetch.add_argument(
        "--backoff",
        type=bounded(nonnegative_float, high=MAX_BACKOFF_S),
        default=backoff,
        metavar="S",
        help=f"first retry delay in seconds, doubled each time, at most {MAX_BACKOFF_S:g} "
        f"({backoff:g})",
    )
    fetch.add_argument(
        "--allow-single-map",
        action="store_true",
        help="run on the primary map when no half maps are deposited",
    )
    fetch.add_argument("--deposited-mask", action="store_true", help="download the deposited mask")
    fetch.add_argument(
        "--voxel-size",
        type=voxel_size,
        default=None,
        metavar="A",
        help="voxel size in Å, overriding the map header",
    )
    fetch.add_argument("--quiet", action="store_true")
    fetch.set_defaults(func=run_fetch)

    locate = sub.add_parser("locate", help="check local maps (readable, same grid) and hash them")
    locate.add_argument("--dataset", required=True, help="dataset name")
    locate.add_argument("--half1", default=None)
    locate.add_argument("--half2", default=None)
    locate.add_argument("--map", dest="map_path", default=None)
    locate.add_argument("--mask", default=None)
    locate.add_argument(
        "--voxel-size", type=voxel_size, default=None, metavar="A", help="voxel size in Å"
    )
    locate.add_argument("--out", required=True, help="meta.json")
    locate.set_defaults(func=run_locate)


def run_fetch(args: argparse.Namespace) -> int:
    """Execute ``resmap fetch``."""
    from resmap_core.io.atomic import write_json
    from resmap_core.io.emdb import DownloadPolicy, fetch_entry
    from resmap_core.pipeline.datasets import describe_fetched
    from resmap_core.progress import Progress

    progress = Progress(args.quiet, prefix="resmap fetch")
    policy = DownloadPolicy(timeout_s=args.timeout, retries=args.retries, backoff_s=args.backoff)
    entry = fetch_entry(
        args.accession,
        args.out_dir,
        base_url=args.base_url,
        policy=policy,
        allow_single_map=args.allow_single_map,
        use_deposited_mask=args.deposited_mask,
        say=progress.say,
    )
    meta = describe_fetched(args.dataset or entry["emdb_id"], entry, args.voxel_size)
    write_json(args.meta, meta)
    progress.say(f"{entry['emdb_id']}: {meta['mode']} mode, box {meta['shape_zyx'][::-1]}")
    return 0


def run_locate(args: argparse.Namespace) -> int:
    """Execute ``resmap locate``."""
    from resmap_core.io.atomic import write_json
    from resmap_core.pipeline.datasets import locate_local

    meta = locate_local(
        args.dataset, args.half1, args.half2, args.map_path, args.mask, args.voxel_size
    )
    write_json(args.out, meta)
    return 0
