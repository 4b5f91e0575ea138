"""Memory and run time that the workflow declares for its per-wavelength jobs."""

from __future__ import annotations

import json
import math
from pathlib import Path


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
