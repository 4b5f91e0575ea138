"""Per-chain summaries of per-residue values: medians, and the rank correlation with B-factors.

Inputs are per-residue arrays in the model's residue order: ``chains`` (chain id of each
residue), ``polymer`` (bool), values in Å (NaN where a residue has none) and B-factors in Å².
A chain's summary is over its polymer residues (ligands and water left out), or over all of
its residues when it has no polymer residue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Fewest residues with both values for a correlation to be reported.
MIN_PAIRS = 5
#: Below this |ρ| a positive correlation is called weak in the report's note.
WEAK_RHO = 0.3


@dataclass(frozen=True)
class Correlation:
    """Spearman's ρ between residue B-factor and local resolution over ``n`` residues, with its
    two-sided p-value."""

    rho: float
    p_value: float
    n: int


def chain_order(chains: tuple[str, ...]) -> list[str]:
    """Distinct chain ids in order of first appearance."""
    return list(dict.fromkeys(chains))


def chain_residues(chains: tuple[str, ...], polymer: np.ndarray) -> dict[str, np.ndarray]:
    """Per chain, the residues its summary covers (bool over all residues)."""
    ids = np.asarray(chains, dtype=object)
    out = {}
    for chain in chain_order(chains):
        own = ids == chain
        out[chain] = own & polymer if np.any(own & polymer) else own
    return out


def chain_medians(
    chains: tuple[str, ...], polymer: np.ndarray, values: np.ndarray
) -> dict[str, float | None]:
    """Median (Å) of the residues' values per chain, None for a chain with no value."""
    out: dict[str, float | None] = {}
    for chain, rows in chain_residues(chains, polymer).items():
        finite = values[rows & np.isfinite(values)]
        out[chain] = float(np.median(finite)) if finite.size else None
    return out


def residue_mean_b(b_iso: np.ndarray, residue: np.ndarray, use: np.ndarray, n: int) -> np.ndarray:
    """Mean B-factor (Å²) of each residue over the atoms ``use`` marks (NaN where none)."""
    ok = use & np.isfinite(b_iso)
    count = np.bincount(residue[ok], minlength=n)
    total = np.bincount(residue[ok], weights=b_iso[ok], minlength=n)
    out = np.full(n, np.nan)
    out[count > 0] = total[count > 0] / count[count > 0]
    return out


def spearman(b_iso: np.ndarray, values: np.ndarray) -> Correlation | None:
    """Spearman's ρ over residues where both are finite; None with fewer than
    :data:`MIN_PAIRS` such residues or when either is constant."""
    ok = np.isfinite(b_iso) & np.isfinite(values)
    if ok.sum() < MIN_PAIRS or np.ptp(b_iso[ok]) == 0 or np.ptp(values[ok]) == 0:
        return None
    result = stats.spearmanr(b_iso[ok], values[ok])
    return Correlation(float(result.statistic), float(result.pvalue), int(ok.sum()))


def spearman_by_chain(
    chains: tuple[str, ...], polymer: np.ndarray, b_iso: np.ndarray, values: np.ndarray
) -> dict[str, Correlation | None]:
    """:func:`spearman` per chain."""
    return {
        chain: spearman(b_iso[rows], values[rows])
        for chain, rows in chain_residues(chains, polymer).items()
    }
