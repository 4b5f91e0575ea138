"""The likelihood-ratio statistic (method.md §3) at every masked voxel for one wavelength.

LRS(v) = |Pᵀ R(v)|² / σ², where R(v) are the responses of the 20 separable filters of
:mod:`resmap_core.localres.basis` at v. Two routes compute the responses over the bounding box
of the mask, in slabs along z so memory stays bounded:

- ``separable``: 1-D correlations along z, then y, then x (4 + 10 + 20 passes) as banded
  matrix products (BLAS), the last pass only on (z, y) rows that contain masked voxels; cost
  grows with the window width 2r + 1;
- ``fft``: one forward FFT of the slab, then 20 inverse FFTs of its product with the separable
  filter spectra (outer products of 1-D spectra); cost independent of the window width.

:func:`choose_route` picks the cheaper one from a cost model of the box, the mask and the
window. It never looks at which voxels are still unresolved, so ``resmap local`` and the
workflow's per-wavelength jobs run the same route and give identical numbers.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.fft as sfft
from numpy.lib.stride_tricks import as_strided
from threadpoolctl import threadpool_limits

from resmap_core.localres.basis import TRIPLES, LocalModel

_SLAB_BYTES_MIN = 8 * 1024 * 1024
_SLAB_BYTES_MAX = 64 * 1024 * 1024
"""Temporaries of one slab (per worker thread): a quarter of the float32 map, within these."""


def _banded(filters: np.ndarray, n_out: int) -> np.ndarray:
    """Correlation as a matrix: K (nf, n_out, n_out + 2r) with K[f, o, o + k] = filters[f, k].

    ``K[f] @ x`` gives the valid part of the correlation of ``x`` with ``filters[f]``.
    """
    nf, taps = filters.shape
    out = np.zeros((nf, n_out, n_out + taps - 1))
    for o in range(n_out):
        out[:, o, o : o + taps] = filters
    return out


def _windows(arr: np.ndarray, axis: int, step: int, length: int) -> np.ndarray:
    """Read-only overlapping windows of ``length`` every ``step`` along ``axis`` (no copy).

    The axis of size n becomes two axes (n_windows, length), n_windows = (n − length)/step + 1.
    """
    count = (arr.shape[axis] - length) // step + 1
    shape = arr.shape[:axis] + (count, length) + arr.shape[axis + 1 :]
    st = arr.strides
    strides = st[:axis] + (step * st[axis], st[axis]) + st[axis + 1 :]
    return as_strided(arr, shape=shape, strides=strides, writeable=False)


_TILE = 16
"""Output rows per tile of the banded products along y and x (measured: 16–24 is the optimum)."""
_ROW_BATCH = 128
"""(z, y) rows per batch of the last (x) pass, which keeps its temporaries small."""


class _Scratch(threading.local):
    """Per-thread work arrays reused from slab to slab.

    Fresh slab-sized arrays of a large map are above malloc's mmap threshold, so every slab
    would map and fault in new pages (on 512³ maps the kernel time rivalled the arithmetic).
    """

    def __init__(self) -> None:
        self.buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """An uninitialised float64 array of ``shape`` (valid until the next get of ``name``)."""
        size = math.prod(shape)
        buf = self.buffers.get(name)
        if buf is None or buf.size < size:
            buf = self.buffers[name] = np.empty(size)
        return buf[:size].reshape(shape)


_scratch = _Scratch()


def _rows_along_zy(
    block: np.ndarray, rows: np.ndarray, model: LocalModel
) -> dict[tuple[int, int], np.ndarray]:
    """Correlations along z (filter a), then y (filter b), a + b ≤ 3, at the masked rows.

    ``block`` is the slab with margins r on every side; it is zero-padded to whole tiles of
    ``_TILE`` outputs along y and x. Returns {(a, b): (len(rows), tiles_x·_TILE + 2r_x)}, one
    line along x (margins included) per output row listed in ``rows`` (z, y), float64.
    """
    rz, ry, rx = model.radius_vox
    fz, fy = model.axes[0].filters, model.axes[1].filters
    bz, by, bx = block.shape
    tz = bz - 2 * rz
    tiles_y = -(-(by - 2 * ry) // _TILE)
    tiles_x = -(-(bx - 2 * rx) // _TILE)
    ny, nx = tiles_y * _TILE + 2 * ry, tiles_x * _TILE + 2 * rx
    padded = _scratch.get("padded", (bz, ny, nx))
    padded[:, by:, :] = 0.0  # zero rows/columns feed discarded outputs only
    padded[:, :by, bx:] = 0.0
    padded[:, :by, :bx] = block
    along_z = np.matmul(
        _banded(fz, tz).reshape(4 * tz, bz),
        padded.reshape(bz, ny * nx),
        out=_scratch.get("along_z", (4 * tz, ny * nx)),
    ).reshape(4, tz, ny, nx)
    ky = _banded(fy, _TILE)
    row_index = rows[:, 0] * (tiles_y * _TILE) + rows[:, 1]
    along_y: dict[tuple[int, int], np.ndarray] = {}
    for a in range(4):
        tiles = _windows(along_z[a], 1, _TILE, _TILE + 2 * ry)  # (tz, tiles_y, T + 2ry, nx)
        for b in range(4 - a):
            full = np.matmul(ky[b], tiles, out=_scratch.get("full", (tz, tiles_y, _TILE, nx)))
            along_y[(a, b)] = full.reshape(-1, nx).take(
                row_index, axis=0, out=_scratch.get(f"y{a}{b}", (len(rows), nx))
            )
    return along_y


def _occupied_tiles(cols_mask: np.ndarray, tiles_x: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, tile) indices, in C order, of the x tiles of ``_TILE`` columns holding a masked
    point, and the mask inside each of them (count, ``_TILE``): empty tiles are never computed.
    """
    n_rows, width = cols_mask.shape
    padded = np.zeros((n_rows, tiles_x * _TILE), dtype=bool)
    padded[:, :width] = cols_mask
    per_tile = padded.reshape(n_rows, tiles_x, _TILE)
    rows, tiles = np.nonzero(per_tile.any(axis=2))
    return np.stack([rows, tiles]), per_tile[rows, tiles]


