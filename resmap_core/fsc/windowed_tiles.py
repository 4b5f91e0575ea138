"""The tile engine of the windowed FSC: FSC curves of many Hann-tapered boxes, sharing work
between neighbouring boxes (docs/fsc.md, "Speed").

A box of ``box`` voxels around centre c covers c − box//2 … c + box − box//2 − 1 on each axis
(zeros beyond the map edge) and is multiplied by a 3-D Hann taper. The taper and the DFT are
separable, so the tapered DFT of a box is computed axis by axis: the windowed x-transform of a
row (and then the windowed y-transform of those) is the same for every box that contains it.
Boxes are grouped in tiles of centres; each tile computes its rows' x and y transforms once, and
each box only adds its own z-transform. Shell sums are sparse products in a fixed order, so a
box's curve does not depend on threads, batch size or the other boxes computed with it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
from numpy.lib.stride_tricks import sliding_window_view
from scipy import sparse

from resmap_core.progress import Progress
from resmap_core.spectrum import make_shells, rfft_weights

DEFAULT_BATCH = 1024
# Box centres per tile along z, y, x: the x/y transforms of a tile's rows are shared by its boxes.
TILE_Z = 32
TILE_Y = 4
TILE_X = 128
# A plane of a tile whose boxes fill this fraction of its columns is computed whole (no gather).
DENSE_FRACTION = 0.75


@dataclass(frozen=True)
class BoxShells:
    """Shells of one box as a sparse (shells, box · box · (box//2 + 1)) summing matrix.

    Entry (s, j) is the full-spectrum multiplicity of flat rfftn coefficient j when it lies in
    shell s; coefficients beyond the last shell have no entry. A ``scipy.sparse`` product runs
    in one thread in a fixed order, so results do not depend on BLAS threads (a dense BLAS
    product does) nor on the batch size.
    """

    matrix: sparse.csr_matrix
    frequency_invA: np.ndarray  # shell centres, Å⁻¹


def hann_window(box: int) -> np.ndarray:
    """3-D Hann taper (box, box, box): product of sin²(π (r + ½) / box), r = 0 … box − 1."""
    w = np.sin(np.pi * (np.arange(box) + 0.5) / box) ** 2
    return w[:, None, None] * w[None, :, None] * w[None, None, :]


def box_shells(box: int, spacing_zyx_A: tuple[float, float, float], dtype: type) -> BoxShells:
    """Shells of a ``box``³ cube of voxels with the map's spacing (matrix in ``dtype``)."""
    shape = (box, box, box)
    shells = make_shells(shape, spacing_zyx_A)
    flat = shells.index.ravel()
    weights = np.broadcast_to(rfft_weights(shape), shells.index.shape).ravel()
    inside = np.flatnonzero(flat < shells.count)
    values = weights[inside].astype(dtype)
    matrix = sparse.csr_matrix((values, (flat[inside], inside)), shape=(shells.count, flat.size))
    return BoxShells(matrix, shells.frequency_invA)


def _padded_region(
    volume: np.ndarray, lo: np.ndarray, hi: np.ndarray, box: int, dtype: type
) -> np.ndarray:
    """Voxels lo − box//2 … hi − box//2 + box − 1 of ``volume`` (per axis, zeros beyond the map).

    ``lo``/``hi`` are the smallest and largest box centres [z, y, x] (voxels); the box around
    centre c starts at index c − lo on every axis of the result.
    """
    start = lo - box // 2
    stop = hi - box // 2 + box
    out = np.zeros(tuple(stop - start), dtype=dtype)
    inside = tuple(
        slice(max(a, 0), min(b, n)) for a, b, n in zip(start, stop, volume.shape, strict=True)
    )
    dst = tuple(slice(s.start - a, s.stop - a) for s, a in zip(inside, start, strict=True))
    out[dst] = volume[inside]
    return out


def _taper(box: int, dtype: type) -> np.ndarray:
    """1-D Hann taper sin²(π (r + ½) / box), r = 0 … box − 1 (``dtype``)."""
    return (np.sin(np.pi * (np.arange(box) + 0.5) / box) ** 2).astype(dtype)


def tile_groups(points: np.ndarray) -> list[np.ndarray]:
    """Rows of ``points`` grouped by tile (TILE_Z × TILE_Y × TILE_X voxels of box centres).

    Tiles bound the memory of the shared x/y transforms whatever the map size. A box's
    arithmetic does not depend on which tile or batch it is computed in.
    """
    cell = points // np.array([TILE_Z, TILE_Y, TILE_X])
    order = np.lexsort(cell.T[::-1])
    change = np.any(np.diff(cell[order], axis=0) != 0, axis=1)
    return np.split(order, np.flatnonzero(change) + 1)


def _tile_xy_spectra(
    padded: np.ndarray,
    tile: np.ndarray,
    box: int,
    taper: np.ndarray,
    pairs: np.ndarray,
    threads: int | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """x- and y-transforms of the tapered rows shared by the boxes of one tile.

    ``tile`` is (n, 3) [z, y, x] box centres, ``pairs`` flat (ky, kx) indices to keep. Returns
    (H, column, z0): H is (pairs, planes, rows · columns) complex, H[(ky, kx), z, j] =
    Σ_{ry, rx} w(ry) w(rx) e^{−2πi (ky ry + kx rx)/box} · padded[z0 + z, y_j + ry, x_j + rx]
    for every tile row y_j and column x_j (voxels); ``column`` is each point's j.
    """
    z0 = int(tile[:, 0].min())
    planes = int(tile[:, 0].max()) - z0 + box
    ys, y_of = np.unique(tile[:, 1], return_inverse=True)
    xs, x_of = np.unique(tile[:, 2], return_inverse=True)
    y0 = int(ys[0])
    slab = padded[z0 : z0 + planes, y0 : int(ys[-1]) + box]
    # Windowed real DFT along x of every row at every tile column (shared by all boxes there).
    rows = sliding_window_view(slab, box, axis=2)[:, :, xs] * taper
    hx = sfft.rfft(rows, axis=3, workers=threads, overwrite_x=True)  # (planes, Ys, X, K)
    # Windowed DFT along y at every tile row, laid out (ky, kx, plane, y, x) for the z stage.
    windows = sliding_window_view(hx, box, axis=1)[:, ys - y0]  # (planes, Y, X, K, ry)
    windows = np.transpose(windows, (4, 3, 0, 1, 2))  # (ry, K, planes, Y, X)
    cols = np.empty(windows.shape, dtype=hx.dtype)
    np.multiply(windows, taper[:, None, None, None, None], out=cols)
    hxy = sfft.fft(cols, axis=0, workers=threads, overwrite_x=True)
    hxy = hxy.reshape(-1, planes, len(ys) * len(xs))[pairs]
    return hxy, y_of * len(xs) + x_of, z0


def _box_spectra(
    hxy: np.ndarray,
    plane: int,
    columns: np.ndarray | slice,
    taper: np.ndarray,
    threads: int | None,
) -> np.ndarray:
    """Spectra of the tapered boxes starting at ``plane`` and ``columns`` of a tile's ``hxy``.

    ``columns`` is an index array or a slice (every column of a range: no gather needed).
    Returns real (pairs · box, 2n): (re, im) per box, rows in ((ky, kx), kz) order (see
    :func:`_shell_layout`).
    """
    box = len(taper)
    window = hxy[:, plane : plane + box]  # ((ky, kx), rz, column)
    if isinstance(columns, slice):
        picked = window[:, :, columns]
        spectra = np.empty(picked.shape, dtype=hxy.dtype)
        np.multiply(picked, taper[:, None], out=spectra)
    else:
        spectra = np.take(window, columns, axis=2)
        np.multiply(spectra, taper[:, None], out=spectra)
    spectra = sfft.fft(spectra, axis=1, workers=threads, overwrite_x=True)
    return spectra.reshape(-1, spectra.shape[2]).view(taper.dtype)


def _plane_batches(
    planes: np.ndarray, columns: np.ndarray, n_columns: int, batch: int
) -> list[tuple[int, np.ndarray | slice, np.ndarray, np.ndarray]]:
    """Batches of a tile's boxes as (plane, columns to compute, rows of the tile, their column
    in the batch). Where most columns of a plane are boxes, all of them are computed (a slice
    of ``hxy``, no gather) and the others dropped; otherwise only the boxes' columns are.
    """
    order = np.lexsort((columns, planes))
    starts = np.flatnonzero(np.diff(planes[order])) + 1
    out = []
    for rows in np.split(order, starts):
        plane, cols = int(planes[rows[0]]), columns[rows]
        if np.unique(cols).size >= DENSE_FRACTION * n_columns:
            for lo in range(0, n_columns, batch):
                keep = (cols >= lo) & (cols < lo + batch)
                hi = min(lo + batch, n_columns)
                out.append((plane, slice(lo, hi), rows[keep], cols[keep] - lo))
        else:
            for lo in range(0, len(rows), batch):
                part = rows[lo : lo + batch]
                out.append((plane, columns[part], part, np.arange(len(part))))
    return out


def _shell_layout(shells: BoxShells, box: int) -> tuple[np.ndarray, sparse.csr_matrix]:
    """(pairs, matrix): the flat (ky, kx) indices that reach a shell at some kz, and
    ``shells.matrix`` restricted to them with columns in ((ky, kx), kz) order (rfftn's order is
    (kz, ky, kx)). Coefficients beyond the last shell have no entry in the matrix, so leaving
    out the (ky, kx) pairs that are beyond it at every kz changes no sum.
    """
    half = box // 2 + 1
    order = np.arange(box * box * half).reshape(box, box * half).T  # ((ky, kx), kz)
    used = np.diff(shells.matrix.tocsc().indptr) > 0
    pairs = np.flatnonzero(used[order].any(axis=1))
    return pairs, shells.matrix[:, order[pairs].ravel()].tocsr()


def _run(pool: ThreadPoolExecutor | None, job: Callable, jobs: list[tuple]) -> list:
    """``[job(*args) for args in jobs]``, on ``pool`` when there is one."""
    if pool is None:
        return [job(*args) for args in jobs]
    return list(pool.map(lambda args: job(*args), jobs))


def _fsc_from_spectra(
    matrix: sparse.csr_matrix,
    a: np.ndarray,
    b: np.ndarray,
    buffers: list[np.ndarray],
    pool: ThreadPoolExecutor | None,
) -> np.ndarray:
    """FSC per shell (n, shells) float64 of the box spectra ``a``, ``b`` from :func:`_box_spectra`.

    Rows: coefficients; columns: (re, im) of each box. Shell sums of re·re' and im·im' are
    summed per box afterwards, which gives Σ Re(F1 F2*) and Σ |F|². The products go into reused
    ``buffers`` (three flat arrays of at least ``a.size``) so no fresh pages are touched.
    """

    def shell_sum(x: np.ndarray, y: np.ndarray, buffer: np.ndarray) -> np.ndarray:
        return matrix @ np.multiply(x, y, out=buffer[: x.size].reshape(x.shape))

    pairs = [(a, b, buffers[0]), (a, a, buffers[1]), (b, b, buffers[2])]
    cross, p1, p2 = (
        s[:, 0::2].astype(np.float64) + s[:, 1::2] for s in _run(pool, shell_sum, pairs)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return (cross / np.sqrt(p1 * p2)).T


def local_fsc_curves(
    half1: np.ndarray,
    half2: np.ndarray,
    points: np.ndarray,
    box: int,
    spacing_zyx_A: tuple[float, float, float],
    threads: int | None = None,
    batch: int = DEFAULT_BATCH,
    dtype: type = np.float32,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """FSC per box shell at each point: (curves (n, shells), shell frequencies Å⁻¹).

    ``points`` are (n, 3) voxel indices [z, y, x]. The 3-D taper and DFT are separable, so the
    boxes of a tile (TILE_Z planes × TILE_Y rows of centres) share the windowed x- and
    y-transforms of their rows; each box then needs only its z-transform, done in batches of
    ``batch`` boxes (~ 35 kB per box and map at float32). The arithmetic for a box depends only
    on its own coordinates, so results do not depend on ``threads``, ``batch`` or the other
    points. ``dtype`` is the FFT precision (float32 by default; float64 for reference).
    """
    shells = box_shells(box, spacing_zyx_A, dtype)
    pairs, matrix = _shell_layout(shells, box)
    taper = _taper(box, dtype)
    points = np.asarray(points, dtype=np.int64).reshape(-1, 3)
    n = len(points)
    lo, hi = (points.min(axis=0), points.max(axis=0)) if n else (np.zeros(3, int),) * 2
    maps = [_padded_region(half, lo, hi, box, dtype) for half in (half1, half2)]
    tiles = tile_groups(points) if n else []
    points = points - lo
    out = np.empty((n, shells.frequency_invA.size), dtype=np.float64)
    workers = max(1, threads or 1)
    # The two half maps go through their (single-threaded) gathers and products side by side;
    # each box's arithmetic is the same whichever thread runs it.
    pool = ThreadPoolExecutor(2) if workers > 1 else None
    fft_threads = max(1, workers // 2)
    size = len(pairs) * box * 2 * batch
    buffers = [np.empty(size, dtype=dtype) for _ in range(3)]
    done = 0
    try:
        for tile in tiles:
            tile_points = points[tile]
            jobs = [(m, tile_points, box, taper, pairs, fft_threads) for m in maps]
            (hxy1, columns, z0), (hxy2, _, _) = _run(pool, _tile_xy_spectra, jobs)
            planes = tile_points[:, 0] - z0
            for plane, cols, rows, at in _plane_batches(planes, columns, hxy1.shape[2], batch):
                args = (plane, cols, taper, fft_threads)
                a, b = _run(pool, _box_spectra, [(hxy1, *args), (hxy2, *args)])
                out[tile[rows]] = _fsc_from_spectra(matrix, a, b, buffers, pool)[at]
            done += len(tile)
            if progress is not None:
                progress.bar(done, n, "windowed FSC boxes")
    finally:
        if pool is not None:
            pool.shutdown()
    return out, shells.frequency_invA
