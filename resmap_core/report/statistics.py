"""Statistics of local-resolution maps inside the mask: resolved voxels, order statistics,
colour and histogram ranges, 1-D and 2-D histograms, and the agreement of two maps.

Maps are NumPy arrays ``[z, y, x]`` of resolutions in Å; masks are boolean arrays of the same
shape; "values" are the 1-D arrays of resolved voxels' resolutions (Å). Pure functions, tested
against NumPy/SciPy oracles in tests/test_report.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from resmap_core.localres.mask import dilate_ball


def resolved_voxels(
    local_A: np.ndarray, mask: np.ndarray, outside_value: float | None = 100.0
) -> np.ndarray:
    """Boolean map of mask voxels that hold a resolution (finite, > 0, not the outside value).

    ``local_A`` is a local-resolution map in Å, ``mask`` a boolean map of the same shape.
    """
    ok = mask & np.isfinite(local_A) & (local_A > 0)
    if outside_value is not None and np.isfinite(outside_value):
        ok &= local_A != np.float32(outside_value)
    return ok


def resolution_stats(values_A: np.ndarray, mask_voxels: int) -> dict[str, float | None]:
    """Median, quartiles, mean (Å) of resolved voxels and the unresolved fraction of the mask."""
    n = int(values_A.size)
    if n == 0:
        return {
            "median_A": None,
            "mean_A": None,
            "q25_A": None,
            "q75_A": None,
            "unresolved_fraction": 1.0 if mask_voxels else None,
            "resolved_voxels": 0,
        }
    q25, q50, q75 = np.percentile(values_A.astype(np.float64), [25, 50, 75])
    return {
        "median_A": float(q50),
        "mean_A": float(np.mean(values_A, dtype=np.float64)),
        "q25_A": float(q25),
        "q75_A": float(q75),
        "unresolved_fraction": float(1.0 - n / mask_voxels) if mask_voxels else None,
        "resolved_voxels": n,
    }


def shared_range(*value_sets: np.ndarray) -> tuple[float, float]:
    """Common colour range (Å) for all local-resolution maps: 1st–99th percentile of all values."""
    pooled = [v for v in value_sets if v.size]
    if not pooled:
        return (0.0, 1.0)
    allv = np.concatenate([v.astype(np.float64) for v in pooled])
    lo, hi = np.percentile(allv, [1, 99])
    if not hi > lo:
        lo, hi = float(allv.min()) - 0.5, float(allv.max()) + 0.5
    return (float(lo), float(hi))


@dataclass(frozen=True)
class ColourScale:
    """The local-resolution colour scale of every figure, the 3D view and the ChimeraX scripts.

    ``lo_A``–``hi_A`` (Å, on :data:`SCALE_STEP_A` steps) starts at the finest value and ends
    at the 99th percentile of all values, so a few coarse voxels do not wash out the colours;
    ``above`` is the fraction of values beyond ``hi_A`` (drawn in the top colour), ``extend`` the
    Matplotlib name of the colour bar's arrows (``"max"`` when ``above`` > 0, else
    ``"neither"``).
    """

    lo_A: float
    hi_A: float
    above: float

    @property
    def range_A(self) -> tuple[float, float]:
        """(lo, hi) in Å."""
        return (self.lo_A, self.hi_A)

    @property
    def extend(self) -> str:
        """``"max"`` when some values lie above the scale, else ``"neither"``."""
        return "max" if self.above > 0 else "neither"


#: Steps (Å) the colour scale's ends are rounded to, so that they read as round numbers.
SCALE_STEP_A = 0.5


def colour_scale(*value_sets: np.ndarray, top_percentile: float = 99.0) -> ColourScale:
    """Colour scale over all values (Å): from the minimum (rounded down to a 0.5 Å step) to the
    ``top_percentile`` (rounded up); the share of values above the top is kept for the arrow."""
    pooled = [v.astype(np.float64) for v in value_sets if v.size]
    if not pooled:
        return ColourScale(0.0, 1.0, 0.0)
    allv = np.concatenate(pooled)
    step = SCALE_STEP_A
    lo = float(np.floor(allv.min() / step) * step)
    hi = float(np.ceil(np.percentile(allv, top_percentile) / step) * step)
    hi = max(hi, lo + step)
    return ColourScale(lo, hi, float((allv > hi).mean()))


def padded_region(mask: np.ndarray, spacing_zyx_A: tuple[float, float, float],
                  pad_A: float = 6.0) -> np.ndarray:  # fmt: skip
    """The mask grown by ``pad_A`` Å (bool ``[z, y, x]``): the particle and a rim of solvent,
    the region whose grey levels the map panels are scaled to."""
    return dilate_ball(mask, spacing_zyx_A, pad_A)


def grey_limits(
    density: np.ndarray, region: np.ndarray, percentiles: tuple[float, float] = (1.0, 99.5)
) -> tuple[float, float]:
    """Grey-scale range of a density map: robust ``percentiles`` of the voxels in ``region``
    (all voxels when the region is empty), so the particle, not the box, sets the contrast."""
    values = density[region] if region.any() else density.ravel()
    sample = values[:: max(1, values.size // 2_000_000)].astype(np.float64)
    lo, hi = np.percentile(sample, percentiles)
    return float(lo), float(hi) if hi > lo else float(lo) + 1.0


def value_span(*value_sets: np.ndarray) -> tuple[float, float]:
    """(min, max) in Å over all values (for histogram ranges that lose no voxel)."""
    pooled = [v for v in value_sets if v.size]
    if not pooled:
        return (0.0, 1.0)
    return (float(min(v.min() for v in pooled)), float(max(v.max() for v in pooled)))


def histogram_edges(lo_A: float, hi_A: float, bins: int = 40) -> np.ndarray:
    """Equal-width bin edges (Å) spanning ``[lo_A, hi_A]``."""
    if not hi_A > lo_A:
        hi_A = lo_A + 1.0
    return np.linspace(lo_A, hi_A, bins + 1)


def local_histogram(values_A: np.ndarray, mask_voxels: int, edges_A: np.ndarray) -> dict:
    """Counts of resolved voxels per bin (values outside the edges are clipped into the end bins)
    plus the unresolved count, so that ``counts.sum() + unresolved == mask_voxels``."""
    clipped = np.clip(values_A, edges_A[0], edges_A[-1])
    counts, _ = np.histogram(clipped, bins=edges_A)
    return {"edges_A": edges_A, "counts": counts, "unresolved": int(mask_voxels - values_A.size)}


def joint_histogram(a_A: np.ndarray, b_A: np.ndarray, edges_A: np.ndarray) -> np.ndarray:
    """2-D counts ``[bin of a, bin of b]`` of paired voxel values (clipped into the end bins)."""
    lo, hi = edges_A[0], edges_A[-1]
    counts, _, _ = np.histogram2d(
        np.clip(a_A, lo, hi), np.clip(b_A, lo, hi), bins=[edges_A, edges_A]
    )
    return counts.astype(np.int64)


def agreement(a_A: np.ndarray, b_A: np.ndarray) -> dict[str, float | int | None]:
    """Spearman rank correlation and the median of ``a - b`` (Å) over paired voxels.

    The rank correlation is the Pearson correlation of mid-ranks (ties share their mean rank).
    """
    n = int(a_A.size)
    if n < 3:
        return {"spearman": None, "median_difference_A": None, "voxels": n}
    ra = stats.rankdata(a_A)
    rb = stats.rankdata(b_A)
    ra -= ra.mean()
    rb -= rb.mean()
    den = np.sqrt(np.dot(ra, ra) * np.dot(rb, rb))
    rho = float(np.dot(ra, rb) / den) if den > 0 else None
    diff = a_A.astype(np.float64) - b_A.astype(np.float64)
    return {"spearman": rho, "median_difference_A": float(np.median(diff)), "voxels": n}


def masked_layer(values_A: np.ndarray, resolved: np.ndarray) -> np.ndarray:
    """float32 copy of ``values_A`` with NaN where not ``resolved`` (drawn as plain grey map)."""
    layer = np.full(values_A.shape, np.nan, dtype=np.float32)
    layer[resolved] = values_A[resolved]
    return layer


@dataclass(frozen=True)
class Resolved:
    """One local-resolution map (Å, ``[z, y, x]``) inside the mask: which voxels hold a
    resolution (``ok``), their values (1-D, Å) and :func:`resolution_stats` of them."""

    map_A: np.ndarray
    ok: np.ndarray
    values: np.ndarray
    stats: dict[str, Any]


def resolved_map(
    map_A: np.ndarray, mask: np.ndarray, outside_value: float | None, n_mask: int
) -> Resolved:
    """:class:`Resolved` of ``map_A`` on ``mask`` (``n_mask`` voxels); ``outside_value`` Å."""
    ok = resolved_voxels(map_A, mask, outside_value)
    values = map_A[ok]
    return Resolved(map_A, ok, values, resolution_stats(values, n_mask))
