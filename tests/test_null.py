"""Exact weighted-χ² upper tail against independent oracles (closed forms, Imhof, Monte Carlo)."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from scipy import optimize, special

from resmap_core.localres import null
from resmap_core.localres.null import tail_probability, tail_quantile

REALISTIC = np.geomspace(0.01, 1.0, 16)


def _hypoexponential_tail(x: float, e: np.ndarray) -> float:
    """P(Σ_i e_i χ²₂ ≥ x) for distinct e_i, in 50-digit arithmetic (closed form)."""
    with mp.workdps(50):
        theta = [2 * mp.mpf(float(v)) for v in e]
        total = mp.mpf(0)
        for i, ti in enumerate(theta):
            coef = mp.fprod(ti / (ti - tj) for j, tj in enumerate(theta) if j != i)
            total += coef * mp.exp(-mp.mpf(float(x)) / ti)
        return float(total)


def _imhof_tail(x: float, w: np.ndarray) -> float:
    """Imhof's inversion integral P(Q > x) = ½ + (1/π)∫ sin θ(u)/(u ρ(u)) du at 30 digits."""
    with mp.workdps(30):
        lam = [mp.mpf(float(v)) for v in w]
        xm = mp.mpf(float(x))

        def integrand(u: mp.mpf) -> mp.mpf:
            if u == 0:
                return (sum(lam) - xm) / 2
            theta = sum(mp.atan(v * u) for v in lam) / 2 - xm * u / 2
            rho = mp.fprod((1 + (v * u) ** 2) ** mp.mpf(0.25) for v in lam)
            return mp.sin(theta) / (u * rho)

        period = 4 * mp.pi / xm
        pts = [period * i for i in range(0, 120)]
        val = mp.quad(integrand, pts) + mp.quad(integrand, [pts[-1], mp.inf])
        return float(mp.mpf(0.5) + val / mp.pi)


@pytest.mark.parametrize("nu", [1, 4, 16, 64])
def test_equal_weights_match_gamma_closed_form_down_to_1e_minus_15(nu: int) -> None:
    e = 0.7
    w = np.full(nu, e)
    x = np.array([0.01, 1.0, 10.0, 50.0, 100.0, 150.0])
    for p in (1e-12, 1e-15):  # add the x where the exact tail is 1e-12 and 1e-15
        x = np.append(x, 2 * e * special.gammainccinv(nu / 2, p))
    exact = special.gammaincc(nu / 2, x / (2 * e))
    got = tail_probability(x, w)
    assert np.all(np.abs(got / exact - 1) <= 1e-6)
    assert np.min(exact) < 2e-15


def test_distinct_pairs_match_hypoexponential_closed_form() -> None:
    e = np.array([1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005])
    w = np.repeat(e, 2)
    xs = np.array([0.3, 3.0, 20.0, 40.0, 60.0, 70.0])
    got = tail_probability(xs, w)
    exact = np.array([_hypoexponential_tail(x, e) for x in xs])
    assert exact[-1] < 2e-15
    np.testing.assert_allclose(got, exact, rtol=1e-6, atol=0)


def test_realistic_sixteen_weights_match_imhof_integral() -> None:
    xs = [20.0]  # tail ≈ 6e-5; one point keeps mpmath under ~10 s
    got = tail_probability(xs, REALISTIC)
    exact = np.array([_imhof_tail(x, REALISTIC) for x in xs])
    np.testing.assert_allclose(got, exact, rtol=1e-6, atol=0)


def test_moderate_tails_match_monte_carlo_within_binomial_band() -> None:
    rng = np.random.default_rng(20261124)
    n = 2_000_000
    q = np.zeros(n)
    for wj in REALISTIC:  # accumulate weight by weight to bound memory
        q += wj * rng.standard_normal(n) ** 2
    for p in (0.5, 0.1, 0.01, 1e-3):
        x = tail_quantile(p, REALISTIC)
        frac = np.count_nonzero(q >= x) / n
        assert abs(frac - p) <= 5 * np.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("p", [0.9, 0.05, 1e-4, 1e-10, 1e-14])
def test_quantile_inverts_tail(p: float) -> None:
    x = tail_quantile(p, REALISTIC)
    assert abs(tail_probability(x, REALISTIC) / p - 1) <= 1e-10


