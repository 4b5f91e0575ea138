"""Per-rule run times (seconds) for the report's provenance section.

Two sources: Snakemake ``benchmark:`` TSV files and the workflow's provenance record. Benchmark
times override the record's for the same rule (see docs/report.md).
"""

from __future__ import annotations

from pathlib import Path

from resmap_core.errors import InputError
from resmap_core.io.benchmarks import read_benchmark_folder
from resmap_core.report.records import finite_float


def read_benchmarks(folder: Path) -> dict[str, float]:
    """Run time (s) per rule from Snakemake ``benchmark:`` TSV files under ``folder``.

    The rule name is the file's path below ``folder`` without ``.tsv``; repeats are averaged
    (:func:`resmap_core.io.benchmarks.read_benchmark_folder`); files with no measured time are
    skipped. A folder that does not exist (yet) gives no times.
    """
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: --benchmarks must be a folder of Snakemake .tsv files.")
    return {
        rule: t.seconds
        for rule, t in read_benchmark_folder(folder).items()
        if t.seconds is not None
    }


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
