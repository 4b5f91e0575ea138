"""Pooled Benjamini–Yekutieli against statsmodels, a hand-worked example and pure-null data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from resmap_core.localres import fdr, null
from resmap_core.localres.fdr import benjamini_yekutieli, harmonic_number

W_A = np.geomspace(0.02, 1.0, 16)
W_B = np.geomspace(0.005, 0.8, 16)


def _null_draws(rng: np.random.Generator, n: int, w: np.ndarray) -> np.ndarray:
    return (w[None, :] * rng.standard_normal((n, w.size)) ** 2).sum(axis=1)


def _families(seed: int, n_fam: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    stats, weights = [], []
    for f in range(n_fam):
        w = W_A if f % 2 == 0 else W_B
        s = _null_draws(rng, 300, w)
        s[:40] += rng.uniform(5.0, 60.0, 40)  # some signal
        s[rng.choice(300, 20, replace=False)] = np.nan
        s[50:55] = s[0]  # ties
        stats.append(s)
        weights.append(w)
    return stats, weights


def _brute_force(stats: list[np.ndarray], weights: list[np.ndarray], q: float) -> list[np.ndarray]:
    pv = [null.tail_probability(s, w) for s, w in zip(stats, weights, strict=True)]
    finite = [~np.isnan(s) for s in stats]
    flat = np.concatenate([p[f] for p, f in zip(pv, finite, strict=True)])
    rej_flat = multipletests(flat, alpha=q, method="fdr_by")[0]
    out, i = [], 0
    for s, f in zip(stats, finite, strict=True):
        r = np.zeros(s.shape, bool)
        r[f] = rej_flat[i : i + f.sum()]
        i += int(f.sum())
        out.append(r)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("n_fam", [1, 3])
def test_rejections_match_statsmodels_fdr_by(seed: int, n_fam: int) -> None:
    stats, weights = _families(seed, n_fam)
    res = benjamini_yekutieli(stats, weights, 0.05)
    expected = _brute_force(stats, weights, 0.05)
    for got, exp in zip(res.rejected, expected, strict=True):
        np.testing.assert_array_equal(got, exp)
    assert res.n_rejected == sum(int(e.sum()) for e in expected) > 0
    assert res.n_tests == sum(int((~np.isnan(s)).sum()) for s in stats)
    for s, r, t in zip(stats, res.rejected, res.stat_thresholds, strict=True):
        assert t == s[r].min()
        assert not np.any(r & np.isnan(s))


def test_hand_worked_textbook_example_rejects_three() -> None:
    # m = 10, H_10 = 2.928968, c = 0.05/(10 H_10) = 0.0017071; k·c = 0.0017, 0.0034, 0.0051, 0.0068,
    # ... p_(3) = 0.0019 ≤ 0.0051 while p_(k) > k·c for every k ≥ 4, so k* = 3.
    p = np.array([0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240])
    w = np.array([1.0])
    stats = np.array([null.tail_quantile(v, w) for v in p])
    res = benjamini_yekutieli([stats], [w], 0.05)
    assert res.n_rejected == 3
    np.testing.assert_array_equal(res.rejected[0], [True] * 3 + [False] * 7)
    assert res.p_threshold == pytest.approx(3 * 0.05 / (10 * 2.9289682539682538), rel=1e-12)


def test_no_rejections_on_small_null_sample() -> None:
    rng = np.random.default_rng(7)
    s = _null_draws(rng, 50, W_A)
    res = benjamini_yekutieli([s], [W_A], 0.05)
    assert res.n_rejected == 0 and res.p_threshold == 0.0
    assert res.stat_thresholds == [math.inf]
    assert not res.rejected[0].any()
    assert not _brute_force([s], [W_A], 0.05)[0].any()


def test_all_rejected_when_every_statistic_is_extreme() -> None:
    s = np.array([80.0, 90.0, np.nan, 100.0])
    res = benjamini_yekutieli([s], [W_A], 0.05)
    np.testing.assert_array_equal(res.rejected[0], [True, True, False, True])
    assert res.n_tests == 3 and res.n_rejected == 3


def test_pure_null_rejection_fraction_is_at_most_q() -> None:
    rng = np.random.default_rng(11)
    stats = [_null_draws(rng, 20000, W_A), _null_draws(rng, 20000, W_B)]
    res = benjamini_yekutieli(stats, [W_A, W_B], 0.05)
    assert res.n_rejected / res.n_tests <= 0.05


def test_tail_evaluations_are_few_for_many_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    s = _null_draws(rng, 200_000, W_A)
    s[:2000] += 40.0
    evaluated = [0]
    real = null.tail_probability

    def counting(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        evaluated[0] += np.size(x)
        return real(x, w)

    monkeypatch.setattr(null, "tail_probability", counting)
    res = benjamini_yekutieli([s], [W_A], 0.05)
    assert res.n_rejected > 1000
    assert evaluated[0] < 5000  # vs 200 000 for brute force


def test_uncorrected_threshold_is_quantile_at_q() -> None:
    res = benjamini_yekutieli([np.array([1.0])], [W_B], 0.05)
    assert res.uncorrected_thresholds[0] == null.tail_quantile(0.05, W_B)


@pytest.mark.parametrize("m", [0, 1, 2, 10, 999, 1000, 1001, 5000, 123457])
def test_harmonic_number_matches_exact_sum(m: int) -> None:
    exact = math.fsum(1.0 / i for i in range(1, m + 1))
    assert abs(harmonic_number(m) - exact) <= 1e-12 * max(exact, 1.0)


def test_q_outside_unit_interval_is_input_error() -> None:
    with pytest.raises(fdr.InputError):
        benjamini_yekutieli([np.array([1.0])], [W_A], 1.5)


# ---------------------------------------------------------------------------------------------
# Decisions against the textbook step-up on every exact p-value


def _textbook(stats: list[np.ndarray], weights: list[np.ndarray], q: float):
    """k*, p threshold and rejections of BY on all exact p-values (sorted, step-up)."""
    pv = [null.tail_probability(s, w) for s, w in zip(stats, weights, strict=True)]
    finite = [~np.isnan(s) for s in stats]
    pooled = np.sort(np.concatenate([p[f] for p, f in zip(pv, finite, strict=True)]))
    m = pooled.size
    c = q / (m * harmonic_number(m))
    ks = np.flatnonzero(pooled <= np.arange(1, m + 1) * c)
    k = int(ks[-1]) + 1 if ks.size else 0
    p_thr = k * c if k else 0.0
    rejected = [f & (p <= p_thr) & (k > 0) for p, f in zip(pv, finite, strict=True)]
    return k, p_thr, rejected


RESMAP_LIKE = [
    np.geomspace(0.007, 0.42, 16),  # spread as the 2.2 Å paper weights
    np.geomspace(0.05, 0.26, 16),
    np.geomspace(2e-4, 0.8, 16),  # as the 2.2 Å resmap-1.1 weights
]


def _scan_like(seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """1–3 families of null + signal statistics with NaN, ±inf, zeros and ties."""
    rng = np.random.default_rng(seed)
    stats, weights = [], []
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(len(RESMAP_LIKE)))
        w = RESMAP_LIKE[i]
        # the oracle evaluates every tail: ~10⁵ series terms each for the widest spread
        n = int(rng.choice([50, 400] if i == 2 else [50, 400, 4000]))
        s = _null_draws(rng, n, w)
        k = int(rng.choice([0.0, 0.02, 0.3, 0.9]) * n)
        s[:k] += rng.exponential(float(rng.choice([0.5, 3.0, 30.0])), k) * w.sum()
        s[rng.choice(n, n // 8, replace=False)] = np.nan
        s[rng.choice(n, n // 20)] = s[1]
        s[:3] = [np.inf, -2.0, 0.0]
        stats.append(s)
        weights.append(w)
    return stats, weights


@pytest.mark.parametrize("seed", range(12))
def test_decisions_equal_textbook_step_up_on_exact_p_values(seed: int) -> None:
    stats, weights = _scan_like(seed)
    q = (0.05, 0.01, 0.2)[seed % 3]
    k, p_thr, expected = _textbook(stats, weights, q)
    res = benjamini_yekutieli(stats, weights, q)
    assert (res.n_rejected, res.p_threshold) == (k, p_thr)
    for got, exp, s, t in zip(res.rejected, expected, stats, res.stat_thresholds, strict=True):
        np.testing.assert_array_equal(got, exp)
        assert t == (s[exp].min() if exp.any() else math.inf)


def test_statistics_on_the_step_up_thresholds_are_decided_exactly() -> None:
    # p_(k) = k·c·(1 + δ_k) for k = 1..40 among ~5000 null draws, δ_k = +1e-9 above k = 25 (a
    # staircase the step-up descends one step at a time, each lost by a part in 10⁹) and
    # −1e-9, 0 or 1e-9 below: every step is decided by the exact tails near the quantiles.
    rng = np.random.default_rng(3)
    w = RESMAP_LIKE[0]
    nulls = _null_draws(rng, 5000, w)
    nulls = nulls[null.tail_probability(nulls, w) > 1e-3]  # none among the stairs
    ks = np.arange(1, 41)
    m = nulls.size + ks.size
    c = 0.05 / (m * harmonic_number(m))
    delta = np.where(ks > 25, 1e-9, rng.choice([-1e-9, 0.0, 1e-9], ks.size))
    edge = [null.tail_quantile(k * c * (1 + d), w) for k, d in zip(ks, delta, strict=True)]
    stats = np.concatenate([nulls, edge])
    k, p_thr, expected = _textbook([stats], [w], 0.05)
    res = benjamini_yekutieli([stats], [w], 0.05)
    assert (res.n_rejected, res.p_threshold) == (k, p_thr)
    np.testing.assert_array_equal(res.rejected[0], expected[0])
    low = ks <= 25
    assert ks[low & (delta < 0)].max() <= k <= ks[low & (delta <= 0)].max()  # δ = 0: rounding


def test_series_evaluations_are_few_for_many_tests(series_calls: list[int]) -> None:
    rng = np.random.default_rng(5)
    s = _null_draws(rng, 200_000, W_A)
    s[:20_000] += rng.exponential(40.0, 20_000)
    calls = series_calls
    res = benjamini_yekutieli([s], [W_A], 0.05)
    assert res.n_rejected > 10_000
    assert calls[0] <= 30  # the old quantile searches took ~100
