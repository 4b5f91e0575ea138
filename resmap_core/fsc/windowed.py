"""Windowed (local) FSC between half maps, blocres-style: local-resolution maps at FSC cutoffs.

At each sampled voxel c a cube of ``box`` voxels is cut from both half maps (voxels
c − box//2 … c + box − box//2 − 1 along each axis; zeros beyond the map edge), multiplied by a
3-D Hann taper, Fourier transformed, and correlated shell by shell (shells of the box, see
:func:`resmap_core.spectrum.make_shells`, full-spectrum weights); the curves come from the tile
engine of :mod:`resmap_core.fsc.windowed_tiles`. The local resolution is where the FSC first
falls below the cutoff, interpolated linearly between shells (FSC of shell 0 taken as 1); the
box's Nyquist resolution when it never does. Voxels are sampled on the grid
``index % step == 0`` inside the mask; every other mask voxel takes the value of its nearest
sampled voxel (Euclidean distance in Å; ties broken by the distance transform, deterministic).
Bounds and summaries of the maps: :mod:`resmap_core.fsc.windowed_summary`. See docs/fsc.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from resmap_core.errors import InputError
from resmap_core.fsc.gold_standard import (
    check_grids,
    fsc_from_transforms,
    phase_randomised_halves,
    randomisation_shell,
)
from resmap_core.fsc.windowed_tiles import DEFAULT_BATCH, local_fsc_curves, tile_groups
from resmap_core.progress import Progress
from resmap_core.spectrum import make_shells

DEFAULT_BOX = 20
DEFAULT_STEP = 2
CUTOFFS = (0.5, 0.143)
#: Smallest box edge (voxels): below it the box's only shell above 0 is both its first and its
#: last, so no crossing could be measured, only bounds.
MIN_BOX = 4


def sample_points(mask: np.ndarray, step: int) -> np.ndarray:
    """Mask voxels on the grid ``index % step == 0`` as (n, 3) int64 [z, y, x], C order.

    A mask too small to hold a grid voxel is sampled at every mask voxel.
    """
    grid = np.zeros(mask.shape, dtype=bool)
    grid[::step, ::step, ::step] = True
    points = np.argwhere(mask & grid)
    return points if len(points) else np.argwhere(mask)


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
    """Half maps with phases randomised beyond the global unmasked-FSC 0.8 shell (RELION), by
    the gold-standard FSC's own randomisation (``gold_standard.phase_randomised_halves``).

    Returns (random1, random2, randomise_from_invA): float64 ``[z, y, x]`` maps and the
    frequency (Å⁻¹) of the first randomised shell.
    """
    shells = make_shells(half1.shape, spacing_zyx_A)
    f1 = sfft.rfftn(np.asarray(half1, dtype=np.float64), workers=threads)
    f2 = sfft.rfftn(np.asarray(half2, dtype=np.float64), workers=threads)
    start = randomisation_shell(fsc_from_transforms(f1, f2, shells), shells.count)
    r1, r2 = phase_randomised_halves(f1, f2, shells, spacing_zyx_A, start, seed, threads)
    return r1, r2, start * shells.step_invA


def _chunks(points: np.ndarray, size: int) -> list[np.ndarray]:
    """Rows of ``points`` in chunks of whole tiles (``windowed_tiles.tile_groups``), each
    ≥ ``size`` rows except the last (and no larger than ``size`` plus one tile)."""
    chunks, current, count = [], [], 0
    for tile in tile_groups(points) if len(points) else []:
        current.append(tile)
        count += len(tile)
        if count >= size:
            chunks.append(np.concatenate(current))
            current, count = [], 0
    if current:
        chunks.append(np.concatenate(current))
    return chunks


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
    randomisation beyond the global unmasked-FSC 0.8 frequency (as RELION's --locres). Bad
    parameters (:func:`check_parameters`) raise :class:`~resmap_core.errors.InputError`.
    """
    check_parameters(half1, half2, mask, box, step, cutoffs)
    progress = progress or Progress(quiet=True)
    points = sample_points(mask, step)
    progress.say(f"windowed FSC: box {box}, step {step}, {len(points)} boxes")
    if correct:
        r1, r2, from_invA = randomised_halves(half1, half2, spacing_zyx_A, seed, threads)
        progress.say(f"phase-randomised copies beyond {1.0 / from_invA:.2f} Å")
    resolution = {cutoff: np.empty(len(points)) for cutoff in cutoffs}
    # Curves are turned into resolutions chunk by chunk, so memory does not grow with the map;
    # chunks are whole tiles, so no tile's shared transforms are computed twice.
    done = 0
    for rows in _chunks(points, 64 * batch):
        p = points[rows]
        curves, freq = local_fsc_curves(half1, half2, p, box, spacing_zyx_A, threads, batch, dtype)
        if correct:
            rand, _ = local_fsc_curves(r1, r2, p, box, spacing_zyx_A, threads, batch, dtype)
            curves = correct_local_curves(curves, rand, freq, from_invA)
        for cutoff in cutoffs:
            resolution[cutoff][rows] = resolution_from_curves(curves, freq, cutoff)
        done += len(rows)
        progress.bar(done, len(points), "windowed FSC boxes")
    nearest = nearest_sample(mask, points, spacing_zyx_A)
    return {
        cutoff: fill_from_samples(mask, values, nearest) for cutoff, values in resolution.items()
    }


def check_parameters(
    half1: np.ndarray,
    half2: np.ndarray,
    mask: np.ndarray,
    box: int,
    step: int,
    cutoffs: Sequence[float],
) -> None:
    """Refuse what :func:`windowed_fsc` cannot compute: maps and mask on different grids, a box
    under :data:`MIN_BOX` voxels, a step under 1 voxel, a cutoff outside (0, 1)."""
    check_grids(half1, half2, mask)
    if box < MIN_BOX:
        raise InputError(f"box {box}: the box must be at least {MIN_BOX} voxels.")
    if step < 1:
        raise InputError(f"step {step}: the step must be at least 1 voxel.")
    for cutoff in cutoffs:
        if not 0 < cutoff < 1:
            raise InputError(f"cutoff {cutoff}: an FSC cutoff must lie in (0, 1).")


def other_cutoff(cutoff: float) -> float:
    """The second cutoff computed beside ``cutoff``: 0.5 for 0.143, else 0.143."""
    return 0.5 if np.isclose(cutoff, 0.143) else 0.143


def with_outside(values_A: np.ndarray, mask: np.ndarray, outside_A: float) -> np.ndarray:
    """The map as written (Å, float64 ``[z, y, x]``): ``values_A`` inside ``mask`` where finite,
    ``outside_A`` (100, 0 or NaN, as ``resmap local``) elsewhere."""
    return np.where(mask & np.isfinite(values_A), values_A, outside_A)
