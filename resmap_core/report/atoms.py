"""The report's section on local resolution at the fitted model (template ``_atoms.html.j2``).

Built from the record of ``resmap atoms`` (:class:`~resmap_core.io.records.atoms.AtomsRecord`):
a figure of per-residue local resolution along the sequence (one panel per chain, one line per
measure, polymer residues), the worst residues, per-chain medians and, when the model carries
B-factors, their Spearman rank correlation with local resolution per chain, with a note in
plain words when it is negative or weak. Without a record the section says that no model was
given. Resolutions in Å.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from resmap_core.atoms.summary import WEAK_RHO, Correlation, spearman_by_chain
from resmap_core.errors import InputError
from resmap_core.io.records.atoms import AtomsRecord, ResidueRow
from resmap_core.report.plots import STYLE, plt, png
from resmap_core.report.records import read_json
from resmap_core.report.render import data_uri

#: Rows of the table of worst residues.
WORST = 20


def read_atoms_record(path: str | Path) -> AtomsRecord:
    """The JSON record of ``resmap atoms``; InputError naming the file when it is not one."""
    data = read_json(Path(path), "the record of resmap atoms")
    try:
        return AtomsRecord.from_json(data)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}.") from None


def residue_label(row: ResidueRow) -> str:
    """``A 52B GLY``: chain, number with insertion code, name."""
    return f"{row.chain} {row.number}{row.icode} {row.name}"


def value_matrix(residues: tuple[ResidueRow, ...], labels: tuple[str, ...]) -> np.ndarray:
    """(m, n) per-residue values (NaN where none), one row per label."""
    return np.array(
        [[np.nan if r.values.get(k) is None else r.values[k] for r in residues] for k in labels],
        dtype=np.float64,
    ).reshape(len(labels), len(residues))


def plot_profiles(record: AtomsRecord) -> bytes:
    """PNG: per chain (a panel each), local resolution of its polymer residues against residue
    number, one line per measure (gaps where a residue has no value)."""
    chains = list(record.chains)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            max(len(chains), 1),
            1,
            figsize=(8.0, 1.2 + 1.6 * len(chains)),
            sharey=True,
            squeeze=False,
        )
        for ax, chain in zip(axes[:, 0], chains, strict=True):
            rows = [r for r in record.residues if r.chain == chain and r.polymer]
            rows = rows or [r for r in record.residues if r.chain == chain]
            number = np.array([r.number for r in rows])
            matrix = value_matrix(tuple(rows), record.labels)
            for label, values in zip(record.labels, matrix, strict=True):
                ax.plot(number, values, lw=1.0, label=label)
            ax.set_title(f"chain {chain}", loc="left")
            ax.set_ylabel("resolution (Å)")
            ax.grid(alpha=0.3)
        axes[-1, 0].set_xlabel("residue number")
        axes[0, 0].legend(loc="upper right", fontsize=8, ncol=len(record.labels))
        fig.tight_layout()
        return png(fig)


def worst_residues(record: AtomsRecord, count: int = WORST) -> list[dict[str, Any]]:
    """The ``count`` residues with the coarsest value of the first measure (highest Å first);
    each ``{residue, measures (values per label), atoms, b_mean}``."""
    primary = record.labels[0]
    rated = [r for r in record.residues if r.values.get(primary) is not None]
    ranked = sorted(rated, key=lambda r: -(r.values[primary] or 0.0))[:count]
    return [
        {
            "residue": residue_label(r),
            "measures": [r.values.get(label) for label in record.labels],
            "atoms": r.atoms,
            "b_mean": r.b_mean,
        }
        for r in ranked
    ]


def correlation_note(correlation: Correlation | None) -> str | None:
    """A plain-language note for a negative or weak correlation (None when unremarkable)."""
    if correlation is None:
        return "too few residues with both a B-factor and a local resolution to correlate"
    if correlation.rho < 0:
        return (
            "negative: residues with higher B-factors have finer local resolution here, the "
            "opposite of what is expected; check the model's B-factors or the map"
        )
    if correlation.rho < WEAK_RHO:
        return "weak: the B-factors say little about where the map is better or worse"
    return None


def correlation_rows(record: AtomsRecord) -> list[dict[str, Any]]:
    """Per chain and measure: Spearman's ρ between residue B-factor and local resolution,
    the residues it took and a note (polymer residues, as the medians)."""
    chains = tuple(r.chain for r in record.residues)
    polymer = np.array([r.polymer for r in record.residues], dtype=bool)
    b_mean = np.array([np.nan if r.b_mean is None else r.b_mean for r in record.residues])
    rows = []
    matrix = value_matrix(record.residues, record.labels)
    for label, values in zip(record.labels, matrix, strict=True):
        for chain, corr in spearman_by_chain(chains, polymer, b_mean, values).items():
            rows.append(
                {
                    "chain": chain,
                    "measure": label,
                    "rho": None if corr is None else corr.rho,
                    "n": 0 if corr is None else corr.n,
                    "note": correlation_note(corr),
                }
            )
    return rows


def atoms_section(record: AtomsRecord | None) -> dict[str, Any]:
    """The context of ``_atoms.html.j2`` (pass it as ``atoms``); ``given`` is False without
    a record."""
    if record is None:
        return {"given": False}
    return {
        "given": True,
        "labels": list(record.labels),
        "radius_A": record.radius_A,
        "model": Path(record.model.path).name,
        "atoms": record.atoms,
        "missing": [
            {"label": label, "residues": sum(r.values[label] is None for r in record.residues)}
            for label in record.labels
        ],
        "figure": data_uri(plot_profiles(record)),
        "chains": [
            {
                "chain": c,
                "residues": row["residues"],
                "summarised": row["summarised"],
                "medians": [row["median_A"].get(label) for label in record.labels],
            }
            for c, row in record.chains.items()
        ],  # fmt: skip
        "worst": worst_residues(record),
        "has_b_factors": record.has_b_factors,
        "correlations": correlation_rows(record) if record.has_b_factors else [],
        "files": record.outputs,
    }
