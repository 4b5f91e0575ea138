"""Typed record of ``resmap atoms`` (OUT.json beside OUT.cif): the per-residue values of every
measure, per-chain medians and where the atoms lie. Resolutions in Å, B-factors in Å².

:meth:`AtomsRecord.to_json` gives exactly the file's keys (docs/atoms.md); :meth:`from_json`
reads it back (ValueError for a file that is not such a record).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from resmap_core.io.records.common import Flat, InputFile, integer, number, of


@dataclass(frozen=True)
class MeasureInput(Flat):
    """One local-resolution map: its label, path and SHA-256."""

    label: str
    path: str
    sha256: str | None


@dataclass(frozen=True)
class ResidueRow:
    """One residue: identity, whether it belongs to a polymer (not a ligand or water), atoms
    used, mean B (None if unknown), where it lies (``inside``, ``outside_map``,
    ``outside_mask``), and per measure its value (None: no voxel with a value) and the voxels
    that value took."""

    chain: str
    number: int
    icode: str
    name: str
    polymer: bool
    atoms: int
    b_mean: float | None
    status: str
    values: dict[str, float | None]
    voxels: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        """The residue's JSON object."""
        return {
            "chain": self.chain,
            "number": self.number,
            "icode": self.icode,
            "name": self.name,
            "polymer": self.polymer,
            "atoms": self.atoms,
            "b_mean": self.b_mean,
            "status": self.status,
            "values": dict(self.values),
            "voxels": dict(self.voxels),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResidueRow:
        """Inverse of :meth:`to_json`."""
        values = of(dict, data.get("values")) or {}
        voxels = of(dict, data.get("voxels")) or {}
        return cls(
            chain=str(data["chain"]),
            number=int(data["number"]),
            icode=str(data.get("icode", "")),
            name=str(data["name"]),
            polymer=bool(data.get("polymer", True)),
            atoms=integer(data.get("atoms")) or 0,
            b_mean=number(data.get("b_mean")),
            status=str(data.get("status", "inside")),
            values={str(k): number(v) for k, v in values.items()},
            voxels={str(k): integer(v) or 0 for k, v in voxels.items()},
        )


@dataclass(frozen=True)
class AtomsRecord:
    """The record of one ``resmap atoms`` run.

    ``measures`` in the order given (the first one fills the mmCIF's B column); ``atoms``:
    counts ``total``, ``inside``, ``outside_map``, ``outside_mask`` and, per label, atoms in the
    mask without a value (``no_value``); ``chains``: per chain, ``residues``, ``summarised``
    (its polymer residues, or all when it has none) and ``median_A`` per label over those;
    ``outputs``: file names of the mmCIF, defattr, CSV and ChimeraX script.
    """

    radius_A: float
    measures: tuple[MeasureInput, ...]
    model: InputFile
    model_format: str
    has_b_factors: bool
    mask: InputFile | None
    atoms: dict[str, Any]
    residues: tuple[ResidueRow, ...]
    chains: dict[str, dict[str, Any]]
    outputs: dict[str, str]
    versions: dict[str, str]

    @property
    def labels(self) -> tuple[str, ...]:
        """The measures' labels, in order."""
        return tuple(m.label for m in self.measures)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of OUT.json."""
        return {
            "radius_A": self.radius_A,
            "measures": [m.to_json() for m in self.measures],
            "model": self.model.to_json(),
            "model_format": self.model_format,
            "has_b_factors": self.has_b_factors,
            "mask": None if self.mask is None else self.mask.to_json(),
            "atoms": self.atoms,
            "residues": [r.to_json() for r in self.residues],
            "chains": self.chains,
            "outputs": self.outputs,
            "versions": self.versions,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AtomsRecord:
        """Inverse of :meth:`to_json`; ValueError when ``data`` is not such a record."""
        needed = {"radius_A", "measures", "model", "residues", "chains"}
        if not isinstance(data, Mapping) or not needed <= set(data):
            raise ValueError(f"not a resmap atoms record: needs {sorted(needed)}")
        try:
            return cls(
                radius_A=float(data["radius_A"]),
                measures=tuple(
                    MeasureInput(str(m["label"]), str(m["path"]), m.get("sha256"))
                    for m in data["measures"]
                ),
                model=InputFile.from_json(data["model"]),
                model_format=str(data.get("model_format", "")),
                has_b_factors=bool(data.get("has_b_factors", False)),
                mask=None if data.get("mask") is None else InputFile.from_json(data["mask"]),
                atoms=dict(of(dict, data.get("atoms")) or {}),
                residues=tuple(ResidueRow.from_json(r) for r in data["residues"]),
                chains={str(k): dict(v) for k, v in data["chains"].items()},
                outputs=dict(of(dict, data.get("outputs")) or {}),
                versions=dict(of(dict, data.get("versions")) or {}),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a resmap atoms record: {exc}") from None
