"""Atomic models (mmCIF or PDB, optionally gzipped) read with gemmi, placed on a map's grid.

A model is kept as the gemmi CIF document it came from (a PDB file is converted by gemmi),
so that writing it back changes only what we set and keeps every other field. The atoms are
the rows of ``_atom_site`` in file order; residues are the distinct (chain, number, insertion
code, name) of those rows, in order of first appearance, named as authors name them
(``auth_*`` items, ``label_*`` where a file has no ``auth_*``).

Coordinates stay in the model's Cartesian frame (Å, x y z). :func:`map_indices` places them on
a map: the position of voxel (0, 0, 0) is the MRC ORIGIN when it is not zero, else the start
indices times the voxel size (the convention of ChimeraX and the EMDB), and the voxel size may
differ per axis. The map side (axis order, start indices per physical axis) comes from
:func:`resmap_core.io.mrc.read_map`, which returns every map as ``data[z, y, x]``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import gemmi
import numpy as np

from resmap_core.errors import InputError
from resmap_core.io.mrc import MapGeometry

#: File suffixes (before an optional ``.gz``) and the format they hold.
FORMATS = {".cif": "mmcif", ".mmcif": "mmcif", ".pdb": "pdb", ".ent": "pdb"}
#: Elements that are not heavy atoms.
_HYDROGENS = {"H", "D"}
#: CIF values meaning "unknown" and "not applicable".
_NULLS = {"?", "."}


@dataclass(frozen=True)
class Residues:
    """Residues of a model: chain id, residue number, insertion code ('' if none), name, and
    whether the residue is part of a polymer (its atoms are ``ATOM`` records, not ``HETATM``:
    ligands and water are not)."""

    chain: tuple[str, ...]
    number: np.ndarray  # int64, (n_residues,)
    icode: tuple[str, ...]
    name: tuple[str, ...]
    polymer: np.ndarray  # bool, (n_residues,)

    def __len__(self) -> int:
        return len(self.chain)


@dataclass(frozen=True)
class Model:
    """An atomic model: atoms as arrays over the ``_atom_site`` rows, plus its CIF document.

    ``xyz_A`` (n, 3) Cartesian x, y, z in Å; ``b_iso`` (n,) in Å² (NaN where unknown);
    ``heavy`` (n,) True for atoms other than H and D; ``residue`` (n,) index into
    ``residues``. ``document`` is the gemmi CIF document (an mmCIF, converted from PDB if
    need be) whose ``_atom_site`` rows the arrays follow.
    """

    path: str
    format: str
    xyz_A: np.ndarray
    b_iso: np.ndarray
    heavy: np.ndarray
    residue: np.ndarray
    residues: Residues
    document: gemmi.cif.Document

    @property
    def atom_count(self) -> int:
        """Number of atom sites."""
        return int(self.xyz_A.shape[0])

    def has_b_factors(self) -> bool:
        """True when the model carries B-factors (finite and not all equal)."""
        finite = self.b_iso[np.isfinite(self.b_iso)]
        return finite.size > 1 and bool(np.ptp(finite) > 0)


def model_format(path: Path) -> str:
    """``"mmcif"`` or ``"pdb"`` from the file name (``.cif``, ``.mmcif``, ``.pdb``, ``.ent``,
    each optionally ``.gz``); InputError for any other name."""
    name = path.name.lower().removesuffix(".gz")
    for suffix, fmt in FORMATS.items():
        if name.endswith(suffix):
            return fmt
    raise InputError(
        f"{path}: not a model file name; give an mmCIF (.cif, .mmcif) or PDB (.pdb, .ent) "
        "file, optionally gzipped."
    )


def _document(path: Path, fmt: str) -> gemmi.cif.Document:
    """The mmCIF document of ``path`` (PDB files converted by gemmi); InputError if unreadable."""
    try:
        if fmt == "mmcif":
            document = gemmi.cif.read(str(path))
            document.sole_block()  # one data block, as the PDB writes them
            return document
        structure = gemmi.read_structure(str(path), format=gemmi.CoorFormat.Pdb)
        structure.setup_entities()
        return structure.make_mmcif_document()
    except (RuntimeError, ValueError, OSError, EOFError) as exc:
        reason = " ".join(str(exc).split())  # gemmi's messages may span lines
        raise InputError(f"{path}: not a readable {fmt} model ({reason}).") from None


def _column(table: dict[str, list[str]], names: tuple[str, ...], path: Path) -> list[str]:
    """The first of ``names`` present in the ``_atom_site`` table; InputError if none is."""
    for name in names:
        if name in table:
            return table[name]
    raise InputError(f"{path}: the model has no _atom_site.{names[0]} column.")


def _numbers(values: list[str], what: str, path: Path, allow_null: bool) -> np.ndarray:
    """CIF values as float64 (``?`` and ``.`` → NaN when ``allow_null``)."""
    text = np.asarray(values, dtype=object)
    null = np.isin(text, list(_NULLS))
    if null.any() and not allow_null:
        raise InputError(f"{path}: {int(null.sum())} atoms have no {what}.")
    out = np.full(text.shape, np.nan)
    try:
        out[~null] = np.asarray(text[~null], dtype=np.float64)
    except ValueError:
        raise InputError(f"{path}: a {what} value is not a number.") from None
    return out


def _residues(table: dict[str, list[str]], path: Path) -> tuple[np.ndarray, Residues]:
    """Residue index of every atom and the residue table, in order of first appearance."""
    chain = np.asarray(_column(table, ("auth_asym_id", "label_asym_id"), path), dtype=str)
    number_text = _column(table, ("auth_seq_id", "label_seq_id"), path)
    number = _numbers(number_text, "residue number", path, False)
    icode = np.asarray(table.get("pdbx_PDB_ins_code", [""] * chain.size), dtype=str)
    icode = np.where(np.isin(icode, list(_NULLS)), "", icode)
    name = np.asarray(_column(table, ("auth_comp_id", "label_comp_id"), path), dtype=str)
    keys = chain
    for part in (np.asarray(number_text, dtype=str), icode, name):
        keys = np.char.add(np.char.add(keys, "\x1f"), part)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # residues in file order
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    rows = first[order]
    residue = rank[inverse.ravel()]
    group = np.asarray(table.get("group_PDB", ["ATOM"] * chain.size), dtype=str)
    residues = Residues(
        chain=tuple(chain[rows].tolist()),
        number=number[rows].astype(np.int64),
        icode=tuple(icode[rows].tolist()),
        name=tuple(name[rows].tolist()),
        polymer=np.bincount(residue, weights=group == "ATOM", minlength=rows.size) > 0,
    )
    return residue, residues


def _single_model(table: dict[str, list[str]], path: Path) -> None:
    """Refuse files holding several models (NMR-style ensembles)."""
    models = set(table.get("pdbx_PDB_model_num", ["1"]))
    if len(models) > 1:
        raise InputError(
            f"{path}: the file holds {len(models)} models; give a file with the one model "
            "fitted to the map."
        )


def read_model(path: str | os.PathLike[str]) -> Model:
    """Read an mmCIF or PDB model (``.gz`` too) with gemmi; InputError for missing, unreadable,
    empty or multi-model files."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file.")
    fmt = model_format(p)
    document = _document(p, fmt)
    table = document.sole_block().get_mmcif_category("_atom_site", raw=True)
    if not table or not table.get("id"):
        raise InputError(f"{p}: the model holds no atoms (no _atom_site rows).")
    _single_model(table, p)
    xyz = np.stack([_numbers(table[f"Cartn_{a}"], "coordinate", p, False) for a in "xyz"], axis=1)
    b_iso = _numbers(table.get("B_iso_or_equiv", ["?"] * len(table["id"])), "B", p, True)
    element = np.char.upper(np.asarray(table.get("type_symbol", ["C"] * len(table["id"])), str))
    residue, residues = _residues(table, p)
    return Model(
        path=str(p),
        format=fmt,
        xyz_A=xyz,
        b_iso=b_iso,
        heavy=~np.isin(element, list(_HYDROGENS)),
        residue=residue,
        residues=residues,
        document=document,
    )


def grid_origin_A(geometry: MapGeometry) -> np.ndarray:
    """Position (x, y, z) in Å of voxel (0, 0, 0): ORIGIN when non-zero, else start × voxel."""
    origin = np.asarray(geometry.origin_A, dtype=np.float64)
    if np.any(origin != 0.0):
        return origin
    return np.asarray(geometry.start_vox, dtype=np.float64) * np.asarray(geometry.voxel_size_A)


def map_indices(geometry: MapGeometry, xyz_A: np.ndarray) -> np.ndarray:
    """Continuous voxel indices (n, 3) in array order (z, y, x) of points ``xyz_A`` (n, 3, Å).

    Index i along an axis is the centre of voxel i; the map box spans [-0.5, n - 0.5].
    """
    frac_xyz = (np.asarray(xyz_A, dtype=np.float64) - grid_origin_A(geometry)) / np.asarray(
        geometry.voxel_size_A, dtype=np.float64
    )
    return frac_xyz[:, ::-1]
