"""The :class:`~resmap_core.io.records.atoms.AtomsRecord` of one sampling: per-residue rows,
per-chain medians, where the atoms lie, inputs and outputs."""

from __future__ import annotations

from pathlib import Path

import gemmi
import numpy as np

from resmap_core.atoms.analysis import AtomValues, status_counts
from resmap_core.atoms.measures import Measure
from resmap_core.atoms.sampling import INSIDE, STATUS_NAMES
from resmap_core.atoms.summary import chain_medians, chain_residues
from resmap_core.io.model import Model
from resmap_core.io.records.atoms import AtomsRecord, MeasureInput, ResidueRow
from resmap_core.io.records.common import InputFile
from resmap_core.io.summary import versions


def _finite(value: float) -> float | None:
    """A float, or None for NaN."""
    return float(value) if np.isfinite(value) else None


def residue_rows(model: Model, values: AtomValues) -> tuple[ResidueRow, ...]:
    """One :class:`ResidueRow` per residue of ``model``, in its order."""
    res = model.residues
    return tuple(
        ResidueRow(
            chain=res.chain[i],
            number=int(res.number[i]),
            icode=res.icode[i],
            name=res.name[i],
            polymer=bool(res.polymer[i]),
            atoms=int(values.residue_atoms[i]),
            b_mean=_finite(values.residue_b[i]),
            status=STATUS_NAMES[int(values.residue_status[i])],
            values={
                label: _finite(values.residue_values[k, i]) for k, label in enumerate(values.labels)
            },
            voxels={
                label: int(values.residue_voxels[k, i]) for k, label in enumerate(values.labels)
            },
        )
        for i in range(len(res))
    )


def chain_table(model: Model, values: AtomValues) -> dict[str, dict]:
    """Per chain: residues, those the summary covers (polymer residues when the chain has
    any) and the median of each measure over them (Å, None when no value)."""
    chains, polymer = model.residues.chain, model.residues.polymer
    medians = {
        label: chain_medians(chains, polymer, values.residue_values[k])
        for k, label in enumerate(values.labels)
    }
    ids = np.asarray(chains, dtype=object)
    return {
        chain: {
            "residues": int(np.sum(ids == chain)),
            "summarised": int(rows.sum()),
            "median_A": {label: medians[label][chain] for label in values.labels},
        }
        for chain, rows in chain_residues(chains, polymer).items()
    }


def atom_counts(values: AtomValues) -> dict:
    """Atoms in all, by where they lie, and per measure those in the mask without a value."""
    inside = values.atom_status == INSIDE
    return {
        "total": int(values.atom_status.size),
        **status_counts(values.atom_status),
        "no_value": {
            label: int(np.sum(inside & ~np.isfinite(values.atom_values[k])))
            for k, label in enumerate(values.labels)
        },
    }


def build_record(
    model: Model,
    measures: list[Measure],
    mask_path: str | None,
    values: AtomValues,
    outputs: dict[str, Path],
) -> AtomsRecord:
    """The record of one run; ``outputs`` maps mmcif/defattr/csv/cxc/json to their paths."""
    return AtomsRecord(
        radius_A=values.radius_A,
        measures=tuple(
            MeasureInput(m.label, m.path, InputFile.hashed(m.path).sha256) for m in measures
        ),
        model=InputFile.hashed(model.path),
        model_format=model.format,
        has_b_factors=model.has_b_factors(),
        mask=None if mask_path is None else InputFile.hashed(mask_path),
        atoms=atom_counts(values),
        residues=residue_rows(model, values),
        chains=chain_table(model, values),
        outputs={k: p.name for k, p in outputs.items() if k != "json"},
        versions={**versions(), "gemmi": gemmi.__version__},
    )
