"""A dataset's ``meta.json`` record (docs/outputs.md): its files, their hashes, mode and grid.

Local files are checked here (readable maps on one grid); EMDB entries are downloaded by
:func:`resmap_core.io.emdb.fetch_entry`, whose record is turned into the same form.
"""

from __future__ import annotations

from resmap_core.errors import InputError
from resmap_core.io.mrc import read_map, read_mask, sha256_file


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
