"""Sample every measure at a model: per-atom values and status, per-residue means and counts.

Arrays are indexed [measure, atom] and [measure, residue] in the order the measures were
given and the model's atom and residue order. Resolutions in Å, radii in Å.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from resmap_core.atoms.measures import Measure
from resmap_core.atoms.residues import residue_means, residue_voxels
from resmap_core.atoms.sampling import INSIDE, OUTSIDE_MAP, OUTSIDE_MASK, atom_status, trilinear
from resmap_core.atoms.summary import residue_mean_b
from resmap_core.io.model import Model, map_indices


@dataclass(frozen=True)
class AtomValues:
    """What one sampling gives.

    ``atom_values`` (m, n_atoms): trilinear value of each measure at each atom, NaN for atoms
    outside the map or the mask and where no neighbouring voxel holds a value.
    ``atom_status`` (n_atoms,): :data:`~resmap_core.atoms.sampling.INSIDE` etc.
    ``residue_values`` (m, n_residues): mean over the voxels within ``radius_A`` of the
    residue's heavy atoms that hold a value (NaN: none). ``residue_voxels`` (m, n_residues):
    how many voxels each mean took. ``residue_status`` (n_residues,): OUTSIDE_MAP when none of
    those voxels lies in the box, OUTSIDE_MASK when none lies in the mask, else INSIDE.
    ``residue_atoms`` (n_residues,): atoms used per residue. ``residue_b`` (n_residues,): their
    mean B-factor (Å², NaN where the model has none).
    """

    labels: tuple[str, ...]
    radius_A: float
    atom_values: np.ndarray
    atom_status: np.ndarray
    residue_values: np.ndarray
    residue_voxels: np.ndarray
    residue_status: np.ndarray
    residue_atoms: np.ndarray
    residue_b: np.ndarray


def atoms_used(model: Model) -> np.ndarray:
    """Heavy atoms; for a residue without any (hydrogens only), all of its atoms (bool, (n,))."""
    n_res = len(model.residues)
    has_heavy = np.bincount(model.residue[model.heavy], minlength=n_res) > 0
    return model.heavy | ~has_heavy[model.residue]


def _residue_status(pairs_residue: np.ndarray, in_mask: np.ndarray, n: int) -> np.ndarray:
    """Per residue: OUTSIDE_MAP without voxels in the box, OUTSIDE_MASK without voxels in the
    mask, else INSIDE (int8)."""
    in_box = np.bincount(pairs_residue, minlength=n) > 0
    in_mask_count = np.bincount(pairs_residue[in_mask], minlength=n) > 0
    status = np.full(n, INSIDE, dtype=np.int8)
    status[~in_mask_count] = OUTSIDE_MASK
    status[~in_box] = OUTSIDE_MAP
    return status


def sample_model(
    model: Model, measures: list[Measure], mask: np.ndarray, radius_A: float
) -> AtomValues:
    """Per-atom and per-residue values of every measure at ``model`` (all measures share one
    grid, :func:`resmap_core.atoms.measures.read_measures`); ``mask`` bool ``[z, y, x]``."""
    geometry = measures[0].geometry
    idx = map_indices(geometry, model.xyz_A)
    status = atom_status(idx, mask)
    use = atoms_used(model)
    n_res = len(model.residues)
    pairs = residue_voxels(
        idx[use], model.residue[use], geometry.shape, geometry.spacing_zyx_A, radius_A
    )
    atom_values, res_values, res_voxels = [], [], []
    for m in measures:
        values = trilinear(m.values_A, m.resolved, idx)
        values[status != INSIDE] = np.nan
        atom_values.append(values)
        mean, count = residue_means(pairs, m.values_A, m.resolved, n_res)
        res_values.append(mean)
        res_voxels.append(count)
    return AtomValues(
        labels=tuple(m.label for m in measures),
        radius_A=float(radius_A),
        atom_values=np.asarray(atom_values),
        atom_status=status,
        residue_values=np.asarray(res_values),
        residue_voxels=np.asarray(res_voxels),
        residue_status=_residue_status(pairs.residue, mask.ravel()[pairs.voxel], n_res),
        residue_atoms=np.bincount(model.residue[use], minlength=n_res),
        residue_b=residue_mean_b(model.b_iso, model.residue, use, n_res),
    )


def status_counts(status: np.ndarray) -> dict[str, int]:
    """How many atoms (or residues) are inside, outside the map, outside the mask."""
    return {
        "inside": int(np.sum(status == INSIDE)),
        "outside_map": int(np.sum(status == OUTSIDE_MAP)),
        "outside_mask": int(np.sum(status == OUTSIDE_MASK)),
    }
