"""Snakemake ``benchmark:`` files: run time and peak memory of each job, one reader for all.

A benchmark file is a TSV with a header line and one line per repeat; the columns used are
``s`` (wall seconds) and ``max_rss`` (MB). Used by the workflow's provenance record and by the
report's run-time table.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from resmap_core.io.values import finite_float


@dataclass(frozen=True)
class JobTimes:
    """One job's measurements: mean wall time (s) and largest peak memory (MB) over its
    repeats; None where no repeat has a finite value ("NA", "-", a job still running)."""

    seconds: float | None
    max_rss_MB: float | None


def _job_times(path: Path) -> JobTimes | None:
    """The measurements of one file; None for a file with no data line."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    if not rows:
        return None
    seconds = [v for v in (finite_float(r.get("s")) for r in rows) if v is not None]
    rss = [v for v in (finite_float(r.get("max_rss")) for r in rows) if v is not None]
    return JobTimes(
        seconds=sum(seconds) / len(seconds) if seconds else None,
        max_rss_MB=max(rss) if rss else None,
    )


def read_benchmark_folder(folder: str | Path) -> dict[str, JobTimes]:
    """Every ``*.tsv`` below ``folder`` (sorted), keyed by its path below ``folder`` without
    ``.tsv``; a folder that does not exist (yet) has none."""
    root = Path(folder)
    out: dict[str, JobTimes] = {}
    for path in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        times = _job_times(path)
        if times is not None:
            out[path.relative_to(root).with_suffix("").as_posix()] = times
    return out
