"""``resmap report`` (one dataset's HTML report) and ``resmap report-index`` (the run index).

:mod:`resmap_core.report` is imported inside the run functions, so that ``resmap --help`` and
the other commands load neither Matplotlib nor Jinja2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from resmap_core.cli.commands._common import require_suffix

_HTML = (".html", ".htm")


def _run_report(args: argparse.Namespace) -> int:
    """Build one dataset's report from the parsed arguments."""
    require_suffix(args.out, _HTML, "--out")  # before the imports: a wrong name fails at once
    from resmap_core.report.build import build_report
    from resmap_core.report.load import ReportInputs

    opt = {
        k: (Path(v) if v is not None else None)
        for k, v in (
            ("mask", args.mask),
            ("fsc", args.fsc),
            ("wfsc", args.wfsc),
            ("band", args.band),
            ("meta", args.meta),
            ("deposited_fsc", args.deposited_fsc),
            ("provenance", args.provenance),
            ("benchmarks", args.benchmarks),
            ("model", args.model),
            ("atoms", args.atoms),
        )
    }
    inputs = ReportInputs(
        name=args.name, out=Path(args.out), map=Path(args.map), local=Path(args.local), **opt
    )
    build_report(inputs, quiet=args.quiet)
    return 0


def _run_index(args: argparse.Namespace) -> int:
    """Build the index page of a run."""
    require_suffix(args.out, _HTML, "--out")
    from resmap_core.report.index import build_index

    build_index(Path(args.out), [Path(s) for s in args.sources], quiet=args.quiet)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``report`` and ``report-index``."""
    p = subparsers.add_parser(
        "report",
        help="HTML report of one dataset (+ Mol* viewer, ChimeraX scripts, summary.json)",
        description="Write an HTML report (figures and maps embedded, the Mol* viewer copied into "
        "molstar/ beside it; nothing fetched) comparing ResMap "
        "with gold-standard and windowed FSC (and the band-energy estimator when given), plus "
        "NAME_resmap.cxc, NAME_wfsc.cxc (NAME_band.cxc) and summary.json beside it. LOCAL.json, "
        "WFSC.json and the band map's JSON are read from beside the maps.",
    )
    p.add_argument("--name", required=True, help="dataset name shown in the report")
    p.add_argument(
        "--out", required=True, metavar="HTML", help="output page, e.g. reports/NAME/index.html"
    )
    p.add_argument(
        "--map", required=True, metavar="MRC", help="the density map (or half-map average)"
    )
    p.add_argument("--local", required=True, metavar="MRC", help="ResMap local-resolution map")
    p.add_argument("--mask", metavar="MRC", help="mask on the map's grid")
    p.add_argument("--fsc", metavar="JSON", help="FSC.json from resmap fsc")
    p.add_argument("--wfsc", metavar="MRC", help="windowed-FSC map from resmap wfsc")
    p.add_argument(
        "--band",
        metavar="MRC",
        help="band-energy local-resolution map (resmap fdr/local --estimator band; its JSON "
        "beside it), shown as a fourth answer",
    )
    p.add_argument("--meta", metavar="JSON", help="dataset meta.json (EMDB id, title, ...)")
    p.add_argument("--deposited-fsc", metavar="XML", help="EMDB FSC curve (XML)")
    p.add_argument("--provenance", metavar="JSON", help="workflow provenance record")
    p.add_argument("--benchmarks", metavar="DIR", help="folder of Snakemake benchmark .tsv files")
    p.add_argument(
        "--model",
        metavar="MMCIF_OR_PDB",
        help="fitted model (mmCIF or PDB, optionally .gz) drawn as a cartoon in the 3D view",
    )
    p.add_argument(
        "--atoms", metavar="JSON", help="per-residue record of resmap atoms (the model section)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    p.set_defaults(func=_run_report)

    q = subparsers.add_parser(
        "report-index",
        help="index page of all dataset reports of a run",
        description="Read each report's summary.json (give the files or their folders) and write "
        "one index page linking to every report.",
    )
    q.add_argument(
        "--out", required=True, metavar="HTML", help="index page, e.g. reports/index.html"
    )
    q.add_argument("sources", nargs="+", metavar="SUMMARY_OR_REPORT_DIR")
    q.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    q.set_defaults(func=_run_index)
