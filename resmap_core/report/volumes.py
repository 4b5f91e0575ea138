"""The maps the page embeds for its 3D view and slice browser, small enough to carry inline.

Browsers refuse ``fetch`` of ``file://`` URLs, so a page opened from disk cannot load map files
beside it; the maps travel inside the page instead, as MRC files (written by ``mrcfile``, read by
Mol*'s CCP4 reader and by the page's slice browser) gzip-compressed and base64-encoded. Maps
larger than :data:`DISPLAY_EDGE` voxels on a side are averaged over blocks of k³ voxels first.
The density is stored as int16 (value = stored × ``scale``); the local-resolution maps as
float32 Å with NaN where a voxel has no resolution (outside the mask or unresolved), which Mol*
and the slice browser draw grey. Arrays are ``[z, y, x]``.
"""

from __future__ import annotations

import base64
import gzip
import math
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
from scipy import ndimage

from resmap_core.io.model import grid_origin_A
from resmap_core.io.mrc import MapGeometry

#: Longest edge (voxels) of the maps embedded in the page.
DISPLAY_EDGE = 128
#: Largest value of the int16 density.
_INT16_TOP = 32767


@dataclass(frozen=True)
class DisplayGrid:
    """The grid of the embedded maps: every ``factor``-th voxel block of the input grid.

    ``geometry`` places display voxel (0, 0, 0) at the centre of the first block, in the frame
    of the input map (so a fitted model overlays it).
    """

    factor: int
    geometry: MapGeometry


def display_grid(geometry: MapGeometry, max_edge: int = DISPLAY_EDGE) -> DisplayGrid:
    """The display grid of a map: blocks of k³ voxels, k the smallest factor that brings the
    longest edge to ``max_edge`` voxels or fewer (incomplete blocks at the far edges dropped)."""
    k = max(1, math.ceil(max(geometry.shape) / max_edge))
    shape = tuple(max(1, n // k) for n in geometry.shape)
    voxel = tuple(v * k for v in geometry.voxel_size_A)
    first = grid_origin_A(geometry) + (k - 1) / 2.0 * np.asarray(geometry.voxel_size_A)
    placed = MapGeometry(shape=shape, voxel_size_A=voxel,  # type: ignore[arg-type]
                         origin_A=tuple(float(v) for v in first))  # type: ignore[arg-type]  # fmt: skip
    return DisplayGrid(k, placed)


def block_mean(volume: np.ndarray, grid: DisplayGrid) -> np.ndarray:
    """Mean of each k³ block of ``volume[z, y, x]`` over its finite voxels (NaN where a block
    has none), float32 on the display grid; sums in float64, copies in float32."""
    k = grid.factor
    nz, ny, nx = grid.geometry.shape
    cut = np.asarray(volume, dtype=np.float32)[: nz * k, : ny * k, : nx * k]
    if k == 1:
        return cut.copy()
    blocks = cut.reshape(nz, k, ny, k, nx, k)
    finite = np.isfinite(blocks)
    total = np.where(finite, blocks, np.float32(0.0)).sum(axis=(1, 3, 5), dtype=np.float64)
    count = finite.sum(axis=(1, 3, 5))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)


def focus_sphere(mask: np.ndarray, geometry: MapGeometry) -> dict[str, Any]:
    """Centre (x, y, z, Å, in the map's frame) and radius (Å) of the sphere around the mask's
    voxels, where the 3D view points its camera (the whole box when the mask is empty)."""
    index_zyx = np.argwhere(mask) if mask.any() else np.argwhere(np.ones(mask.shape, bool))
    lo, hi = index_zyx.min(axis=0), index_zyx.max(axis=0)
    voxel = np.asarray(geometry.voxel_size_A, dtype=np.float64)
    centre_xyz = grid_origin_A(geometry) + (lo + hi)[::-1] / 2.0 * voxel
    radius = 0.5 * float(np.linalg.norm((hi - lo)[::-1] * voxel))
    return {"center_A": [float(v) for v in centre_xyz], "radius_A": max(radius, float(voxel.max()))}


def density_scale(density: np.ndarray) -> float:
    """Map units per int16 step: the largest |value| maps to 32767 (1 for an all-zero map)."""
    top = float(np.max(np.abs(density))) if density.size else 0.0
    return top / _INT16_TOP if top > 0 else 1.0


def mrc_bytes(data: np.ndarray, geometry: MapGeometry) -> bytes:
    """``data[z, y, x]`` (int16 or float32) as an MRC file's bytes, placed by ``geometry``'s
    ORIGIN (start indices 0) and voxel size; mrcfile writes the header, whose label is fixed
    (mrcfile's own label holds the creation time), so the same map gives the same bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "display.mrc"
        with warnings.catch_warnings(), mrcfile.new(path) as mrc:
            warnings.simplefilter("ignore", RuntimeWarning)  # NaN: no resolution, by design
            mrc.set_data(np.ascontiguousarray(data))
            mrc.voxel_size = tuple(float(v) for v in geometry.voxel_size_A)
            mrc.header.origin.x, mrc.header.origin.y, mrc.header.origin.z = geometry.origin_A
            mrc.header.label[0] = b"resmap_core report: map for the page"  # no creation time
            mrc.header.nlabl = 1
        return path.read_bytes()


def packed(raw: bytes) -> str:
    """gzip (no time stamp, so the same bytes every run) then base64, as the page's JS unpacks."""
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def density_volume(density: np.ndarray, grid: DisplayGrid) -> dict[str, Any]:
    """The embedded density: int16 MRC (packed), its ``scale`` (map units per step), the data's
    byte offset in the file, and the display map's own percentiles for the level slider."""
    small = block_mean(density, grid)
    scale = density_scale(small)
    stored = np.rint(small / scale).astype(np.int16)
    raw = mrc_bytes(stored, grid.geometry)
    span = np.percentile(small.astype(np.float64), [50.0, 99.95])
    return {"mrc": packed(raw), "offset": len(raw) - stored.nbytes, "scale": scale,
            "level_span": [float(span[0]), float(span[1])]}  # fmt: skip


def reach_one_voxel(values: np.ndarray) -> np.ndarray:
    """``values`` with each NaN voxel that touches a finite one (26-neighbourhood) given its
    nearest finite neighbour's value; NaN further away stays NaN.

    Mol* colours a surface point by trilinear interpolation of the 8 voxels around it and
    draws it grey when any of them is NaN; without this step one unresolved voxel, or the
    mask's edge, would grey the whole 2-voxel neighbourhood around it.
    """
    missing = ~np.isfinite(values)
    if not missing.any() or missing.all():
        return values
    distance, nearest = ndimage.distance_transform_edt(missing, return_indices=True)
    filled = values[tuple(nearest)]
    return np.where(missing & (distance <= np.sqrt(3.0) + 1e-6), filled, values)


def layer_volume(name: str, local_A: np.ndarray, resolved: np.ndarray, grid: DisplayGrid) -> dict:
    """An embedded local-resolution map: float32 Å on the display grid for Mol*, NaN where no
    resolved voxel lies within one display voxel (:func:`reach_one_voxel`), and, for the slice
    browser, which display voxels hold a resolution themselves (uint8 0/1, packed, same order)."""
    small = block_mean(np.where(resolved, local_A, np.nan), grid)
    own = np.isfinite(small).astype(np.uint8)
    reached = reach_one_voxel(small).astype(np.float32)
    raw = mrc_bytes(reached, grid.geometry)
    return {"name": name, "mrc": packed(raw), "offset": len(raw) - reached.nbytes,
            "resolved": packed(own.tobytes())}  # fmt: skip
