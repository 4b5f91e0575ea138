"""Benjamini–Yekutieli step-up over one or several families of weighted-χ² statistics.

A family is one wavelength: a 1-D float64 array of statistics and their null law (a
:class:`~resmap_core.localres.null.NullLaw`, or the weights e_j of Σ_j e_j χ²₁; p-value =
``law.tail_probability(stat)``); NaN statistics are not tests.  All families
are pooled into one BY procedure.  The tail is never evaluated at every statistic: the procedure
iterates k ← N(k·c) = #{p ≤ k·c} from k = m, which decreases monotonically to the textbook k*
(largest k with p_(k) ≤ k·c).  N is evaluated through per-family quantile thresholds plus exact
tail evaluations for the few statistics within round-off distance of each threshold.  Nothing is
sorted: each count is a pass over the statistics that passed the first (loosest) threshold, and
each threshold is a Newton solve started from the family's earlier thresholds (a few series
evaluations instead of a root search).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from resmap_core.errors import InputError
from resmap_core.localres import null

__all__ = ["ByResult", "benjamini_yekutieli", "harmonic_number"]

_EULER_GAMMA = 0.57721566490153286060651209
_EXACT_HARMONIC_MAX = 1000
# Statistics within this relative distance of a quantile threshold get an exact tail evaluation; it
# is far wider than the quantile tolerance (1e-12) and the tail's relative error (1e-9).
_WINDOW = 1e-6
# Thresholds only split the statistics into sure, unsure (within the window) and never, so
# 1e-12 (a thousandth of a part per million) is plenty and saves a Newton step per count.
_THRESHOLD_RTOL = 1e-12


def harmonic_number(m: int) -> float:
    """H_m = Σ_{i=1}^{m} 1/i (exact sum up to 1000 terms, Euler–Maclaurin beyond; error < 1e-15)."""
    if m < 0:
        raise ValueError(f"harmonic_number needs m ≥ 0, got {m}")
    if m <= _EXACT_HARMONIC_MAX:
        return math.fsum(1.0 / i for i in range(1, m + 1))
    inv2 = 1.0 / (m * m)
    return (
        math.log(m) + _EULER_GAMMA + 0.5 / m - inv2 * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 / 252))
    )


@dataclass(frozen=True)
class ByResult:
    """Outcome of a pooled BY procedure.

    ``rejected[f]`` is a bool array shaped like ``statistics[f]``; ``stat_thresholds[f]`` is the
    smallest rejected statistic of family f (inf when none); ``uncorrected_thresholds[f]`` is the
    statistic at p = q without multiple-testing correction; ``p_threshold`` = k*·q/(m·H_m), or 0
    when nothing is rejected.
    """

    n_tests: int
    n_rejected: int
    p_threshold: float
    rejected: list[np.ndarray]
    stat_thresholds: list[float]
    uncorrected_thresholds: list[float]


class _Family:
    """One family's statistics, its null law and the thresholds found so far."""

    def __init__(self, stats: np.ndarray, law: null.NullLaw) -> None:
        self.stats = stats
        self.law = law
        self.n_tests = stats.size - int(np.count_nonzero(np.isnan(stats)))
        self._pool = stats  # the statistics a count has to look at (NaN never passes ≥)
        self._floor = -math.inf
        self.known: dict[float, float] = {}  # p → statistic threshold t(p)

    def threshold(self, p: float) -> float:
        """t(p) = the law's tail quantile to 1e-12, started by interpolation between known t."""
        t = self.known.get(p)
        if t is None:
            t = self.law.tail_quantile(p, start=self._guess(p), rtol=_THRESHOLD_RTOL)
            self.known[p] = t
        return t

    def _guess(self, p: float) -> float | None:
        """Secant in (log p, t) through the two known thresholds nearest p (None: < 2 known)."""
        if len(self.known) < 2:
            return None
        near = sorted(self.known, key=lambda v: abs(math.log(v / p)))[:2]
        (p0, p1), (t0, t1) = near, (self.known[near[0]], self.known[near[1]])
        return t0 + (t1 - t0) * math.log(p / p0) / math.log(p1 / p0)

    def _window(self, p: float) -> tuple[float, float]:
        """Statistics ≥ hi surely have p-value ≤ p, those < lo surely not."""
        t = self.threshold(p)
        return t * (1.0 - _WINDOW), t * (1.0 + _WINDOW)

    def count_at_or_below(self, p: float) -> int:
        """#{tests with p-value ≤ p}, exact: quantile threshold plus exact tails near it."""
        if p >= 1.0 or self.n_tests == 0:
            return self.n_tests
        lo, hi = self._window(p)
        if lo < self._floor:  # a looser threshold than before: look at everything again
            self._pool, self._floor = self.stats, -math.inf
        if self._floor == -math.inf:  # later thresholds are stricter: keep what can pass
            self._pool, self._floor = self.stats[self.stats >= lo], lo
        pool = self._pool
        sure = int(np.count_nonzero(pool >= hi))
        near = pool[(pool >= lo) & (pool < hi)]
        if near.size == 0:
            return sure
        pv = self.law.tail_probability(near)
        return sure + int(np.count_nonzero(pv <= p))

    def reject(self, p: float) -> np.ndarray:
        """Bool mask (aligned with the input) of tests with p-value ≤ p, exact as above."""
        finite = ~np.isnan(self.stats)
        if p >= 1.0 or self.n_tests == 0:
            return finite
        lo, hi = self._window(p)
        mask = finite & (self.stats >= hi)
        near = np.flatnonzero(finite & (self.stats >= lo) & (self.stats < hi))
        if near.size:
            pv = self.law.tail_probability(self.stats[near])
            mask[near[pv <= p]] = True
        return mask


