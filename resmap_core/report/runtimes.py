"""Per-rule run times (seconds) for the report's provenance section.

Two sources: Snakemake ``benchmark:`` TSV files and the workflow's provenance record. Benchmark
times override the record's for the same rule (see docs/report.md).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from resmap_core.errors import InputError
from resmap_core.report.records import finite_float


def read_benchmarks(folder: Path) -> dict[str, float]:
    """Run time (s) per rule from Snakemake ``benchmark:`` TSV files under ``folder``.

    The rule name is the file's path below ``folder`` without ``.tsv``; the numeric values of
    the ``s`` column (one row per repeat) are averaged; files without one ("NA", "-", empty, or
    not a benchmark file) are skipped. A folder that does not exist (yet) gives no times.
    """
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: --benchmarks must be a folder of Snakemake .tsv files.")
    out: dict[str, float] = {}
    for tsv in sorted(folder.rglob("*.tsv")) if folder.is_dir() else []:
        with open(tsv, newline="", encoding="utf-8", errors="replace") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        secs = [v for v in (finite_float(r.get("s")) for r in rows) if v is not None]
        if secs:
            out[tsv.relative_to(folder).with_suffix("").as_posix()] = float(np.mean(secs))
    return out


def provenance_seconds(provenance: dict) -> dict[str, float]:
    """Per-rule seconds from a provenance record: ``rule_seconds`` {rule: s} and/or the
    workflow's ``benchmarks`` {job: {"seconds": s, ...}} (later entries win)."""
    out: dict[str, float] = {}
    rule_seconds = provenance.get("rule_seconds")
    if isinstance(rule_seconds, dict):
        for rule, value in rule_seconds.items():
            if (v := finite_float(value)) is not None:
                out[str(rule)] = v
    benchmarks = provenance.get("benchmarks")
    if isinstance(benchmarks, dict):
        for job, rec in benchmarks.items():
            v = finite_float(rec.get("seconds") if isinstance(rec, dict) else rec)
            if v is not None:
                out[str(job)] = v
    return out
