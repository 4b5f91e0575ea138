"""The provenance record of a dataset's results, and the run times Snakemake measured."""

from __future__ import annotations

from pathlib import Path

from resmap_core.io.benchmarks import read_benchmark_folder
from resmap_core.io.summary import versions
from resmap_core.pipeline.fingerprint import package_fingerprint


def provenance_record(
    dataset: str,
    meta: dict,
    parameters: dict,
    snakemake_version: str,
    wavelengths_A: list[float] | None = None,
) -> dict:
    """What went into a dataset's results: inputs and hashes, parameters, code, tool versions."""
    return {
        "dataset": dataset,
        "source": meta.get("source"),
        "emdb_id": meta.get("emdb_id"),
        "inputs": [{"role": k, **v} for k, v in sorted(meta.get("files", {}).items())],
        "parameters": parameters,
        "wavelengths_A": wavelengths_A,
        "code_fingerprint": package_fingerprint(),
        "versions": {**versions(), "snakemake": snakemake_version},
    }


def read_benchmarks(folder: str | Path) -> dict[str, dict[str, float | None]]:
    """Snakemake benchmark files of one dataset: ``{job: {"seconds", "max_rss_MB"}}``
    (:func:`resmap_core.io.benchmarks.read_benchmark_folder`; null where not measured)."""
    return {
        job: {"seconds": t.seconds, "max_rss_MB": t.max_rss_MB}
        for job, t in read_benchmark_folder(folder).items()
    }
