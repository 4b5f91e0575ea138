"""The run index: one page listing every dataset's report, read from each ``summary.json``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from resmap_core.errors import InputError
from resmap_core.io.atomic import write_text
from resmap_core.progress import Progress
from resmap_core.report.diagnostics import finding_title
from resmap_core.report.records import read_json
from resmap_core.report.render import render

#: The fields of summary.json the index shows; any other field is ignored.
SUMMARY_KEYS = (
    "name",
    "title",
    "emdb_id",
    "mode",
    "author_resolution_A",
    "fsc_curve",
    "fsc_0143_A",
    "fsc_0143_bound",
    "fsc_05_A",
    "fsc_05_bound",
    "nyquist_A",
    "resmap_median_A",
    "unresolved_fraction",
    "wfsc_median_A",
    "wfsc_median_bound",
    "spearman",
    "band_median_A",
    "warnings",
)


def index_row(source: Path, out: Path) -> dict[str, Any]:
    """The index row of one report: ``source`` is its summary.json or its folder.

    ``href`` is built from the summary's own location relative to the index page ``out``,
    never from the summary's text.
    """
    path = source / "summary.json" if source.is_dir() else source
    rec = read_json(path, "report summary")
    if "name" not in rec:
        raise InputError(f"{path}: not a report summary (no 'name').")
    row = {k: rec.get(k) for k in SUMMARY_KEYS}
    if not isinstance(row["warnings"], list):
        row["warnings"] = []
    row["warning_titles"] = [finding_title(str(code)) for code in row["warnings"]]
    target = path.parent / "index.html"
    rel = Path(os.path.relpath(target.resolve(), out.parent.resolve())).as_posix()
    row["href"] = rel if rel.startswith("../") else "./" + rel
    return row


def build_index(out: Path, sources: list[Path], quiet: bool = False) -> None:
    """Index page of a run: one row per dataset, sorted by name."""
    progress = Progress(quiet, prefix="resmap report-index")
    rows = sorted((index_row(src, out) for src in sources), key=lambda r: str(r["name"]))
    write_text(out, render("index.html.j2", {"rows": rows}))
    progress.say(f"wrote {out} ({len(rows)} datasets)")
