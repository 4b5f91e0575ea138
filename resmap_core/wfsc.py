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


def _padded_windows(volume: np.ndarray, box: int, dtype: type) -> np.ndarray:
    """View (box, box, box, nz, ny, nx) of zero-padded ``volume``: [..., c] is the box around c.

    Boxes come last so that a gather at n points gives (box, box, box, n) with the batch as the
    contiguous axis, which the FFT and the shell sums use without transposing.
    """
    before = box // 2
    padded = np.pad(np.asarray(volume, dtype=dtype), ((before, box - before),) * 3)
    view = sliding_window_view(padded, (box, box, box))
    view = view[: volume.shape[0], : volume.shape[1], : volume.shape[2]]
    return np.moveaxis(view, (3, 4, 5), (0, 1, 2))


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

    ``points`` are (n, 3) voxel indices [z, y, x]. Boxes go through ``scipy.fft.rfftn`` in
    batches of ``batch`` (memory ~ 200 kB per box at float32); every box is transformed and
    summed on its own, so results do not depend on ``threads`` or ``batch``. ``dtype`` is the
    FFT precision (float32 by default; float64 for reference comparisons).
    """
    shells = box_shells(box, spacing_zyx_A, dtype)
    win = hann_window(box).astype(dtype)[..., None]
    v1 = _padded_windows(half1, box, dtype)
    v2 = _padded_windows(half2, box, dtype)
    n = len(points)
    out = np.empty((n, shells.frequency_invA.size), dtype=np.float64)
    for lo in range(0, n, batch):
        p = points[lo : lo + batch]
        a = _box_spectra(v1, p, win, threads)
        b = _box_spectra(v2, p, win, threads)
        # Rows: coefficients; columns: (re, im) of each box. Shell sums of re·re' and im·im'
        # are summed per box afterwards, which gives Σ Re(F1 F2*) and Σ |F|².
        sums = [shells.matrix @ (x * y) for x, y in ((a, b), (a, a), (b, b))]
        cross, p1, p2 = (s[:, 0::2].astype(np.float64) + s[:, 1::2] for s in sums)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[lo : lo + len(p)] = (cross / np.sqrt(p1 * p2)).T
        if progress is not None:
            progress.bar(min(lo + batch, n), n, "windowed FSC boxes")
    return out, shells.frequency_invA


def _box_spectra(
    windows: np.ndarray, points: np.ndarray, win: np.ndarray, threads: int | None
) -> np.ndarray:
    """rfftn of the tapered boxes at ``points`` as real (coefficients, 2n): (re, im) per box."""
    boxes = windows[..., points[:, 0], points[:, 1], points[:, 2]]
    np.multiply(boxes, win, out=boxes)
    spectra = sfft.rfftn(boxes, axes=(0, 1, 2), workers=threads, overwrite_x=True)
    return spectra.reshape(-1, len(points)).view(win.dtype)


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
