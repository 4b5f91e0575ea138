"""Windowed (local) FSC between half maps, blocres-style, batched through vectorised FFTs.

At each sampled voxel c a cube of ``box`` voxels is cut from both half maps (voxels
c − box//2 … c + box − box//2 − 1 along each axis; zeros beyond the map edge), multiplied by a
3-D Hann taper, Fourier transformed, and correlated shell by shell (shells of the box, see
:func:`resmap_core.spectrum.make_shells`, full-spectrum weights). The local resolution is where
the FSC first falls below the cutoff, interpolated linearly between shells (FSC of shell 0 taken
as 1); the box's Nyquist resolution when it never does. Voxels are sampled on the grid
``index % step == 0`` inside the mask; every other mask voxel takes the value of its nearest
sampled voxel (Euclidean distance in Å; ties broken by the distance transform, deterministic).
See docs/fsc.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage, sparse

from .fsc import RANDOMISE_BELOW, first_shell_below, fsc_curve, randomise_phases_beyond
from .progress import Progress
from .spectrum import frequency_magnitude, make_shells, rfft_weights

DEFAULT_BOX = 20
DEFAULT_STEP = 2
DEFAULT_BATCH = 1024
# Box centres per tile along z and y: the x/y transforms of a tile's rows are shared by its boxes.
TILE_Z = 16
TILE_Y = 4
CUTOFFS = (0.5, 0.143)


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


def sample_points(mask: np.ndarray, step: int) -> np.ndarray:
    """Mask voxels on the grid ``index % step == 0`` as (n, 3) int64 [z, y, x], C order.

    A mask too small to hold a grid voxel is sampled at every mask voxel.
    """
    grid = np.zeros(mask.shape, dtype=bool)
    grid[::step, ::step, ::step] = True
    points = np.argwhere(mask & grid)
    return points if len(points) else np.argwhere(mask)


def _padded(volume: np.ndarray, box: int, dtype: type) -> np.ndarray:
    """``volume`` zero-padded by box//2 before and box − box//2 after on every axis.

    In padded coordinates the box around voxel c starts at c on every axis.
    """
    before = box // 2
    return np.pad(np.asarray(volume, dtype=dtype), ((before, box - before),) * 3)


def _taper(box: int, dtype: type) -> np.ndarray:
    """1-D Hann taper sin²(π (r + ½) / box), r = 0 … box − 1 (``dtype``)."""
    return (np.sin(np.pi * (np.arange(box) + 0.5) / box) ** 2).astype(dtype)


def _tiles(points: np.ndarray) -> list[np.ndarray]:
    """Rows of ``points`` grouped by tile (TILE_Z planes × TILE_Y rows of box centres), in order.

    Tiles are fixed by the point coordinates alone, so the work done for a box never depends on
    the batch size, the thread count or which other points are asked for.
    """
    key = (points[:, 0] // TILE_Z) * (points[:, 1].max() // TILE_Y + 1) + points[:, 1] // TILE_Y
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    return np.split(order, bounds)


def _tile_xy_spectra(
    padded: np.ndarray, tile: np.ndarray, box: int, taper: np.ndarray, threads: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x- and y-transforms of the tapered rows shared by the boxes of one tile.

    ``tile`` is (n, 3) [z, y, x] box centres. Returns (H, column, z0): H is (box, box//2 + 1,
    planes, rows · columns) complex, H[ky, kx, z, j] = Σ_{ry, rx} w(ry) w(rx) e^{−2πi (ky ry +
    kx rx)/box} · padded[z0 + z, y_j + ry, x_j + rx] for every tile row y_j and column x_j
    (voxels); ``column`` is each point's j.
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
    hxy = hxy.reshape(box, hxy.shape[1], planes, -1)
    return hxy, y_of * len(xs) + x_of, z0


def _box_spectra(
    hxy: np.ndarray,
    planes: np.ndarray,
    columns: np.ndarray,
    taper: np.ndarray,
    threads: int | None,
) -> np.ndarray:
    """Spectra of the tapered boxes starting at ``planes``/``columns`` of a tile's ``hxy``.

    Returns real (box · (box//2 + 1) · box, 2n): (re, im) per box, rows in (ky, kx, kz) order
    (see :func:`_zlast_shells`).
    """
    box, half, n_planes, n_columns = hxy.shape
    flat = hxy.reshape(box, half, n_planes * n_columns)
    start = planes * n_columns + columns
    index = start[None, :] + (np.arange(box) * n_columns)[:, None]  # (rz, n)
    spectra = np.take(flat, index, axis=2)  # (ky, kx, rz, n), C order
    np.multiply(spectra, taper[:, None], out=spectra)
    spectra = sfft.fft(spectra, axis=2, workers=threads, overwrite_x=True)
    return spectra.reshape(-1, len(planes)).view(taper.dtype)


def _zlast_shells(shells: BoxShells, box: int) -> sparse.csr_matrix:
    """``shells.matrix`` with its columns in (ky, kx, kz) order instead of rfftn's (kz, ky, kx)."""
    order = np.arange(box * box * (box // 2 + 1)).reshape(box, box, box // 2 + 1)
    return shells.matrix[:, order.transpose(1, 2, 0).ravel()].tocsr()


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
    matrix = _zlast_shells(shells, box)
    taper = _taper(box, dtype)
    maps = [_padded(half, box, dtype) for half in (half1, half2)]
    points = np.asarray(points, dtype=np.int64).reshape(-1, 3)
    n = len(points)
    out = np.empty((n, shells.frequency_invA.size), dtype=np.float64)
    done = 0
    for tile in _tiles(points) if n else []:
        tile_points = points[tile]
        shared = [_tile_xy_spectra(m, tile_points, box, taper, threads) for m in maps]
        hxy1, columns, z0 = shared[0]
        hxy2 = shared[1][0]
        planes = tile_points[:, 0] - z0
        for lo in range(0, len(tile), batch):
            sel = slice(lo, lo + batch)
            a = _box_spectra(hxy1, planes[sel], columns[sel], taper, threads)
            b = _box_spectra(hxy2, planes[sel], columns[sel], taper, threads)
            # Rows: coefficients; columns: (re, im) of each box. Shell sums of re·re' and
            # im·im' are summed per box afterwards, which gives Σ Re(F1 F2*) and Σ |F|².
            sums = [matrix @ (x * y) for x, y in ((a, b), (a, a), (b, b))]
            cross, p1, p2 = (s[:, 0::2].astype(np.float64) + s[:, 1::2] for s in sums)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[tile[sel]] = (cross / np.sqrt(p1 * p2)).T
        done += len(tile)
        if progress is not None:
            progress.bar(done, n, "windowed FSC boxes")
    return out, shells.frequency_invA


def resolution_from_curves(
    curves: np.ndarray, frequency_invA: np.ndarray, cutoff: float
) -> np.ndarray:
    """Resolution (Å) per row of ``curves`` (n, shells) where the FSC first falls below ``cutoff``.

    Interpolated linearly in frequency between the last shell above and the first below (shell 0
    counts as FSC 1); the last shell's resolution when the curve never falls below. NaN FSC
    (an all-zero box) counts as below.
    """
    c = np.array(curves, dtype=np.float64)
    c[:, 0] = 1.0
    below = ~(c >= cutoff)
    below[:, 0] = False
    has = below.any(axis=1)
    i = np.where(has, np.argmax(below, axis=1), c.shape[1] - 1)
    rows = np.arange(len(c))
    hi = i
    lo = np.maximum(hi - 1, 0)
    c_lo, c_hi = c[rows, lo], np.nan_to_num(c[rows, hi], nan=-1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.clip((c_lo - cutoff) / (c_lo - c_hi), 0.0, 1.0)
    f = frequency_invA[lo] + t * (frequency_invA[hi] - frequency_invA[lo])
    f = np.where(has, f, frequency_invA[-1])
    return 1.0 / f


def correct_local_curves(
    curves: np.ndarray, randomised: np.ndarray, frequency_invA: np.ndarray, from_invA: float
) -> np.ndarray:
    """(FSC − FSC_rand)/(1 − FSC_rand) in box shells above ``from_invA`` Å⁻¹; FSC below it."""
    with np.errstate(invalid="ignore", divide="ignore"):
        true = (curves - randomised) / (1.0 - randomised)
    return np.where(frequency_invA[None, :] > from_invA, true, curves)


def nearest_sample(
    mask: np.ndarray, points: np.ndarray, spacing_zyx_A: tuple[float, float, float]
) -> np.ndarray:
    """For each mask voxel (C order), the row in ``points`` of its nearest sampled voxel.

    Euclidean distance in Å (``scipy.ndimage.distance_transform_edt``, deterministic ties),
    computed on the mask's bounding box only (every sample lies inside the mask).
    """
    inside = np.argwhere(mask)
    lo, hi = inside.min(axis=0), inside.max(axis=0) + 1
    crop = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    sample_id = np.full(tuple(hi - lo), -1, dtype=np.int64)
    sample_id[tuple((points - lo).T)] = np.arange(len(points))
    if len(points) == len(inside):
        return sample_id[mask[crop]]
    nearest = ndimage.distance_transform_edt(
        sample_id < 0, sampling=spacing_zyx_A, return_distances=False, return_indices=True
    )
    return sample_id[tuple(ix[mask[crop]] for ix in nearest)]


def fill_from_samples(
    mask: np.ndarray,
    values: np.ndarray,
    nearest: np.ndarray,
) -> np.ndarray:
    """Map (float64, NaN outside ``mask``): mask voxel i gets ``values[nearest[i]]``."""
    out = np.full(mask.shape, np.nan)
    out[mask] = values[nearest]
    return out


def randomised_halves(
    half1: np.ndarray,
    half2: np.ndarray,
    spacing_zyx_A: tuple[float, float, float],
    seed: int,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Half maps with phases randomised beyond the global unmasked-FSC 0.8 shell (RELION).

    Returns (random1, random2, randomise_from_invA).
    """
    shape = half1.shape
    shells = make_shells(shape, spacing_zyx_A)
    unmasked = fsc_curve(half1, half2, spacing_zyx_A, threads)
    start = first_shell_below(unmasked, RANDOMISE_BELOW)
    start = shells.count if start is None else start
    radius = frequency_magnitude(shape, spacing_zyx_A) / shells.step_invA
    rng = np.random.default_rng(seed)
    out = []
    for half in (half1, half2):
        f = sfft.rfftn(np.asarray(half, dtype=np.float64), workers=threads)
        f = randomise_phases_beyond(f, radius, start, rng)
        out.append(sfft.irfftn(f, shape, workers=threads))
    return out[0], out[1], start * shells.step_invA


def windowed_fsc(
    half1: np.ndarray,
    half2: np.ndarray,
    mask: np.ndarray,
    spacing_zyx_A: tuple[float, float, float],
    box: int = DEFAULT_BOX,
    step: int = DEFAULT_STEP,
    cutoffs: Sequence[float] = CUTOFFS,
    correct: bool = False,
    seed: int = 0,
    threads: int | None = None,
    batch: int = DEFAULT_BATCH,
    dtype: type = np.float32,
    progress: Progress | None = None,
) -> dict[float, np.ndarray]:
    """Local-resolution maps (Å, float64, NaN outside ``mask``), one per cutoff.

    ``half1``/``half2`` are ``[z, y, x]`` arrays on one grid, ``mask`` boolean on that grid,
    ``box`` and ``step`` in voxels. With ``correct`` the local FSC is corrected by phase
    randomisation beyond the global unmasked-FSC 0.8 frequency (as RELION's --locres).
    """
    progress = progress or Progress(quiet=True)
    points = sample_points(mask, step)
    progress.say(f"windowed FSC: box {box}, step {step}, {len(points)} boxes")
    if correct:
        r1, r2, from_invA = randomised_halves(half1, half2, spacing_zyx_A, seed, threads)
        progress.say(f"phase-randomised copies beyond {1.0 / from_invA:.2f} Å")
    resolution = {cutoff: np.empty(len(points)) for cutoff in cutoffs}
    # Curves are turned into resolutions chunk by chunk, so memory does not grow with the map.
    chunk = 64 * batch
    for lo in range(0, len(points), chunk):
        p = points[lo : lo + chunk]
        curves, freq = local_fsc_curves(half1, half2, p, box, spacing_zyx_A, threads, batch, dtype)
        if correct:
            rand, _ = local_fsc_curves(r1, r2, p, box, spacing_zyx_A, threads, batch, dtype)
            curves = correct_local_curves(curves, rand, freq, from_invA)
        for cutoff in cutoffs:
            resolution[cutoff][lo : lo + len(p)] = resolution_from_curves(curves, freq, cutoff)
        progress.bar(lo + len(p), len(points), "windowed FSC boxes")
    nearest = nearest_sample(mask, points, spacing_zyx_A)
    return {
        cutoff: fill_from_samples(mask, values, nearest) for cutoff, values in resolution.items()
    }
