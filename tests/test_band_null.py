"""The band-energy null law: eigenvalues against dense algebra, tails against independent oracles
(closed forms and Ruben's series in 50-digit arithmetic, the exact Ruben code, Monte Carlo of the
weighted sum and of the actual band-passed field), error bounds, quantiles, records."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator

import mpmath as mp
import numpy as np
import pytest
from scipy import stats
from threadpoolctl import threadpool_limits

from resmap_core.localres import band_null as bn
from resmap_core.localres import null
from resmap_core.localres.band_null import BandNull, band_eigenvalues, band_null

RHO = 0.15  # shell width ρ (relative to 1/λ)
KAPPA = 0.75  # window width s = κλ


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    """Dense references and draws on one BLAS thread: on a busy 2-core machine threaded
    OpenBLAS spins and runs many times slower."""
    with threadpool_limits(1, user_api="blas"):
        yield


# ---------------------------------------------------------------------------------------------
# Kernels and windows built the way the caller builds them


def _shell_gain(shape: tuple[int, ...], spacing: tuple[float, ...], lam: float) -> np.ndarray:
    """B(k) = exp(−(|k| − 1/λ)²/(2(ρ/λ)²)) on the full FFT grid (|k| in cycles per unit of
    ``spacing``), zero on the Nyquist planes of even axes (so that B² is even per axis)."""
    freqs = [np.fft.fftfreq(n, d=d) for n, d in zip(shape, spacing, strict=True)]
    kz, ky, kx = np.meshgrid(*freqs, indexing="ij")
    gain = np.exp(-0.5 * ((np.sqrt(kz**2 + ky**2 + kx**2) - 1.0 / lam) * lam / RHO) ** 2)
    for axis, n in enumerate(shape):
        if n % 2 == 0:
            index = [slice(None)] * 3
            index[axis] = n // 2
            gain[tuple(index)] = 0.0
    return gain


def _kernel_and_window(
    shape: tuple[int, ...], spacing: tuple[float, ...], lam: float, radius: tuple[int, ...] | None
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """a = real inverse FFT of B² (periodic box, unit white noise) on offsets −2R..2R, made
    exactly even per axis, and w_a(t) = exp(−(t d_a)²/(2s²)), s = κλ, R_a = ceil(2s/d_a)."""
    s = KAPPA * lam
    if radius is None:
        radius = tuple(math.ceil(2.0 * s / d - 1e-9) for d in spacing)
    a = np.fft.ifftn(_shell_gain(shape, spacing, lam) ** 2).real
    a = a[np.ix_(*(np.arange(-2 * r, 2 * r + 1) % n for r, n in zip(radius, shape, strict=True)))]
    for axis in range(3):
        a = 0.5 * (a + np.flip(a, axis))  # exactly even (the sum is commutative)
    window = tuple(
        np.exp(-0.5 * (np.arange(-r, r + 1) * d / s) ** 2)
        for r, d in zip(radius, spacing, strict=True)
    )
    return a, window


def _dense_matrix(a: np.ndarray, window: tuple[np.ndarray, ...]) -> np.ndarray:
    """M = W½ A W½ over all window offsets, A_ij = a(d_i − d_j) (the definition)."""
    radius = [(w.size - 1) // 2 for w in window]
    offsets = np.stack(
        np.meshgrid(*(np.arange(-r, r + 1) for r in radius), indexing="ij"), axis=-1
    ).reshape(-1, 3)
    diff = offsets[:, None, :] - offsets[None, :, :] + 2 * np.array(radius)
    big_a = a[diff[..., 0], diff[..., 1], diff[..., 2]]
    root_w = np.sqrt(np.einsum("i,j,k->ijk", *window).ravel())
    return root_w[:, None] * big_a * root_w[None, :]


EIGEN_CASES = [  # λ in voxels (or Å with the spacing); R = ceil(2κλ/d) unless given
    ("cubic R=2", (32, 32, 32), (1.0, 1.0, 1.0), 3.0, (2, 2, 2)),
    ("cubic R=3", (48, 48, 48), (1.0, 1.0, 1.0), 4.0, (3, 3, 3)),
    ("cubic R=4, odd box", (45, 47, 49), (1.0, 1.0, 1.0), 6.0, (4, 4, 4)),
    ("cubic R=5 = ceil(2s)", (40, 40, 40), (1.0, 1.0, 1.0), 3.0, None),
    ("non-cubic R=(2,3,4)", (40, 48, 56), (1.0, 1.0, 1.0), 5.0, (2, 3, 4)),
    ("anisotropic voxels", (40, 48, 56), (1.6, 1.2, 0.9), 5.0, (3, 3, 4)),
]


@pytest.mark.parametrize(
    ("name", "shape", "spacing", "lam", "radius"), EIGEN_CASES, ids=[c[0] for c in EIGEN_CASES]
)
def test_parity_block_eigenvalues_equal_dense_eigvalsh(
    name: str, shape: tuple, spacing: tuple, lam: float, radius: tuple | None
) -> None:
    a, window = _kernel_and_window(shape, spacing, lam, radius)
    dense = np.linalg.eigvalsh(_dense_matrix(a, window))
    got = band_eigenvalues(a, window)
    assert got.shape == dense.shape
    assert np.max(np.abs(got - dense)) <= 1e-12 * dense[-1]
    # the trace: Σe = a(0)·ΣW
    centre = tuple((n - 1) // 2 for n in a.shape)
    assert got.sum() == pytest.approx(a[centre] * np.prod([w.sum() for w in window]), rel=1e-12)


def test_band_null_keeps_large_weights_and_summarises_the_rest_exactly(
    realistic_law: BandNull,
) -> None:
    e = band_eigenvalues(*_kernel_and_window((48, 48, 48), (1.0, 1.0, 1.0), 4.0, None))
    law = realistic_law
    cut = bn._CUT * e[-1]
    np.testing.assert_array_equal(law.weights, e[e >= cut])
    dropped = e[(e < cut) & (e > 0)]
    assert dropped.size > 0 and np.any(e <= 0)  # both kinds occur here
    assert law.rest_sum == float(dropped.sum())
    assert law.rest_square == float(np.sum(dropped**2))
    assert law.rest_max == float(dropped.max())


def test_bad_kernels_and_windows_are_rejected() -> None:
    a, window = _kernel_and_window((32, 32, 32), (1.0, 1.0, 1.0), 1.4, None)
    with pytest.raises(ValueError):
        band_null(a[1:-1], window)  # shape does not match 4R+1
    skew = a.copy()
    skew[0, 0, 0] += 1e-3 * a.max()
    with pytest.raises(ValueError):
        band_null(skew, window)  # not even
    with pytest.raises(ValueError):
        band_null(a, (window[0], window[1], window[2] * np.linspace(1, 2, window[2].size)))
    with pytest.raises(ValueError):
        band_null(a, (window[0], window[1], -window[2]))


# ---------------------------------------------------------------------------------------------
# Realistic laws


@pytest.fixture(scope="module")
def realistic_law() -> BandNull:
    """λ = 4 voxels on a 48³ box: R = 6 (2197 offsets), ~1600 kept weights, dof ≈ 110."""
    return band_null(*_kernel_and_window((48, 48, 48), (1.0, 1.0, 1.0), 4.0, None))


def _sum_of_chi_squares(w: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws of Σ_j w_j χ²₁, in chunks to bound memory."""
    out = np.empty(n)
    for i in range(0, n, 20_000):
        m = min(20_000, n - i)
        out[i : i + m] = (rng.standard_normal((m, w.size)) ** 2) @ w
    return out