def test_wide_weight_spread_converges_and_matches_pairs_oracle() -> None:
    e = np.geomspace(1e-3, 1.0, 8)
    w = np.repeat(e, 2)
    xs = np.array([0.1, 5.0, 40.0, 66.0])
    got = tail_probability(xs, w)
    exact = np.array([_hypoexponential_tail(x, e) for x in xs])
    np.testing.assert_allclose(got, exact, rtol=1e-6, atol=0)


def test_non_positive_x_gives_one_and_huge_x_underflows_to_zero() -> None:
    got = tail_probability(np.array([[-1.0, 0.0], [1e5, np.inf]]), REALISTIC)
    assert got.shape == (2, 2)
    np.testing.assert_array_equal(got, [[1.0, 1.0], [0.0, 0.0]])


def test_tail_is_monotone_in_x() -> None:
    xs = np.linspace(0.0, 80.0, 400)
    assert np.all(np.diff(tail_probability(xs, REALISTIC)) <= 0)


def test_bad_weights_are_rejected() -> None:
    with pytest.raises(ValueError):
        tail_probability(1.0, [1.0, -0.5])
    with pytest.raises(ValueError):
        tail_quantile(0.0, [1.0])


# ---------------------------------------------------------------------------------------------
# The blocked mixture recursion and the series against a slow scalar reference


def _reference_mixture(w: np.ndarray, n_terms: int) -> np.ndarray:
    """a_0..a_{n−1} one term at a time: (k+1) a_{k+1} = Σ_j (γ_j/2) h_j(k), h_j(k+1) =
    γ_j h_j(k) + a_{k+1}, γ_j = 1 − β/e_j, a_0 = Π_j (β/e_j)^{1/2} (pure Python, all positive)."""
    beta = float(np.min(w))
    gam = [1.0 - beta / float(e) for e in w]
    half = [0.5 * g for g in gam]
    a = [float(np.exp(0.5 * np.sum(np.log(beta / w))))]
    h = [a[0]] * len(gam)
    for k in range(n_terms - 1):
        nxt = sum(c * hj for c, hj in zip(half, h, strict=True)) / (k + 1)
        a.append(nxt)
        h = [g * hj + nxt for g, hj in zip(gam, h, strict=True)]
    return np.array(a)


def _resmap_weights(lam: float, kernel: str = "paper") -> np.ndarray:
    from resmap_core.localres.basis import local_model

    return local_model(lam, (1.0, 1.0, 1.0), kernel).null_weights


def _terms_for_floor(w: np.ndarray) -> int:
    """Series terms after which the truncation bound P(N ≥ K) is below 1e-300."""
    gamma_max = 1.0 - w.min() / w.max()
    k = 256
    while special.betainc(k, w.size / 2, gamma_max) > 1e-300:
        k += 256
    return k


THREE_DECADES = np.geomspace(1e-3, 1.0, 16)
# (name, weights, terms): "deep" cases cover the terms of tails down to 1e-300
MIXTURE_CASES = [
    ("realistic deep", REALISTIC, _terms_for_floor(REALISTIC)),
    ("resmap 2.2 A deep", _resmap_weights(2.2), _terms_for_floor(_resmap_weights(2.2))),
    ("resmap 5.2 A deep", _resmap_weights(5.2), _terms_for_floor(_resmap_weights(5.2))),
    ("resmap 12.2 A", _resmap_weights(12.2), 3000),
    ("3 decades deep", THREE_DECADES, _terms_for_floor(THREE_DECADES)),  # ~7e5 terms, ~6 s
    ("pairs over 3 decades", np.repeat(np.geomspace(1e-3, 1.0, 8), 2), 30_000),
    ("two weights", np.array([0.3, 1.0]), 2000),
    ("equal weights", np.full(5, 0.4), 600),
]


@pytest.fixture(scope="module")
def reference_mixtures() -> dict[str, np.ndarray]:
    return {name: _reference_mixture(w, n) for name, w, n in MIXTURE_CASES}