def _energy_along_x(
    along_y: dict[tuple[int, int], np.ndarray], cols_mask: np.ndarray, model: LocalModel
) -> np.ndarray:
    """|Pᵀ R|² at the masked points (C order) from the lines of :func:`_rows_along_zy`.

    The x correlations (filter c) run on the x tiles of ``_TILE`` columns that hold masked
    points, ``_ROW_BATCH`` × tiles_x tiles at a time; ``cols_mask`` (len(rows), output width)
    marks the masked points of each row. The projection runs on the two parity blocks of
    :attr:`LocalModel.parity_blocks`.
    """
    rx = model.radius_vox[2]
    tiles_x = (along_y[(0, 0)].shape[1] - 2 * rx) // _TILE
    kx = np.ascontiguousarray(_banded(model.axes[2].filters, _TILE).transpose(0, 2, 1))
    order, p_even, p_odd = model.parity_blocks
    slot = np.argsort(order)  # where each TRIPLES response goes: even ones first
    (tile_rows, tile_cols), inside = _occupied_tiles(cols_mask, tiles_x)
    parts = []
    batch = _ROW_BATCH * tiles_x
    for t0 in range(0, len(tile_rows), batch):
        rows, cols = tile_rows[t0 : t0 + batch], tile_cols[t0 : t0 + batch]
        responses = _scratch.get("responses", (len(TRIPLES), len(rows), _TILE))
        tiles = _scratch.get("tiles", (len(rows), _TILE + 2 * rx))
        for i, (a, b, c) in enumerate(TRIPLES):
            if c == 0:  # TRIPLES runs through c fastest: one tile gather per (a, b)
                lines = _windows(along_y[(a, b)], 1, _TILE, _TILE + 2 * rx)
                np.copyto(tiles, lines[rows, cols])
            np.matmul(tiles, kx[c], out=responses[slot[i]])
        flat = responses.reshape(len(TRIPLES), len(rows) * _TILE)
        even = np.matmul(
            p_even.T, flat[: len(p_even)], out=_scratch.get("even", (6, flat.shape[1]))
        )
        odd = np.matmul(p_odd.T, flat[len(p_even) :], out=_scratch.get("odd", (10, flat.shape[1])))
        energy = np.einsum("ij,ij->j", even, even) + np.einsum("ij,ij->j", odd, odd)
        parts.append(energy.reshape(len(rows), _TILE)[inside[t0 : t0 + batch]])
    return np.concatenate(parts)


