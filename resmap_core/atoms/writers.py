"""The files that carry per-residue local resolution: mmCIF, ChimeraX attribute file, CSV.

* mmCIF: the input model's document with ``_atom_site.B_iso_or_equiv`` replaced, for every
  atom, by its residue's value of the first measure (Å; ``?`` where the residue has none);
  every other item is kept. Two categories are added: ``_resmap_local_resolution`` (what the
  B column now holds) and ``_resmap_atom_local_resolution`` (per atom: ``_atom_site.id``, where
  it lies, the trilinear value of each measure).
* ChimeraX ``defattr``: one residue attribute per measure, named by its label.
* CSV: one row per residue: chain, residue number, insertion code, name, one column per
  measure (named by its label; empty where none), atom count.

Numbers are written with :data:`DIGITS` decimals, so the three files parse back to the same
values. Texts are built here; :func:`write_outputs` writes them atomically.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import gemmi
import numpy as np

from resmap_core.atoms.analysis import AtomValues
from resmap_core.atoms.chimerax import model_script
from resmap_core.atoms.sampling import STATUS_NAMES
from resmap_core.io.atomic import write_json, write_text
from resmap_core.io.model import Model, Residues
from resmap_core.io.records.atoms import AtomsRecord

#: Decimals of every written resolution (Å).
DIGITS = 3
#: Items of the added per-atom category.
ATOM_CATEGORY = "_resmap_atom_local_resolution"
SUMMARY_CATEGORY = "_resmap_local_resolution"
#: Status names indexed by status code.
_STATUS_TEXT = np.asarray([STATUS_NAMES[code] for code in sorted(STATUS_NAMES)])


def number_text(values: np.ndarray, missing: str) -> list[str]:
    """Values with :data:`DIGITS` decimals, ``missing`` for NaN."""
    finite = np.isfinite(values)
    text = np.char.mod(f"%.{DIGITS}f", np.where(finite, values, 0.0))
    return np.where(finite, text, missing).tolist()


def residue_spec(residues: Residues, i: int) -> str:
    """ChimeraX specification of residue ``i``: ``/A:12`` or ``/A:52B``."""
    return f"/{residues.chain[i]}:{residues.number[i]}{residues.icode[i]}"


def mmcif_text(model: Model, values: AtomValues) -> str:
    """The model as mmCIF with the first measure's residue values in ``B_iso_or_equiv``
    (the model's own document is left as it was)."""
    document = gemmi.cif.read_string(model.document.as_string())
    block = document.sole_block()
    table = block.get_mmcif_category("_atom_site", raw=True)
    primary = values.residue_values[0][model.residue]
    table["B_iso_or_equiv"] = number_text(primary, "?")
    block.set_mmcif_category("_atom_site", table, raw=True)
    per_atom = {
        "atom_site_id": table["id"],
        "status": _STATUS_TEXT[values.atom_status].tolist(),
    }
    for label, row in zip(values.labels, values.atom_values, strict=True):
        per_atom[label] = number_text(row, "?")
    block.set_mmcif_category(ATOM_CATEGORY, per_atom, raw=True)
    summary = {
        "B_iso_or_equiv_measure": [values.labels[0]],
        "measures": [" ".join(values.labels)],
        "radius_A": [f"{values.radius_A:g}"],
        "B_iso_or_equiv_meaning": [
            f"mean {values.labels[0]} local resolution (A) over the voxels within "
            f"{values.radius_A:g} A of the residue heavy atoms; ? = no value"
        ],
    }
    block.set_mmcif_category(SUMMARY_CATEGORY, summary)
    return document.as_string()


def defattr_text(residues: Residues, values: AtomValues) -> str:
    """A ChimeraX attribute-assignment file: one residue attribute per measure (Å)."""
    lines = [
        "# Per-residue local resolution (A): mean over the voxels within "
        f"{values.radius_A:g} A of each residue's heavy atoms (resmap atoms).",
        "# Residues without a value are not listed.",
    ]
    for label, row in zip(values.labels, values.residue_values, strict=True):
        lines += [f"attribute: {label}", "match mode: 1-to-1", "recipient: residues"]
        for i in np.flatnonzero(np.isfinite(row)):
            lines.append(f"\t{residue_spec(residues, int(i))}\t{row[i]:.{DIGITS}f}")
    return "\n".join(lines) + "\n"


def csv_text(residues: Residues, values: AtomValues) -> str:
    """Per-residue CSV: chain, residue_number, insertion_code, residue_name, one column per
    measure (its label; Å, empty where none), atom_count."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["chain", "residue_number", "insertion_code", "residue_name", *values.labels, "atom_count"]
    )
    columns = [number_text(row, "") for row in values.residue_values]
    for i in range(len(residues)):
        writer.writerow(
            [
                residues.chain[i],
                int(residues.number[i]),
                residues.icode[i],
                residues.name[i],
                *(column[i] for column in columns),
                int(values.residue_atoms[i]),
            ]
        )
    return buffer.getvalue()


def output_paths(out_cif: str | Path) -> dict[str, Path]:
    """The files of one run, beside ``OUT.cif``: OUT.defattr, OUT.csv, OUT.cxc, OUT.json."""
    out = Path(out_cif)
    stem = out.name.removesuffix(".gz").rsplit(".", 1)[0]
    return {
        "mmcif": out,
        "defattr": out.with_name(f"{stem}.defattr"),
        "csv": out.with_name(f"{stem}.csv"),
        "cxc": out.with_name(f"{stem}.cxc"),
        "json": out.with_name(f"{stem}.json"),
    }


def write_outputs(
    paths: dict[str, Path], model: Model, values: AtomValues, record: AtomsRecord
) -> None:
    """Write the mmCIF, defattr, CSV, ChimeraX script and JSON record, each atomically."""
    write_text(paths["mmcif"], mmcif_text(model, values))
    write_text(paths["defattr"], defattr_text(model.residues, values))
    write_text(paths["csv"], csv_text(model.residues, values))
    script = model_script(paths["mmcif"], paths["defattr"], values.labels, values.residue_values)
    write_text(paths["cxc"], script)
    write_json(paths["json"], record.to_json())