@pytest.mark.parametrize(("name", "w", "n_terms"), MIXTURE_CASES, ids=[c[0] for c in MIXTURE_CASES])
def test_blocked_mixture_equals_scalar_recursion_to_1e_minus_12(
    name: str, w: np.ndarray, n_terms: int, reference_mixtures: dict[str, np.ndarray]
) -> None:
    null._CACHE.clear()
    got = null._coefficients(null._mixture(w), n_terms)
    ref = reference_mixtures[name]
    if "equal" in name:  # K ≡ 0
        assert got[0] == pytest.approx(ref[0], rel=1e-15) and np.all(got[1:] == 0.0)
        return
    normal = ref >= 1e-290  # the rest underflows in both (and is below the truncation floor)
    assert normal[:20].all()
    np.testing.assert_allclose(got[normal], ref[normal], rtol=1e-12, atol=0)
    assert np.all(got[~normal] <= 1e-280)


@pytest.mark.parametrize(
    "name", ["realistic deep", "resmap 2.2 A deep", "resmap 5.2 A deep", "3 decades deep"]
)
def test_deep_tails_down_to_1e_minus_300_match_reference_series(
    name: str, reference_mixtures: dict[str, np.ndarray]
) -> None:
    w = dict((c[0], c[1]) for c in MIXTURE_CASES)[name]
    a = reference_mixtures[name]  # its remainder bound is ≤ 1e-300
    ps = np.array([0.5, 1e-3, 1e-10, 1e-40, 1e-100, 1e-200, 1e-290])
    xs = np.array([tail_quantile(p, w) for p in ps])
    beta = w.min()
    dof = w.size + 2.0 * np.arange(a.size)
    ref = np.array([np.sum(a * special.gammaincc(dof / 2, x / beta / 2)) for x in xs])
    got = tail_probability(xs, w)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=0)  # the documented truncation
    np.testing.assert_allclose(ref, ps, rtol=1e-9)


def test_three_decade_pairs_match_closed_form_down_to_1e_minus_300() -> None:
    e = np.geomspace(1e-3, 1.0, 8)
    w = np.repeat(e, 2)
    xs = np.array([30.0, 300.0, 900.0, 1350.0])  # ≈ e^{−x/2}: 1e-6 … 1e-293
    exact = np.array([_hypoexponential_tail(x, e) for x in xs])
    assert exact[-1] < 1e-290
    np.testing.assert_allclose(tail_probability(xs, w), exact, rtol=1e-9, atol=0)


def test_extension_and_company_do_not_change_a_single_bit() -> None:
    w = _resmap_weights(2.2)
    null._CACHE.clear()
    mix = null._mixture(w)
    null._coefficients(mix, 300)
    stepwise = null._coefficients(mix, 9000).copy()
    null._CACHE.clear()
    np.testing.assert_array_equal(null._coefficients(null._mixture(w), 9000), stepwise)
    xs = np.concatenate([[14.0], np.geomspace(0.01, 300.0, 200)])
    together = tail_probability(xs, w)
    null._CACHE.clear()
    alone = tail_probability(xs[:1], w[::-1])  # weight order is irrelevant too
    assert together[0] == alone[0]


@pytest.mark.parametrize("w", [REALISTIC, _resmap_weights(2.2), _resmap_weights(2.2, "resmap-1.1")])
@pytest.mark.parametrize("p", [0.3, 0.05, 5e-8, 1e-30, 1e-250])
def test_quantile_matches_bracketing_root_finder_and_any_start(w: np.ndarray, p: float) -> None:
    def excess(x: float) -> float:
        t = float(tail_probability(x, w))
        return (np.log(t) if t > 0 else -1e300) - np.log(p)

    hi = float(w.sum())
    while excess(hi) > 0:
        hi *= 2.0
    ref = optimize.brentq(excess, 0.0, hi, xtol=1e-300, rtol=1e-15, maxiter=500)
    x = tail_quantile(p, w)
    assert abs(x / ref - 1) <= 1e-13
    for start in (0.3 * ref, 1.7 * ref, ref * (1 + 1e-9)):
        assert abs(tail_quantile(p, w, start=start) / ref - 1) <= 1e-13


def test_quantile_takes_few_series_evaluations_and_is_memoised(series_calls: list[int]) -> None:
    calls = series_calls
    for p in (0.05, 5e-8, 1e-12):
        calls[0] = 0
        first = tail_quantile(p, _resmap_weights(2.2))
        assert calls[0] <= 4  # vs ~10 tail evaluations of a bracketing root finder
        calls[0] = 0
        assert tail_quantile(p, _resmap_weights(2.2)) == first and calls[0] == 0
