"""Noise variance σ² at one wavelength from non-overlapping blocks (method.md §5).

Blocks are the (2r+1)-voxel cubes of a fixed grid anchored at index 0 that lie wholly inside
the noise region: the background (single-map mode) or the particle mask of the half-map
difference map (split mode). Per block b, with its mean removed (C = I − 11ᵀ/N),
q_b = C_bᵀ Γ_d C_b, the weighted residual of the model without its constant column.
Under white noise E[q_b] = σ²·tr(C Γ_d C), so σ̂² = mean_b q_b / tr(C Γ_d C) is unbiased
(method.md's normaliser tr(Γ_d) is 0.2–2 % low; the difference is recorded in docs/method-notes.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from resmap_core.localres.basis import TRIPLES, LocalModel

MIN_BLOCKS = 3
"""Fewer blocks than this give no variance estimate (the wavelength cannot be tested)."""
MAX_NOISE_VOXELS = 1 << 22
"""σ² reads at most about this many voxels (whole blocks, evenly spread over the region's
blocks): 4·10⁶ noise samples already give σ² to ~0.1 %, far below what moves a decision, and a
large box's region (10⁸ voxels at 1024³) would otherwise be read once per wavelength."""


@dataclass(frozen=True)
class NoiseEstimate:
    """σ² (in the squared units of the map) and the number of blocks it came from."""

    sigma2: float
    blocks: int


def block_starts(region: np.ndarray, edge_vox: tuple[int, int, int]) -> np.ndarray:
    """Start indices (n, 3) of the grid blocks of ``edge_vox`` lying wholly inside ``region``."""
    ez, ey, ex = edge_vox
    nz, ny, nx = (s // e for s, e in zip(region.shape, edge_vox, strict=True))
    if min(nz, ny, nx) == 0:
        return np.empty((0, 3), dtype=np.int64)
    cropped = region[: nz * ez, : ny * ey, : nx * ex]
    blocks = cropped.reshape(nz, ez, ny, ey, nx, ex)
    full = blocks.all(axis=(1, 3, 5))
    idx = np.argwhere(full)
    return idx * np.array(edge_vox)


def _residual_normaliser(model: LocalModel) -> float:
    """tr(C Γ_d C) for unit white noise: the expected q_b per unit variance."""
    w = model.window_weight().ravel()
    n = w.size
    pd = model.residual_projection
    cov = model.response_covariance()
    trace_gamma = w.sum() - float(np.trace(pd.T @ cov @ pd))
    const_coeffs = model.design[:, 0]  # coordinates of the constant function: Φᵀ W 1
    ones_gamma_ones = w.sum() - float(np.sum((pd.T @ const_coeffs) ** 2))
    return trace_gamma - ones_gamma_ones / n


def spread_blocks(starts: np.ndarray, block_voxels: int) -> np.ndarray:
    """``starts`` (n, 3), or an evenly spaced subset of it (the first and last block included)
    holding at most ``MAX_NOISE_VOXELS`` voxels in blocks of ``block_voxels``; deterministic."""
    keep = max(MIN_BLOCKS, MAX_NOISE_VOXELS // block_voxels)
    if len(starts) <= keep:
        return starts
    return starts[np.linspace(0, len(starts) - 1, keep).round().astype(np.int64)]


def block_residuals(blocks: np.ndarray, model: LocalModel) -> np.ndarray:
    """q_b = C_bᵀ Γ_d C_b for blocks of shape (n, 2rz+1, 2ry+1, 2rx+1)."""
    centred = blocks - blocks.mean(axis=(1, 2, 3), keepdims=True)
    w = model.window_weight()
    energy = np.einsum("bijk,ijk,bijk->b", centred, w, centred)
    fz, fy, fx = (ax.filters for ax in model.axes)
    coeff = np.einsum("bijk,ai,cj,dk->bacd", centred, fz, fy, fx, optimize=True)
    responses = np.stack([coeff[:, a, b, c] for (a, b, c) in TRIPLES], axis=1)
    explained = responses @ model.residual_projection
    return energy - np.einsum("bi,bi->b", explained, explained)


def estimate_sigma2(noise_map: np.ndarray, blocks: np.ndarray, model: LocalModel) -> NoiseEstimate:
    """σ² of ``noise_map`` from the model-residual energy of its blocks.

    ``blocks`` is either the noise region (bool, same shape as the map) or the block start
    indices (n, 3) already found in it with :func:`block_starts`; at most ``MAX_NOISE_VOXELS``
    of their voxels are read (:func:`spread_blocks`). Returns ``sigma2 = nan`` with
    ``blocks < MIN_BLOCKS`` when there are too few blocks; ``blocks`` counts those read.
    """
    edge = tuple(2 * r + 1 for r in model.radius_vox)
    starts = block_starts(blocks, edge) if blocks.dtype == bool else blocks  # type: ignore[arg-type]
    if len(starts) < MIN_BLOCKS:
        return NoiseEstimate(sigma2=float("nan"), blocks=len(starts))
    starts = spread_blocks(starts, int(np.prod(edge)))
    ez, ey, ex = edge
    total = 0.0
    # Batches keep the (blocks × window) array small for large windows.
    batch = max(1, int(250_000 // (ez * ey * ex)))
    for i in range(0, len(starts), batch):
        chunk = starts[i : i + batch]
        offsets = np.indices(edge).reshape(3, -1)
        zz = chunk[:, 0, None] + offsets[0][None, :]
        yy = chunk[:, 1, None] + offsets[1][None, :]
        xx = chunk[:, 2, None] + offsets[2][None, :]
        values = np.asarray(noise_map[zz, yy, xx], dtype=np.float64).reshape(len(chunk), *edge)
        total += float(block_residuals(values, model).sum())
    sigma2 = total / len(starts) / _residual_normaliser(model)
    return NoiseEstimate(sigma2=sigma2, blocks=len(starts))
