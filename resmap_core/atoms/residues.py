"""Per-residue values: the mean of a map over the voxels within a radius of a residue's atoms.

A residue's voxels are those whose centres lie within ``radius_A`` of any of its heavy atoms
(the union of the spheres, each voxel counted once), as the EMDB's validation analysis does
with 3 Å. Distances are physical (Å), so anisotropic voxels are handled. The (residue, voxel)
pairs are built for blocks of whole residues at a time, which bounds the memory whatever the
model's size; within a block everything is vectorised over atoms and sphere offsets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

#: (atom × offset) candidates per block: about 100 MB of int64 indices.
_BLOCK_PAIRS = 4_000_000


@dataclass(frozen=True)
class ResidueVoxels:
    """Unique (residue, voxel) pairs: ``residue`` (p,) index, ``voxel`` (p,) flat index into
    the map's ``[z, y, x]`` array."""

    residue: np.ndarray
    voxel: np.ndarray


def sphere_offsets(radius_A: float, spacing_zyx_A: tuple[float, float, float]) -> np.ndarray:
    """Integer offsets (k, 3), (z, y, x), from an atom's floor voxel that can hold a voxel within
    ``radius_A`` of a point anywhere in that voxel's cell."""
    reach = [int(np.ceil(radius_A / d)) for d in spacing_zyx_A]
    axes = [np.arange(-r, r + 2) for r in reach]
    grid = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.ravel() for g in grid], axis=1)


def _blocks(residue: np.ndarray, per_block: int) -> Iterator[np.ndarray]:
    """Atom index arrays of consecutive whole residues, about ``per_block`` atoms each."""
    order = np.argsort(residue, kind="stable")
    sorted_res = residue[order]
    start = 0
    while start < order.size:
        stop = min(start + max(per_block, 1), order.size)
        # extend to the end of the last residue so that no residue is split
        stop = int(np.searchsorted(sorted_res, sorted_res[stop - 1], side="right"))
        yield order[start:stop]
        start = stop


def _block_pairs(
    idx_zyx: np.ndarray,
    residue: np.ndarray,
    offsets: np.ndarray,
    shape: tuple[int, int, int],
    spacing: np.ndarray,
    radius_A: float,
) -> np.ndarray:
    """Unique keys ``residue * n_voxels + voxel`` of the voxels within the radius of one
    block's atoms (int64, sorted)."""
    base = np.floor(idx_zyx).astype(np.int64)
    cand = base[:, None, :] + offsets[None, :, :]  # (m, k, 3)
    dist2 = np.sum(((cand - idx_zyx[:, None, :]) * spacing) ** 2, axis=2)
    keep = (dist2 <= radius_A * radius_A) & np.all((cand >= 0) & (cand < np.asarray(shape)), axis=2)
    atom, _ = np.nonzero(keep)
    z, y, x = cand[keep].T
    flat = (z * shape[1] + y) * shape[2] + x
    return np.unique(residue[atom] * int(np.prod(shape)) + flat)


def residue_voxels(
    idx_zyx: np.ndarray,
    residue: np.ndarray,
    shape: tuple[int, int, int],
    spacing_zyx_A: tuple[float, float, float],
    radius_A: float,
) -> ResidueVoxels:
    """The voxels of the map box within ``radius_A`` (Å) of each residue's atoms.

    ``idx_zyx`` (n, 3) continuous voxel indices of the atoms to use (heavy atoms),
    ``residue`` (n,) their residue indices. Voxels outside the box are dropped.
    """
    offsets = sphere_offsets(radius_A, spacing_zyx_A)
    spacing = np.asarray(spacing_zyx_A, dtype=np.float64)
    n_vox = int(np.prod(shape))
    keys = [
        _block_pairs(idx_zyx[rows], residue[rows], offsets, shape, spacing, radius_A)
        for rows in _blocks(residue, _BLOCK_PAIRS // len(offsets))
    ]
    joined = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    return ResidueVoxels(residue=joined // n_vox, voxel=joined % n_vox)


def residue_means(
    pairs: ResidueVoxels, values: np.ndarray, valid: np.ndarray, n_residues: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per residue, the mean of ``values`` over its ``valid`` voxels (float64, NaN when none)
    and how many there are (int64); ``values`` and ``valid`` are ``[z, y, x]`` arrays."""
    ok = valid.ravel()[pairs.voxel]
    count = np.bincount(pairs.residue[ok], minlength=n_residues)
    total = np.bincount(
        pairs.residue[ok],
        weights=values.ravel()[pairs.voxel[ok]].astype(np.float64),
        minlength=n_residues,
    )
    mean = np.full(n_residues, np.nan)
    has = count > 0
    mean[has] = total[has] / count[has]
    return mean, count
