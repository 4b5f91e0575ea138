"""The provenance record of a dataset's results, and the run times Snakemake measured."""

from __future__ import annotations

from pathlib import Path

from resmap_core.io.emdb import float_or_none
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


def read_benchmarks(folder: str | Path) -> dict[str, dict[str, float]]:
    """Snakemake benchmark files of one dataset: ``{job: {"seconds", "max_rss_MB"}}``.

    Each ``*.tsv`` holds a header line and one line per repeat; the first repeat is used.
    Missing values ("NA" or "-") become null.
    """
    out: dict[str, dict[str, float]] = {}
    for path in sorted(Path(folder).glob("*.tsv")):
        lines = path.read_text().splitlines()
        if len(lines) < 2:
            continue
        row = dict(zip(lines[0].split("\t"), lines[1].split("\t"), strict=False))
        out[path.stem] = {
            "seconds": float_or_none(row.get("s")),
            "max_rss_MB": float_or_none(row.get("max_rss")),
        }
    return out
