"""Stage 2 of the scan: the wavelengths (Å) to test, from the parameters and the prepared data."""

from __future__ import annotations

import math
from collections.abc import Iterator

from resmap_core.errors import InputError
from resmap_core.localres.basis import window_radius_vox
from resmap_core.localres.noise import MIN_BLOCKS
from resmap_core.localres.params import Params
from resmap_core.localres.prepared import Prepared

MAX_WINDOW_FRACTION = 0.25
"""Default max_res: the window edge (2r+1) may reach this fraction of the shortest box edge."""


def min_res_default(spacing: tuple[float, float, float]) -> float:
    """2.2 × the coarsest voxel size (Å), rounded up to 0.1 Å (method.md §6)."""
    return math.ceil(round(2.2 * max(spacing) * 10.0, 6)) / 10.0


def _candidates(params: Params, min_res: float, floor: float) -> Iterator[float]:
    """min_res + i·step_res (Å, rounded to 1e-6 Å), at or above ``floor``, up to max_res
    (at most 100000 steps)."""
    limit = params.max_res_A
    for i in range(100000):
        lam = round(min_res + i * params.step_res_A, 6)
        if limit is not None and lam > limit + 1e-9:
            return
        if lam >= floor - 1e-9:
            yield lam


def _no_noise_blocks(prep: Prepared, lam: float, edges: tuple[int, ...]) -> InputError:
    """The refusal when the first wavelength has too few σ² blocks (``edges`` in voxels, zyx)."""
    split = prep.mode == "split"
    where = (
        "within the window half-width of the mask, on the difference map"
        if split
        else ("in the background (inside the box's inscribed sphere, outside the mask)")
    )
    return InputError(
        f"too little {'particle' if split else 'background'} for the "
        f"noise variance at {lam} Å: fewer than {MIN_BLOCKS} blocks of {edges[::-1]} "
        f"voxels fit {where}. "
        + (
            "Use a larger mask."
            if split
            else "Use a tighter mask, a larger box, or half maps (split mode)."
        )
    )


def wavelengths(prep: Prepared) -> Iterator[float]:
    """The wavelengths (Å) of :func:`wavelength_grid`, one at a time.

    Each wavelength's σ² blocks are looked for only when the scan reaches it, so a run that
    stops early (every voxel resolved) never pays for the long wavelengths of a large box.
    Raises :class:`InputError` when even the first wavelength has no variance estimate, or
    when there is no wavelength to test.
    """
    params, spacing = prep.params, prep.spacing_zyx_A
    input_spacing = prep.input_geometry.spacing_zyx_A
    min_res = params.min_res_A if params.min_res_A is not None else min_res_default(input_spacing)
    # A map resampled for its low-pass filter holds nothing finer than the coarse grid's
    # Nyquist: the scan starts at the first step above it.
    resampled = tuple(spacing) != tuple(input_spacing)
    floor = min_res_default(spacing) if resampled else 0.0
    widest = max(2 * 2 + 1, MAX_WINDOW_FRACTION * min(prep.mask.shape))
    first = True
    for lam in _candidates(params, min_res, floor):
        radius = window_radius_vox(lam, spacing)
        edges = tuple(2 * r + 1 for r in radius)
        if len(prep.noise_blocks(radius)) < MIN_BLOCKS:
            if first:
                raise _no_noise_blocks(prep, lam, edges)
            return
        if params.max_res_A is None and max(edges) > widest and not first:
            return
        first = False
        yield lam
    if first:
        top = "∞" if params.max_res_A is None else f"{params.max_res_A:g}"
        raise InputError(
            f"no wavelength to test: the scan would start at {max(min_res, floor):.2f} Å "
            f"(2.2 × the {max(spacing):.3f} Å analysis voxel) but --max-res is {top} Å; "
            "raise --max-res or lower --min-res."
        )


def wavelength_grid(prep: Prepared) -> list[float]:
    """Wavelengths (Å) from min_res in steps of step_res up to max_res.

    Defaults: min_res = 2.2 × the input's coarsest voxel (rounded up to 0.1 Å); on a grid
    resampled for a low-pass filter the scan starts at the first min_res + i·step at or above
    2.2 × the coarse voxel, so that the wavelengths are those of the unfiltered map's scan (a
    gentle filter on both half maps must not shift every answer). max_res, when not given,
    is data-driven: the largest wavelength at which (a) the noise region still holds
    ``MIN_BLOCKS`` whole blocks for the variance estimate and (b) the window edge stays within a
    quarter of the shortest box edge. Raises :class:`InputError` when even the first wavelength
    has no variance estimate.
    """
    return list(wavelengths(prep))
