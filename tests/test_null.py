"""Exact weighted-χ² upper tail against independent oracles (closed forms, Imhof, Monte Carlo)."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from scipy import special

from resmap_core.null import tail_probability, tail_quantile

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
