"""The likelihood-ratio statistic (method.md §3) at every masked voxel for one wavelength.

LRS(v) = |Pᵀ R(v)|² / σ², where R(v) are the responses of the 20 separable filters of
:mod:`resmap_core.basis` at v. The responses are computed by 1-D correlations along z, then
y, then x (4 + 10 + 20 passes), restricted to the bounding box of the mask and processed in
slabs along z so memory stays bounded; the last pass runs only on (z, y) rows that contain
masked voxels. The work depends on the box and the mask only — never on which voxels are still
unresolved — so every route gives the same numbers.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import ndimage

from .basis import TRIPLES, LocalModel

_SLAB_BYTES = 48 * 1024 * 1024


def interior_mask(shape: tuple[int, int, int], radius_vox: tuple[int, ...]) -> np.ndarray:
    """Voxels whose whole (2r+1) window lies inside the box, shape ``shape``."""
    inside = np.zeros(shape, dtype=bool)
    rz, ry, rx = radius_vox
    nz, ny, nx = shape
    if nz > 2 * rz and ny > 2 * ry and nx > 2 * rx:
        inside[rz : nz - rz, ry : ny - ry, rx : nx - rx] = True
    return inside


def _valid_correlate(data: np.ndarray, weights: np.ndarray, axis: int, radius: int) -> np.ndarray:
    """Correlation along ``axis`` keeping only outputs whose window lies inside ``data``."""
    # float32 input is read as is (ndimage works in double internally): exact and faster.
    out = ndimage.correlate1d(
        data, weights, axis=axis, output=np.float64, mode="constant", cval=0.0
    )
    index = [slice(None)] * data.ndim
    index[axis] = slice(radius, data.shape[axis] - radius)
    return out[tuple(index)]


def _slab_responses(
    block: np.ndarray, rows: np.ndarray, cols_mask: np.ndarray, model: LocalModel
) -> np.ndarray:
    """Responses (n_points, 20) at the masked points of one slab.

    ``block`` holds the input with margins r on every side of the slab's output region;
    ``rows`` are the (z, y) output rows that contain masked points and ``cols_mask`` the
    boolean mask restricted to those rows, shape (len(rows), n_x).
    """
    rz, ry, rx = model.radius_vox
    fz, fy, fx = (ax.filters for ax in model.axes)
    after_z = [_valid_correlate(block, fz[a], 0, rz) for a in range(4)]
    after_y: dict[tuple[int, int], np.ndarray] = {}
    for a in range(4):
        for b in range(4 - a):
            full = _valid_correlate(after_z[a], fy[b], 1, ry)
            after_y[(a, b)] = full[rows[:, 0], rows[:, 1], :]
    out = np.empty((int(cols_mask.sum()), len(TRIPLES)))
    for i, (a, b, c) in enumerate(TRIPLES):
        line = _valid_correlate(after_y[(a, b)], fx[c], 1, rx)
        out[:, i] = line[cols_mask]
    return out


def lrs_at_mask(
    volume: np.ndarray,
    mask: np.ndarray,
    model: LocalModel,
    sigma2: float,
    threads: int | None = None,
) -> np.ndarray:
    """LRS at the voxels of ``mask`` in C order, shape (mask.sum(),), float64.

    ``volume`` is the analysed map [z, y, x]; voxels whose window leaves the box get NaN (they
    are not tested at this wavelength). ``sigma2`` is the noise variance of ``volume``.
    """
    if volume.shape != mask.shape:
        raise ValueError("volume and mask must have the same shape")
    valid = mask & interior_mask(volume.shape, model.radius_vox)
    result = np.full(int(mask.sum()), np.nan)
    if not valid.any():
        return result
    rz, ry, rx = model.radius_vox
    zs, ys, xs = np.nonzero(valid)
    y0, y1 = int(ys.min()), int(ys.max()) + 1
    x0, x1 = int(xs.min()), int(xs.max()) + 1
    z_first, z_last = int(zs.min()), int(zs.max()) + 1
    plane_bytes = 8 * (y1 - y0 + 2 * ry) * (x1 - x0 + 2 * rx) * 6
    thickness = max(1, min(z_last - z_first, _SLAB_BYTES // max(plane_bytes, 1)))
    starts = list(range(z_first, z_last, thickness))

    def slab(z0: int) -> np.ndarray:
        z1 = min(z0 + thickness, z_last)
        block = volume[z0 - rz : z1 + rz, y0 - ry : y1 + ry, x0 - rx : x1 + rx]
        sub = valid[z0:z1, y0:y1, x0:x1]
        row_has = sub.any(axis=2)
        rows = np.argwhere(row_has)
        if rows.size == 0:
            return np.empty(0)
        responses = _slab_responses(block, rows, sub[row_has], model)
        coords = responses @ model.projection
        return np.einsum("ij,ij->i", coords, coords) / sigma2

    workers = max(1, threads or os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(slab, starts))
    values = np.concatenate(parts) if parts else np.empty(0)
    # Points come out slab by slab in C order of the valid voxels.
    valid_in_mask = valid[mask]
    result[valid_in_mask] = values
    return result
