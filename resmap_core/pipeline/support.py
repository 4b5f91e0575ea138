"""Helpers the Snakemake workflow needs outside the numerics: locating and fingerprinting inputs,
fingerprinting the package (so code changes rerun numeric jobs), job sizing, provenance records.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from resmap_core.errors import InputError
from resmap_core.io.emdb import float_or_none
from resmap_core.io.mrc import read_map, read_mask, sha256_file
from resmap_core.io.summary import versions


def package_fingerprint(root: str | Path | None = None) -> str:
    """SHA-256 over the names and bytes of every ``.py`` file of ``resmap_core`` (sorted).

    Any edit of the package changes it; put it in the ``params`` of numeric rules so that
    Snakemake reruns them after a code change. ``root`` defaults to this package's folder.
    """
    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def locate_local(
    dataset: str,
    half1: str | None = None,
    half2: str | None = None,
    map_path: str | None = None,
    mask: str | None = None,
    voxel_size_A: float | None = None,
) -> dict:
    """Check local input files and describe them (the workflow's ``meta.json`` record).

    Every map must be a readable MRC file; half maps, map and mask must share one grid.
    Returns ``{dataset, source, emdb_id, title, author_resolution_A, voxel_size_A, mode,
    shape_zyx, files, deposited_fsc}`` with ``files[key] = {"path", "sha256"}``.
    """
    if (half1 is None) != (half2 is None):
        raise InputError(f"dataset {dataset}: give both half1 and half2, or neither.")
    if half1 is None and map_path is None:
        raise InputError(f"dataset {dataset}: give half1 and half2, or map.")
    named = {"half1": half1, "half2": half2, "map": map_path}
    maps = {key: read_map(path, voxel_size_A) for key, path in named.items() if path is not None}
    first_key = "half1" if half1 is not None else "map"
    geometry = maps[first_key].geometry
    for key, m in maps.items():
        if m.geometry.shape != geometry.shape:
            raise InputError(
                f"dataset {dataset}: {named[key]} is {m.geometry.shape[::-1]} voxels but "
                f"{named[first_key]} is {geometry.shape[::-1]}; all maps must share one grid."
            )
        if not m.geometry.same_grid(geometry, rtol=1e-3):
            raise InputError(
                f"dataset {dataset}: {named[key]} has voxel size {m.voxel_size_A} Å but "
                f"{named[first_key]} has {geometry.voxel_size_A} Å; set voxel_size to override."
            )
    if mask is not None:
        named["mask"] = mask
        read_mask(mask, geometry, check_voxel_size=voxel_size_A is None)
    files = {k: {"path": str(p), "sha256": sha256_file(p)} for k, p in named.items() if p}
    return {
        "dataset": dataset,
        "source": "local",
        "emdb_id": None,
        "title": None,
        "author_resolution_A": None,
        "voxel_size_A": [float(v) for v in geometry.voxel_size_A],
        "mode": "split" if half1 is not None else "single",
        "shape_zyx": list(geometry.shape),
        "files": files,
        "deposited_fsc": None,
    }


def describe_fetched(dataset: str, entry: dict, voxel_size_A: float | None = None) -> dict:
    """Turn :func:`resmap_core.io.emdb.fetch_entry`'s record into ``meta.json`` (maps are read)."""
    files = entry["files"]
    key = "half1" if "half1" in files else "map"
    geometry = read_map(files[key]["path"], voxel_size_A).geometry
    return {
        "dataset": dataset,
        "source": "emdb",
        "emdb_id": entry["emdb_id"],
        "title": entry["title"],
        "author_resolution_A": entry["author_resolution_A"],
        "voxel_size_A": [float(v) for v in geometry.voxel_size_A],
        "header_voxel_size_A": entry["voxel_size_A"],
        "mode": entry["mode"],
        "shape_zyx": list(geometry.shape),
        "files": files,
        "deposited_fsc": entry["deposited_fsc"],
    }


def pass_resources(shape_zyx: list[int] | tuple[int, ...] | None, threads: int = 1) -> dict:
    """Memory (MB) and run time (min) for one per-wavelength pass on a box of ``shape_zyx``.

    The pass holds a few dozen float64 volumes of the box (maps, filtered copies, statistic);
    48 copies plus 400 MB for the interpreter is a deliberately generous bound. Runtime
    scales with voxels: 10 min plus 10 min per 10⁷ voxels, divided among threads.
    """
    voxels = math.prod(shape_zyx) if shape_zyx else 256**3
    mem_mb = 400 + math.ceil(voxels * 8 * 48 / 2**20)
    runtime = 10 + math.ceil(10 * voxels / 1e7 / max(threads, 1))
    return {"mem_mb": int(mem_mb), "runtime": int(runtime)}


def read_shape(meta_json: str | Path) -> list[int] | None:
    """``shape_zyx`` from a ``meta.json`` if the file exists yet (None before the fetch)."""
    path = Path(meta_json)
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("shape_zyx")


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