def test_tail_matches_monte_carlo_of_the_weighted_sum(realistic_law: BandNull) -> None:
    rng = np.random.default_rng(20261202)
    n = 100_000
    q = _sum_of_chi_squares(realistic_law.weights, n, rng) + realistic_law.rest_sum
    for p in (0.9, 0.5, 0.1, 0.01, 1e-3, 1e-4):
        x = realistic_law.tail_quantile(p)
        frac = np.count_nonzero(q >= x) / n
        assert abs(frac - p) <= 5 * math.sqrt(p * (1 - p) / n)
    pv = realistic_law.tail_probability(q[:20_000])
    assert stats.kstest(pv, "uniform").pvalue > 1e-4
    wrong = BandNull(realistic_law.weights * 1.02)  # the test has the power to see 2 %
    assert stats.kstest(wrong.tail_probability(q[:20_000]), "uniform").pvalue < 1e-6


def _field_statistics(n_boxes: int, rng: np.random.Generator) -> tuple[np.ndarray, BandNull]:
    """Q = Σ_d W(d) f(v+d)² of band-passed unit white noise f on periodic 32³ boxes (λ = 3,
    R = 5), at 8 voxels 16 apart per box (windows apart); and the law of band_null."""
    shape, lam = (32, 32, 32), 3.0
    a, window = _kernel_and_window(shape, (1.0, 1.0, 1.0), lam, None)
    gain = _shell_gain(shape, (1.0, 1.0, 1.0), lam)[:, :, : shape[2] // 2 + 1]
    weight = np.einsum("i,j,k->ijk", *window)
    radius = (window[0].size - 1) // 2
    starts = [(z, y, x) for z in (0, 16) for y in (0, 16) for x in (0, 16)]
    out = []
    for _ in range(0, n_boxes, 100):
        noise = rng.standard_normal((100, *shape))
        f = np.fft.irfftn(np.fft.rfftn(noise, axes=(1, 2, 3)) * gain, s=shape, axes=(1, 2, 3))
        for z, y, x in starts:  # the window around (z, y, x), shifted away from the edge
            g = np.roll(f, (radius - z, radius - y, radius - x), axis=(1, 2, 3))
            part = g[:, : 2 * radius + 1, : 2 * radius + 1, : 2 * radius + 1]
            out.append(np.einsum("nijk,ijk->n", part**2, weight))
    return np.concatenate(out), band_null(a, window)


def test_tail_matches_monte_carlo_of_the_band_passed_field() -> None:
    q, law = _field_statistics(1500, np.random.default_rng(7))
    n = q.size
    for p in (0.5, 0.1, 0.01, 1e-3):
        x = law.tail_quantile(p)
        frac = np.count_nonzero(q >= x) / n
        assert abs(frac - p) <= 5 * math.sqrt(p * (1 - p) / n)
    assert stats.kstest(law.tail_probability(q), "uniform").pvalue > 1e-4


# ---------------------------------------------------------------------------------------------
# High-precision oracles


def _pairs_tail(x: float, e: np.ndarray) -> float:
    """P(Σ_i e_i χ²₂ ≥ x) for distinct e_i in 80-digit arithmetic (closed form)."""
    with mp.workdps(80):
        theta = [2 * mp.mpf(float(v)) for v in e]
        xm = mp.mpf(float(x))
        total = mp.mpf(0)
        for i, ti in enumerate(theta):
            total += mp.fprod(ti / (ti - tj) for j, tj in enumerate(theta) if j != i) * mp.exp(
                -xm / ti
            )
        return float(total)


def _ruben_tail(x: float, values: np.ndarray, counts: np.ndarray) -> float:
    """P(Σ e_j χ²₁ ≥ x) by Ruben's mixture in 60-digit arithmetic: Σ_k a_k Q(ν/2 + k, x/2β),
    β = min e, a_k from n a_n = Σ_j (m_j γ_j/2) h_j, h_j ← γ_j h_j + a_n, until the mixture
    mass left, a bound on the rest, is below 1e-15 of the sum."""
    with mp.workdps(60):
        e = [mp.mpf(float(v)) for v in values]
        beta = min(e)
        gam = [1 - beta / v for v in e]
        half = [mp.mpf(int(m)) * g / 2 for m, g in zip(counts, gam, strict=True)]
        nu = int(np.sum(counts))
        a = mp.fprod((beta / v) ** (mp.mpf(int(m)) / 2) for v, m in zip(e, counts, strict=True))
        h = [a] * len(e)
        z = mp.mpf(float(x)) / (2 * beta)
        s = mp.mpf(nu) / 2
        q = mp.gammainc(s, z, mp.inf, regularized=True)
        term = mp.exp(s * mp.log(z) - z - mp.loggamma(s + 1))  # Q(s+1) − Q(s)
        total, mass, k = a * q, a, 0
        while 1 - mass > mp.mpf(10) ** -15 * total:
            k += 1
            a = mp.fsum(c * hj for c, hj in zip(half, h, strict=True)) / k
            h = [g * hj + a for g, hj in zip(gam, h, strict=True)]
            q, term, s = q + term, term * z / (s + 1), s + 1
            total, mass = total + a * q, mass + a
        return float(total)


def test_wide_pairs_match_closed_form_down_to_1e_minus_250() -> None:
    e = np.geomspace(1e-4, 1.0, 25)  # 50 weights: every one twice, four decades
    law = BandNull(np.repeat(e, 2))
    for p in (1e-3, 1e-10, 1e-30, 1e-100, 1e-250):
        x = law.tail_quantile(p)
        exact = _pairs_tail(x, e)
        assert exact == pytest.approx(p, rel=1e-8)
        assert law.tail_probability(x) == pytest.approx(exact, rel=1e-8)


def test_odd_multiplicities_match_ruben_series_in_60_digits() -> None:
    values = np.geomspace(1.0 / 30.0, 1.0, 16)
    counts = np.array([1, 3, 2, 1, 4, 1, 3, 2, 5, 1, 2, 3, 1, 2, 1, 3])  # 35 weights
    law = BandNull(np.repeat(values, counts))
    for p in (1e-3, 1e-10, 1e-30):
        x = law.tail_quantile(p)
        exact = _ruben_tail(x, values, counts)
        assert law.tail_probability(x) == pytest.approx(exact, rel=1e-8)


@pytest.mark.parametrize(
    "w",
    [np.geomspace(0.01, 1.0, 16), np.repeat(np.geomspace(0.01, 1.0, 8), 2), np.full(12, 0.3)],
    ids=["16 over two decades", "8 pairs", "12 equal"],
)
def test_matches_exact_ruben_code_for_few_weights(w: np.ndarray) -> None:
    law = BandNull(w)
    xs = np.array([law.tail_quantile(p) for p in (0.9, 0.5, 0.05, 1e-4, 1e-9, 1e-15)])
    np.testing.assert_allclose(law.tail_probability(xs), null.tail_probability(xs, w), rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# The rest terms and the error bounds


def test_aggressive_dropping_stays_within_the_stated_bound(realistic_law: BandNull) -> None:
    full = realistic_law
    w = full.weights
    cut = 1e-3 * w[-1]
    gone = w[w < cut]
    rough = BandNull(
        w[w >= cut],
        full.rest_sum + float(gone.sum()),
        full.rest_square + float(np.sum(gone**2)),
        float(gone.max()),
    )
    assert gone.size > 500  # most weights go
    xs = np.array([full.tail_quantile(p) for p in (0.5, 1e-3, 1e-10, 1e-50, 1e-150)])
    p_full, err_full = full.tail_probability_with_error(xs)
    p_rough, err_rough = rough.tail_probability_with_error(xs)
    assert np.all(np.abs(p_rough - p_full) <= err_rough + err_full + 1e-9 * p_full)
    assert np.all(err_rough <= 1e-4 * p_rough)  # a useful bound, well above the full law's
    assert np.all(err_full <= 1e-10 * p_full)
    assert np.max(err_rough / p_rough) > 100 * np.max(err_full / p_full)
    # and the rest matters: without it the tails are off by far more than the bound
    bare = BandNull(w[w >= cut])
    assert np.all(np.abs(bare.tail_probability(xs) - p_full) > 1e3 * err_rough)


def test_error_bounds_are_small_across_the_range(realistic_law: BandNull) -> None:
    law = realistic_law
    xs = np.linspace(0.01, 1.6 * law.tail_quantile(1e-300), 400)
    p, err = law.tail_probability_with_error(xs)
    live = p > 1e-300
    assert live.sum() > 200
    assert np.all(err[live] <= 1e-10 * p[live])
    assert np.all(np.diff(p) <= 0)  # a tail is monotone
    assert p[-1] == 0.0  # far beyond 1e-300: underflows to 0


# ---------------------------------------------------------------------------------------------
# Quantiles, special values, records


@pytest.mark.parametrize("p", [0.5, 0.05, 1e-3, 1e-10, 1e-30, 1e-100, 1e-200])
def test_quantile_round_trip(realistic_law: BandNull, p: float) -> None:
    x = realistic_law.tail_quantile(p)
    assert abs(realistic_law.tail_probability(x) / p - 1) <= 1e-9
    again = realistic_law.tail_quantile(p, start=1.3 * x, rtol=1e-14)
    assert again == pytest.approx(x, rel=1e-12)


def test_quantile_is_memoised_and_deterministic(realistic_law: BandNull) -> None:
    x = realistic_law.tail_quantile(1e-7)
    assert realistic_law.tail_quantile(1e-7) == x
    ev = bn._evaluator(realistic_law)
    del ev.quantiles[(1e-7, 1e-16)]
    ev.grids.clear()  # a cold start gives the same bits
    assert realistic_law.tail_quantile(1e-7) == x


def test_special_values_shapes_and_independence(realistic_law: BandNull) -> None:
    law = realistic_law
    got = law.tail_probability(np.array([[-1.0, 0.0, np.nan], [np.inf, 1e9, law.rest_sum]]))
    assert got.shape == (2, 3)
    np.testing.assert_array_equal(got[0], [1.0, 1.0, 1.0])
    assert got[1, 0] == 0.0 and got[1, 1] == 0.0 and got[1, 2] == 1.0
    assert isinstance(law.tail_probability(3.0), np.ndarray)
    xs = np.concatenate([[70.0], np.linspace(1.0, 900.0, 300)]) * law.weights[-1]
    together = law.tail_probability(xs)[0]
    bn._CACHE.clear()
    alone = law.tail_probability(xs[:1])[0]
    assert together == alone  # an element's value does not depend on the others


def test_records_round_trip_exactly(realistic_law: BandNull) -> None:
    law = realistic_law
    back = BandNull.from_record(json.loads(json.dumps(law.to_record())))
    np.testing.assert_array_equal(back.to_array(), law.to_array())
    buf = io.BytesIO()
    np.savez(buf, null=law.to_array())
    buf.seek(0)
    packed = BandNull.from_array(np.load(buf)["null"])
    np.testing.assert_array_equal(packed.weights, law.weights)
    assert (packed.rest_sum, packed.rest_square, packed.rest_max) == (
        law.rest_sum,
        law.rest_square,
        law.rest_max,
    )
    x = law.tail_quantile(1e-12)
    assert packed.tail_probability(x) == law.tail_probability(x)


def test_bad_input_is_rejected(realistic_law: BandNull) -> None:
    for p in (0.0, 1.0, -0.1, 1.5, math.nan):
        with pytest.raises(ValueError):
            realistic_law.tail_quantile(p)
    with pytest.raises(ValueError):
        BandNull(np.array([]))
    with pytest.raises(ValueError):
        BandNull(np.array([1.0, -0.5]))
    with pytest.raises(ValueError):
        BandNull(np.array([1.0, 0.5]), rest_sum=1.0, rest_square=2.0, rest_max=0.5)
    with pytest.raises(ValueError):
        BandNull.from_array(np.array([0.0, 0.0, 0.0]))
