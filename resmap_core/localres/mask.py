"""Masks on the analysis grid: the automatic particle mask, ball dilation, the soft background
weight and the ellipsoid inscribed in the box.

Arrays are ``[z, y, x]`` with per-axis voxel sizes ``spacing_zyx_A`` (Å). Design notes and the
differences from ResMap 1.1 are in ``docs/preparation.md`` §1 and §3.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

Spacing = tuple[float, float, float]


def _ellipsoid_test(
    shape: tuple[int, int, int], inside: bool, window: tuple[slice, ...] | None = None
) -> np.ndarray:
    """Boolean [z, y, x] over ``window`` of the box (default: all of it): voxels inside (or,
    with ``inside`` False, outside) the ellipsoid inscribed in the box.

    Per axis (i − (n − 1)/2)/(n/2), squared and summed: < 1 inside, > 1 outside; voxels exactly
    on the surface (== 1) belong to neither. Built one z-plane at a time (no full-size float64
    radius array: 8 GB at 1024³).
    """
    window = window or tuple(slice(0, n) for n in shape)
    grids = [
        (((np.arange(n) - (n - 1) / 2.0) / (n / 2.0)) ** 2)[w]
        for n, w in zip(shape, window, strict=True)
    ]
    gy, gx = grids[1][:, None], grids[2][None, :]
    out = np.empty((grids[0].size, gy.size, gx.size), dtype=bool)
    for z, gz in enumerate(grids[0]):
        r2 = (gz + gy) + gx  # the summation order of the whole-box formula, bit for bit
        out[z] = r2 < 1.0 if inside else r2 > 1.0
    return out


def inscribed_ellipsoid(
    shape: tuple[int, int, int], window: tuple[slice, ...] | None = None
) -> np.ndarray:
    """Boolean [z, y, x]: voxels inside the ellipsoid inscribed in the box (σ² blocks lie here),
    over ``window`` of the box when given."""
    return _ellipsoid_test(shape, True, window)


def outside_ellipsoid(shape: tuple[int, int, int]) -> np.ndarray:
    """Boolean [z, y, x]: voxels strictly outside the ellipsoid inscribed in the box."""
    return _ellipsoid_test(shape, False)


def blur_sigma_vox(shape: tuple[int, ...], spacing_zyx_A: Spacing) -> np.ndarray:
    """Per-axis Gaussian σ in voxels: 2 % of the longest box edge (Å), at least 1.5 voxels."""
    edge_A = max(n * d for n, d in zip(shape, spacing_zyx_A, strict=True))
    sigma_A = 0.02 * edge_A
    return np.maximum(sigma_A / np.asarray(spacing_zyx_A, dtype=np.float64), 1.5)


def _above_background(blurred: np.ndarray, k_mad: float, max_fraction: float) -> np.ndarray:
    """Boolean: the blurred map above max(b + k_mad·s, b + max_fraction·(max − b)).

    b and s (1.4826·MAD) are measured strictly outside the inscribed ellipsoid, where a
    centred particle leaves only background.
    """
    probe = blurred[outside_ellipsoid(blurred.shape)]
    level = float(np.median(probe))
    scatter = 1.4826 * float(np.median(np.abs(probe - level)))
    peak = float(blurred.max())
    threshold = max(level + k_mad * scatter, level + max_fraction * (peak - level))
    return blurred > threshold


def _major_components(above: np.ndarray, min_component_fraction: float) -> np.ndarray:
    """26-connected components of ``above`` at least ``min_component_fraction`` of the largest,
    holes filled (bool, same shape)."""
    labels, count = ndimage.label(above, structure=np.ones((3, 3, 3), dtype=bool))
    if count == 0:
        return np.zeros(above.shape, dtype=bool)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    keep = np.zeros(count + 1, dtype=bool)
    keep[1:] = sizes >= min_component_fraction * sizes.max()
    return ndimage.binary_fill_holes(keep[labels])


def _clear_faces(mask: np.ndarray, margin: int) -> np.ndarray:
    """``mask`` with ``margin`` voxels cleared at every face of the box (in place)."""
    if margin > 0:
        inner = np.zeros(mask.shape, dtype=bool)
        inner[tuple(slice(margin, max(n - margin, margin)) for n in mask.shape)] = True
        mask &= inner
    return mask


def auto_mask(
    data: np.ndarray,
    spacing_zyx_A: Spacing,
    edge_margin_vox: int | None = None,
    *,
    k_mad: float = 5.0,
    max_fraction: float = 0.05,
    min_component_fraction: float = 0.1,
) -> np.ndarray:
    """Particle mask (bool, same shape as ``data``) from a blurred, background-referenced threshold.

    The map is blurred with a Gaussian of σ = 2 % of the longest box edge (Å; ≥ 1.5 voxels per
    axis). The background level b and scatter s (1.4826·MAD) are measured on the blurred map
    outside the inscribed ellipsoid; the threshold is max(b + k_mad·s, b + max_fraction·(max − b)).
    Connected components (26-connectivity) smaller than ``min_component_fraction`` of the largest
    are dropped, holes are filled, and ``edge_margin_vox`` voxels at each face are cleared
    (default: ⌈3σ⌉ voxels of the blur on the widest axis, at least 2).
    """
    sigma = blur_sigma_vox(data.shape, spacing_zyx_A)
    blurred = ndimage.gaussian_filter(
        np.asarray(data, dtype=np.float64), sigma=tuple(sigma), mode="reflect", truncate=4.0
    )
    above = _above_background(blurred, k_mad, max_fraction)
    del blurred
    mask = _major_components(above, min_component_fraction)
    margin = int(np.ceil(3.0 * sigma.max())) if edge_margin_vox is None else int(edge_margin_vox)
    return _clear_faces(mask, max(margin, 0))


def _shifted_or(into: np.ndarray, src: np.ndarray, axis: int, shift: int) -> None:
    """into |= src moved by ``shift`` voxels along ``axis`` (no wrap-around)."""
    n = src.shape[axis]
    if abs(shift) >= n:
        return
    dst = [slice(None)] * 3
    org = [slice(None)] * 3
    dst[axis] = slice(max(shift, 0), n + min(shift, 0))
    org[axis] = slice(max(-shift, 0), n + min(-shift, 0))
    into[tuple(dst)] |= src[tuple(org)]


def dilate_ball(mask: np.ndarray, spacing_zyx_A: Spacing, radius_A: float) -> np.ndarray:
    """Voxels within ``radius_A`` Å (Euclidean, physical) of a mask voxel, bool [z, y, x].

    The same set as ``distance_transform_edt(~mask, sampling) <= radius_A``, built from unions
    of shifted 1-D maximum filters (the ball is a union of x-runs over its (z, y) offsets), so
    it needs a few boolean volumes instead of the transform's ~20 bytes per voxel.
    """
    mask = np.asarray(mask, dtype=bool)
    sz, sy, sx = spacing_zyx_A
    r2 = radius_A * radius_A * (1.0 + 1e-12)  # a voxel exactly at the radius is inside
    runs: dict[int, np.ndarray] = {}  # x half-width -> mask dilated along x by it

    def run(half: int) -> np.ndarray:
        if half not in runs:
            runs[half] = ndimage.maximum_filter1d(mask, 2 * half + 1, axis=2, mode="constant")
        return runs[half]

    def disk(dz: int) -> np.ndarray:
        """In-plane dilation by the ball's section at z-offset dz."""
        out = np.zeros_like(mask)
        rest = r2 - (dz * sz) ** 2
        for dy in range(-int(np.sqrt(rest) / sy), int(np.sqrt(rest) / sy) + 1):
            half = int(np.sqrt(max(rest - (dy * sy) ** 2, 0.0)) / sx)
            _shifted_or(out, run(half), 1, dy)
        return out

    out = np.zeros_like(mask)
    for dz in range(int(radius_A / sz) + 1):
        section = disk(dz)  # the same for ±dz
        _shifted_or(out, section, 0, dz)
        if dz:
            _shifted_or(out, section, 0, -dz)
    return out


def background_weight(
    mask: np.ndarray, spacing_zyx_A: Spacing, dilation_A: float | None = None
) -> np.ndarray:
    """Soft background weight in [0, 1] (float32): complement of the dilated particle mask.

    The mask is grown by ``dilation_A`` (default 6 × the largest voxel size, Å, Euclidean in
    physical units), complemented and blurred with σ = 2 % of the longest box edge.
    """
    m = np.asarray(mask, dtype=bool)
    grow = 6.0 * max(spacing_zyx_A) if dilation_A is None else float(dilation_A)
    background = ~dilate_ball(m, spacing_zyx_A, grow) if m.any() else np.ones(m.shape, bool)
    soft = ndimage.gaussian_filter(
        background.astype(np.float32),
        sigma=tuple(blur_sigma_vox(m.shape, spacing_zyx_A)),
        output=np.float32,
    )
    return np.clip(soft, 0.0, 1.0, out=soft)
