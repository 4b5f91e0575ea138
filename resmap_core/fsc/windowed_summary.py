"""What a windowed-FSC map says: its statistics inside the mask, and which of its voxels are
bounds rather than crossings (a box FSC that never fell below the cutoff, or was already below
it at the first shell). Resolutions in Å; spacings along the array axes ``[z, y, x]``.
"""

from __future__ import annotations

import numpy as np

from resmap_core.fsc.crossing import Crossing, crossing_text, nyquist_A
from resmap_core.io.records.wfsc import BoundShare, WFSCSummary
from resmap_core.io.summary import resolution_summary
from resmap_core.spectrum import make_shells


def box_bounds_A(box: int, spacing_zyx_A: tuple[float, float, float]) -> dict[str, float]:
    """Resolutions (Å) that mark a box whose FSC did not cross the cutoff.

    ``"better_than"``: the top shell's (the box's Nyquist for isotropic voxels), written by
    :func:`resolution_from_curves` when the FSC never falls below the cutoff. ``"worse_than"``:
    the first shell's (the box edge in Å); a value above it means the FSC was already below the
    cutoff at the first shell (interpolated towards shell 0, which counts as 1).
    """
    freq = make_shells((box, box, box), spacing_zyx_A).frequency_invA
    return {"better_than": float(1.0 / freq[-1]), "worse_than": float(1.0 / freq[1])}


def bound_fractions(
    values_A: np.ndarray, box: int, spacing_zyx_A: tuple[float, float, float]
) -> dict[str, dict[str, float]]:
    """Which local resolutions are bounds, not crossings: ``{bound: {value_A, fraction}}``.

    ``values_A`` holds one resolution per mask voxel, as :func:`windowed_fsc` returns them; a
    "better_than" voxel holds the top shell's resolution (the value
    :func:`resolution_from_curves` writes; a crossing interpolated to within 10⁻⁹ of it cannot
    be told apart and counts too), a "worse_than" one more than the first shell's. Fractions
    are of all entries of ``values_A``.
    """
    limits = box_bounds_A(box, spacing_zyx_A)
    n = max(int(values_A.size), 1)
    hits = {
        "better_than": np.count_nonzero(np.isclose(values_A, limits["better_than"], rtol=1e-9)),
        "worse_than": np.count_nonzero(values_A > limits["worse_than"]),
    }
    return {k: {"value_A": limits[k], "fraction": float(hits[k] / n)} for k in limits}


def summary_bound(value_A: float | None, bounds: dict[str, dict[str, float]]) -> str | None:
    """Whether a summary value (Å, e.g. the median) is itself a bound of :func:`bound_fractions`."""
    if value_A is None:
        return None
    if np.isclose(value_A, bounds["better_than"]["value_A"], rtol=1e-9):
        return "better_than"
    if value_A > bounds["worse_than"]["value_A"]:
        return "worse_than"
    return None


def windowed_summary(
    values_A: np.ndarray, box: int, spacing_zyx_A: tuple[float, float, float]
) -> WFSCSummary:
    """Statistics and bounds of the local resolutions ``values_A`` (Å, one per mask voxel, as
    :func:`~resmap_core.fsc.windowed.windowed_fsc` gives them inside the mask)."""
    stats = resolution_summary(values_A)
    bounds = bound_fractions(values_A, box, spacing_zyx_A)
    return WFSCSummary(
        median_A=stats["median_A"],
        mean_A=stats["mean_A"],
        quartiles_A=None if stats["quartiles_A"] is None else tuple(stats["quartiles_A"]),
        min_A=stats["min_A"],
        max_A=stats["max_A"],
        unresolved_fraction=stats["unresolved_fraction"],
        bounds={kind: BoundShare(b["value_A"], b["fraction"]) for kind, b in bounds.items()},
        median_bound=summary_bound(stats["median_A"], bounds),
    )


def summary_text(
    summary: WFSCSummary, cutoff: float, spacing_zyx_A: tuple[float, float, float]
) -> str:
    """The result line: the median at ``cutoff``, and how much of the mask is a bound, in words
    (``"median 3.73 Å at FSC 0.5; 31.2 % of the mask better than 3.28 Å (Nyquist)"``)."""
    if summary.median_A is None:
        return "no voxel resolved"
    nyquist = nyquist_A(spacing_zyx_A)
    median = crossing_text(Crossing(summary.median_A, summary.median_bound), nyquist)
    parts = [f"median {median} at FSC {cutoff:g}"]
    for kind, where in (("better_than", "of the mask "), ("worse_than", "")):
        share = (summary.bounds or {}).get(kind)
        if share is not None and share.fraction and share.fraction > 0:
            limit = crossing_text(Crossing(share.value_A, kind), nyquist)  # type: ignore[arg-type]
            parts.append(f"{100 * share.fraction:.1f} % {where}{limit}")
    return "; ".join(parts)