def _separable_slab_energy(
    block: np.ndarray, rows: np.ndarray, cols_mask: np.ndarray, model: LocalModel
) -> np.ndarray:
    """|Pᵀ R|² at the masked points of one slab, in C order (multiply by 1/σ² for the LRS).

    ``block`` holds the input with margins r on every side of the slab's output region;
    ``rows`` are the (z, y) output rows that contain masked points and ``cols_mask`` the
    boolean mask restricted to those rows, shape (len(rows), n_x). The 1-D correlations run as
    products with banded matrices (BLAS): z over the whole slab, y in tiles of ``_TILE`` rows,
    x in tiles of ``_TILE`` columns on the masked rows only; all in double precision.
    """
    return _energy_along_x(_rows_along_zy(block, rows, model), cols_mask, model)


def _fft_slab_energy(
    block: np.ndarray, rows: np.ndarray, cols_mask: np.ndarray, model: LocalModel
) -> np.ndarray:
    """The same as :func:`_separable_slab_energy`, through FFTs of the whole block.

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
    responses = np.empty((len(TRIPLES), int(cols_mask.sum())))
    index = {t: i for i, t in enumerate(TRIPLES)}
    for a in range(4):
        along_z = spec * kz[a][:, None, None]
        for b in range(4 - a):
            along_y = along_z * ky[b][None, :, None]
            for c in range(4 - a - b):
                full = sfft.irfftn(along_y * kx[c][None, None, :], s=block.shape, workers=1)
                valid = full[rz : nz - rz, ry : ny - ry, rx : nx - rx]
                responses[index[(a, b, c)]] = valid[rows[:, 0], rows[:, 1], :][cols_mask]
    coords = model.projection.T @ responses
    return np.einsum("ij,ij->j", coords, coords)


def _filter_spectra(filters: np.ndarray, n: int, radius: int, full: bool) -> np.ndarray:
    """Spectra (4, n or n//2+1) that turn a product with a block's FFT into a correlation."""
    padded = np.zeros((filters.shape[0], n))
    taps = np.arange(-radius, radius + 1) % n
    padded[:, taps] = filters
    transform = sfft.fft(padded, axis=1) if full else sfft.rfft(padded, axis=1)
    return np.conj(transform)


# Cost model (seconds per output voxel of a slab, one thread), fitted to single-slab timings on
# the 2-core reference machine (planes of 128–210 voxels, r = 7–40): the separable route pays
# ~50 ns per voxel (padding, gathers, the projection) plus ~0.08 ns per column of its three
# banded products (4·(t + 2r_z), 10·(T + 2r_y) and 20·(T + 2r_x) multiply-adds per voxel); the
# FFT route pays 21 transforms of the whole block, margins included (~0.5–1 ns per voxel and
# log2(voxels) each). With slabs bounded in memory the FFT route only wins for windows of
# hundreds of voxels; the separable route is the one real maps take.
_SEPARABLE_FIXED = 50e-9
_SEPARABLE_PER_COLUMN = 0.08e-9
_FFT_PER_LOG_VOXEL = 0.8e-9


def choose_route(
    block_shape: tuple[int, int, int], row_fraction: float, radius: tuple[int, ...]
) -> str:
    """``separable`` or ``fft``, whichever the cost model says is cheaper for one slab.

    ``block_shape`` is the slab with its margins; ``row_fraction`` the fraction of its (z, y)
    rows that hold mask voxels (the separable route's last pass runs on those rows only).
    """
    rz, ry, rx = radius
    out_voxels = float(
        (block_shape[0] - 2 * rz) * (block_shape[1] - 2 * ry) * (block_shape[2] - 2 * rx)
    )
    columns = 4 * block_shape[0] + 10 * (_TILE + 2 * ry) + 20 * row_fraction * (_TILE + 2 * rx)
    separable = out_voxels * (_SEPARABLE_FIXED + _SEPARABLE_PER_COLUMN * columns)
    voxels = float(np.prod(block_shape))
    fft = voxels * _FFT_PER_LOG_VOXEL * 21 * math.log2(max(voxels, 2.0))
    return "fft" if fft < separable else "separable"


def _interior_bounds(mask: np.ndarray, radius_vox: tuple[int, ...]) -> list[tuple[int, int]] | None:
    """Half-open bounding box of the mask voxels whose window fits in the box (None if none)."""
    inner = tuple(slice(r, n - r) for n, r in zip(mask.shape, radius_vox, strict=True))
    if any(s.stop <= s.start for s in inner):
        return None
    core = mask[inner]
    out = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hits = np.flatnonzero(core.any(axis=other))
        if hits.size == 0:
            return None
        out.append((inner[axis].start + int(hits[0]), inner[axis].start + int(hits[-1]) + 1))
    return out


def _slab_thickness(route: str, plane_voxels: int, rz: int, map_voxels: int) -> int:
    """Output planes per slab so that one slab's temporaries stay near its byte budget.

    The budget is a quarter of the float32 map, at least 8 and at most 64 MiB per thread.

    Separable: ~16 double planes per output plane (the z products and the gathered y
    products) plus the 2r_z + 1 double input planes; thin slabs cost little because the
    z product only reads the margins. FFT: ~6 double planes per block plane, margins included,
    so its slabs are thicker to amortise them.
    """
    budget = min(max(map_voxels, _SLAB_BYTES_MIN), _SLAB_BYTES_MAX)  # 4 bytes/voxel ÷ 4
    plane = 8 * plane_voxels
    if route == "separable":
        return int(max(1, min(16, (budget - plane * (2 * rz + 1)) // (16 * plane))))
    return int(max(2 * rz + 1, budget // (6 * plane) - 2 * rz))


def _plan_slabs(
    mask: np.ndarray,
    bounds: list[tuple[int, int]],
    radius_vox: tuple[int, ...],
    route: str | None,
) -> tuple[str, int]:
    """(route, output planes per slab) over the interior bounding box ``bounds`` (z, y, x).

    ``route`` None: :func:`choose_route` decides for a separable-sized slab from the fraction
    of (z, y) rows holding mask voxels. The thickness is capped at the box's z extent.
    """
    rz, ry, rx = radius_vox
    (z_first, z_last), (y0, y1), (x0, x1) = bounds
    plane_voxels = (y1 - y0 + 2 * ry) * (x1 - x0 + 2 * rx)
    if route is None:
        thickness = _slab_thickness("separable", plane_voxels, rz, mask.size)
        rows_used = float(mask[z_first:z_last, y0:y1, x0:x1].any(axis=2).mean())
        shape = (thickness + 2 * rz, y1 - y0 + 2 * ry, x1 - x0 + 2 * rx)
        route = choose_route(shape, rows_used, radius_vox)
    thickness = min(_slab_thickness(route, plane_voxels, rz, mask.size), z_last - z_first)
    return route, thickness


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
    the whole map from the box, the mask and the window. Slabs along z are computed by
    ``threads`` workers (BLAS single-threaded inside them) and written straight into the
    result, so memory stays at the result plus a few slabs.
    """
    if volume.shape != mask.shape:
        raise ValueError("volume and mask must have the same shape")
    result = np.full(int(mask.sum()), np.nan)
    bounds = _interior_bounds(mask, model.radius_vox)
    if bounds is None:
        return result
    rz, ry, rx = model.radius_vox
    (z_first, z_last), (y0, y1), (x0, x1) = bounds
    route, thickness = _plan_slabs(mask, bounds, model.radius_vox, route)
    compute = _fft_slab_energy if route == "fft" else _separable_slab_energy
    # where each plane's mask voxels start in the C-order list of mask voxels
    plane_start = np.concatenate([[0], np.cumsum(mask.sum(axis=(1, 2)))])

    def slab(z0: int) -> None:
        z1 = min(z0 + thickness, z_last)
        in_mask = mask[z0:z1]
        sub = np.zeros_like(in_mask)
        sub[:, y0:y1, x0:x1] = in_mask[:, y0:y1, x0:x1]
        positions = plane_start[z0] + np.flatnonzero(sub[in_mask])
        sub = sub[:, y0:y1, x0:x1]
        row_has = sub.any(axis=2)
        rows = np.argwhere(row_has)
        if rows.size == 0:
            return
        block = volume[z0 - rz : z1 + rz, y0 - ry : y1 + ry, x0 - rx : x1 + rx]
        result[positions] = compute(block, rows, sub[row_has], model) / sigma2

    workers = max(1, threads or os.cpu_count() or 1)
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(slab, range(z_first, z_last, thickness)))
    return result