def _validate(statistics: Sequence[np.ndarray], weights: Sequence[object], q: float) -> None:
    """Refuse a level q outside (0, 1) (InputError) or malformed families (ValueError)."""
    if not (0.0 < q < 1.0):
        raise InputError(f"FDR level q must lie in (0, 1), got {q}.")
    if len(statistics) != len(weights) or len(statistics) == 0:
        raise ValueError("benjamini_yekutieli needs one weight vector per family (≥ 1 family)")
    for s in statistics:
        if np.asarray(s).ndim != 1:
            raise ValueError("each family of statistics must be a 1-D array")


def benjamini_yekutieli(
    statistics: Sequence[np.ndarray], nulls: Sequence[null.NullLaw | np.ndarray], q: float
) -> ByResult:
    """Pooled BY step-up at level ``q`` over all non-NaN statistics of all families;
    ``nulls`` holds one null law (or weight vector) per family."""
    _validate(statistics, nulls, q)
    fams = [
        _Family(np.asarray(s, dtype=np.float64), null.as_law(w))
        for s, w in zip(statistics, nulls, strict=True)
    ]
    m = sum(f.n_tests for f in fams)
    uncorrected = [f.law.tail_quantile(q) for f in fams]
    for f, t in zip(fams, uncorrected, strict=True):
        f.known[q] = t  # a first point for the start guesses
    if m == 0:
        return ByResult(
            0,
            0,
            0.0,
            [np.zeros(f.stats.shape, bool) for f in fams],
            [math.inf] * len(fams),
            uncorrected,
        )
    c = q / (m * harmonic_number(m))
    k = m
    while k > 0:
        k_next = sum(f.count_at_or_below(k * c) for f in fams)
        if k_next == k:
            break
        k = k_next
    p_thr = k * c if k > 0 else 0.0
    if k == 0:
        rejected = [np.zeros(f.stats.shape, bool) for f in fams]
    else:
        rejected = [f.reject(p_thr) for f in fams]
    thresholds = [
        float(f.stats[r].min()) if r.any() else math.inf
        for f, r in zip(fams, rejected, strict=True)
    ]
    return ByResult(m, k, p_thr, rejected, thresholds, uncorrected)
