"""The likelihood-ratio statistic (method.md §3) at every masked voxel for one wavelength.

LRS(v) = |Pᵀ R(v)|² / σ², where R(v) are the responses of the 20 separable filters of
:mod:`resmap_core.basis` at v. Two routes compute the responses over the bounding box of the
mask, in slabs along z so memory stays bounded:

- ``separable``: 1-D correlations along z, then y, then x (4 + 10 + 20 passes), the last pass
  only on (z, y) rows that contain masked voxels; cost grows with the window width 2r + 1;
- ``fft``: one forward FFT of the slab, then 20 inverse FFTs of its product with the separable
  filter spectra (outer products of 1-D spectra); cost independent of the window width.

:func:`choose_route` picks the cheaper one from a cost model of the box, the mask and the
window. It never looks at which voxels are still unresolved, so ``resmap local`` and the
workflow's per-wavelength jobs run the same route and give identical numbers.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from .basis import TRIPLES, LocalModel

_SLAB_BYTES = 96 * 1024 * 1024


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
    """Responses (20, n_points) at the masked points of one slab.

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
    out = np.empty((len(TRIPLES), int(cols_mask.sum())))
    for i, (a, b, c) in enumerate(TRIPLES):
        line = _valid_correlate(after_y[(a, b)], fx[c], 1, rx)
        out[i] = line[cols_mask]
    return out


def _fft_slab_responses(
    block: np.ndarray, rows: np.ndarray, cols_mask: np.ndarray, model: LocalModel
) -> np.ndarray:
    """The same responses as :func:`_slab_responses`, through FFTs of the whole block.

    Circular wrap-around touches only outputs within r of the block's faces: the margins,
    which are cropped away.
    """
    rz, ry, rx = model.radius_vox
    nz, ny, nx = block.shape
    spec = sfft.rfftn(np.asarray(block, dtype=np.float64), workers=1)
    kz, ky, kx = (
        _filter_spectra(ax.filters, n, r, full)
        for ax, n, r, full in zip(
            model.axes, (nz, ny, nx), (rz, ry, rx), (True, True, False), strict=True
        )
    )
    out = np.empty((len(TRIPLES), int(cols_mask.sum())))
    index = {t: i for i, t in enumerate(TRIPLES)}
    for a in range(4):
        along_z = spec * kz[a][:, None, None]
        for b in range(4 - a):
            along_y = along_z * ky[b][None, :, None]
            for c in range(4 - a - b):
                full = sfft.irfftn(along_y * kx[c][None, None, :], s=block.shape, workers=1)
                valid = full[rz : nz - rz, ry : ny - ry, rx : nx - rx]
                out[index[(a, b, c)]] = valid[rows[:, 0], rows[:, 1], :][cols_mask]
    return out


def _filter_spectra(filters: np.ndarray, n: int, radius: int, full: bool) -> np.ndarray:
    """Spectra (4, n or n//2+1) that turn a product with a block's FFT into a correlation."""
    padded = np.zeros((filters.shape[0], n))
    taps = np.arange(-radius, radius + 1) % n
    padded[:, taps] = filters
    transform = sfft.fft(padded, axis=1) if full else sfft.rfft(padded, axis=1)
    return np.conj(transform)


# Cost model (seconds per voxel of a slab), measured on the 2-core reference machine with
# 100–130³ slabs: the separable route pays a fixed ~250 ns per voxel (gathers, temporaries) plus
# ~0.15 ns per filter tap and output; one FFT costs ~1.1 ns per voxel and log2(voxels).
_SEPARABLE_FIXED = 250e-9
_SEPARABLE_PER_TAP = 0.15e-9
_FFT_PER_LOG_VOXEL = 1.1e-9


def choose_route(
    block_shape: tuple[int, int, int], row_fraction: float, radius: tuple[int, ...]
) -> str:
    """``separable`` or ``fft``, whichever the cost model says is cheaper for one slab.

    ``row_fraction`` is the fraction of (z, y) rows of the slab that hold mask voxels (the
    separable route's last pass runs on those rows only).
    """
    voxels = float(np.prod(block_shape))
    taps = [2 * r + 1 for r in radius]
    separable = voxels * (
        _SEPARABLE_FIXED
        + _SEPARABLE_PER_TAP * (4 * taps[0] + 10 * taps[1] + 20 * row_fraction * taps[2])
    )
    fft = voxels * _FFT_PER_LOG_VOXEL * 21 * math.log2(max(voxels, 2.0))
    return "fft" if fft < separable else "separable"


def _bounds(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index range of the True voxels along each axis (the bounding box)."""
    out = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=other))
        out.append((int(hits[0]), int(hits[-1]) + 1))
    return out


def lrs_at_mask(
    volume: np.ndarray,
    mask: np.ndarray,
    model: LocalModel,
    sigma2: float,
    threads: int | None = None,
    route: str | None = None,
) -> np.ndarray:
    """LRS at the voxels of ``mask`` in C order, shape (mask.sum(),), float64.

    ``volume`` is the analysed map [z, y, x]; voxels whose window leaves the box get NaN (they
    are not tested at this wavelength). ``sigma2`` is the noise variance of ``volume``.
    ``route`` forces ``separable`` or ``fft``; by default :func:`choose_route` decides once for
    the whole map from the box, the mask and the window.
    """
    if volume.shape != mask.shape:
        raise ValueError("volume and mask must have the same shape")
    valid = mask & interior_mask(volume.shape, model.radius_vox)
    result = np.full(int(mask.sum()), np.nan)
    if not valid.any():
        return result
    rz, ry, rx = model.radius_vox
    (z_first, z_last), (y0, y1), (x0, x1) = _bounds(valid)
    # a slab holds about 16 float64 planes' worth of intermediate arrays per output plane
    plane_bytes = 8 * (y1 - y0 + 2 * ry) * (x1 - x0 + 2 * rx) * 16
    thickness = max(1, min(z_last - z_first, _SLAB_BYTES // max(plane_bytes, 1)))
    starts = list(range(z_first, z_last, thickness))
    if route is None:
        rows_used = valid[z_first:z_last, y0:y1, x0:x1].any(axis=2).mean()
        shape = (thickness + 2 * rz, y1 - y0 + 2 * ry, x1 - x0 + 2 * rx)
        route = choose_route(shape, float(rows_used), model.radius_vox)
    compute = _fft_slab_responses if route == "fft" else _slab_responses

    def slab(z0: int) -> np.ndarray:
        z1 = min(z0 + thickness, z_last)
        block = volume[z0 - rz : z1 + rz, y0 - ry : y1 + ry, x0 - rx : x1 + rx]
        sub = valid[z0:z1, y0:y1, x0:x1]
        row_has = sub.any(axis=2)
        rows = np.argwhere(row_has)
        if rows.size == 0:
            return np.empty(0)
        responses = compute(block, rows, sub[row_has], model)
        coords = model.projection.T @ responses
        return np.einsum("ij,ij->j", coords, coords) / sigma2

    workers = max(1, threads or os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(slab, starts))
    values = np.concatenate(parts) if parts else np.empty(0)
    # Points come out slab by slab in C order of the valid voxels.
    valid_in_mask = valid[mask]
    result[valid_in_mask] = values
    return result
