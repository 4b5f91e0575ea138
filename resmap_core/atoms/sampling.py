"""Values of a map at atom positions: where each atom lies (in the box, in the mask) and the
trilinear value there.

Positions are continuous voxel indices ``(n, 3)`` in array order (z, y, x), voxel i centred
on index i (:func:`resmap_core.io.model.map_indices`). Everything is vectorised over atoms;
the only loop runs over the eight corners of the interpolation cell.
"""

from __future__ import annotations

import itertools

import numpy as np

#: Where an atom lies: in the box and the mask, outside the box, outside the mask.
INSIDE, OUTSIDE_MAP, OUTSIDE_MASK = 0, 1, 2
STATUS_NAMES = {INSIDE: "inside", OUTSIDE_MAP: "outside_map", OUTSIDE_MASK: "outside_mask"}


def nearest_voxel(
    idx_zyx: np.ndarray, shape: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest voxel (n, 3) int of each position and whether it lies in the box (n,) bool."""
    nearest = np.floor(idx_zyx + 0.5).astype(np.int64)
    in_box = np.all((nearest >= 0) & (nearest < np.asarray(shape)), axis=1)
    return nearest, in_box


def atom_status(idx_zyx: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """:data:`INSIDE`, :data:`OUTSIDE_MAP` or :data:`OUTSIDE_MASK` per atom (int8, (n,)), from
    its nearest voxel; ``mask`` is bool ``[z, y, x]``."""
    nearest, in_box = nearest_voxel(idx_zyx, mask.shape)
    status = np.full(idx_zyx.shape[0], OUTSIDE_MAP, dtype=np.int8)
    z, y, x = nearest[in_box].T
    status[in_box] = np.where(mask[z, y, x], INSIDE, OUTSIDE_MASK)
    return status


def trilinear(values: np.ndarray, valid: np.ndarray, idx_zyx: np.ndarray) -> np.ndarray:
    """Trilinear value of ``values[z, y, x]`` at each position (float64, (n,)).

    Only corners that lie in the box and are ``valid`` contribute; their weights are
    renormalised, so a linear field is reproduced exactly where all eight corners are valid.
    NaN where no corner is valid.
    """
    base = np.floor(idx_zyx).astype(np.int64)
    frac = idx_zyx - base
    shape = np.asarray(values.shape)
    total = np.zeros(idx_zyx.shape[0])
    weight = np.zeros(idx_zyx.shape[0])
    for corner in itertools.product((0, 1), repeat=3):
        step = np.asarray(corner)
        index = base + step
        w = np.prod(np.where(step == 1, frac, 1.0 - frac), axis=1)
        ok = np.all((index >= 0) & (index < shape), axis=1)
        z, y, x = index[ok].T
        ok[ok] = valid[z, y, x]
        z, y, x = index[ok].T
        total[ok] += w[ok] * values[z, y, x]
        weight[ok] += w[ok]
    out = np.full(idx_zyx.shape[0], np.nan)
    has = weight > 0
    out[has] = total[has] / weight[has]
    return out
