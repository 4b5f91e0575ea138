"""Exact null law of the band-energy statistic: a weighted sum of many χ²₁ variables.

Statistic and law.  At one wavelength Q(v) = Σ_d W(d) f(v+d)² over the window offsets
d = (dz, dy, dx), |d_a| ≤ R_a, with W(d) = w_z[dz] w_y[dy] w_x[dx] (each factor symmetric and
positive) and f a stationary Gaussian field of covariance E f(u) f(u') = a(u − u'), a even in
each axis.  Then Q = Σ_k e_k χ²₁ exactly, e_k the eigenvalues of M = W½ A W½, A_ij = a(d_i − d_j)
(n = Π(2R_a + 1) offsets, up to 19³).

Eigenvalues.  Reflecting one axis maps the window onto itself and leaves a and W unchanged, so M
commutes with the three reflections and splits into 8 blocks, one per parity (even/odd in each
axis).  Per axis the even basis is δ_0, (δ_t + δ_−t)/√2 (t = 1..R), the odd one (δ_t − δ_−t)/√2,
and the block entry is a product of per-axis folds: a(s − t) ± a(s + t) for s, t ≥ 0, times
√w(s)√w(t) and 1/√2 for each zero index of an even axis.  The blocks ((R+1)³, R(R+1)², R²(R+1),
R³ square) are built by gathers, one axis at a time, and diagonalised densely (LAPACK
``syevr``): the eigenvalues of M to ~n·ε·e_max, with ~60× fewer flops than one dense solve of M.

Kept weights and rest.  Eigenvalues ≤ 0 are round-off (M is PSD) and dropped; those below
``_CUT``·e_max are summarised by rest_sum Σe, rest_square Σe² and rest_max, and enter
log M(t) = log E e^{tQ} = −½ Σ log(1 − 2te) through their first two cumulants, t·rest_sum +
t²·rest_square.  What that neglects is at most, for 2|t|·rest_max < 1,

    β_rest(|t|) = (2|t|)² rest_square · 2|t| rest_max / (6 (1 − 2|t| rest_max))

(from Σ_{m≥3} (2|t|)^m Σe^m/(2m) and Σe^m ≤ rest_max^{m−2} rest_square).

Tail.  Ruben's mixture is no option here: with β = min e ≈ 1e-10 e_max it needs ~x/β terms.
Instead, for 0 < c < 1/(2 e_max) and g(t) = M(t) e^{−tx}/t, g(c + iu) is the Fourier transform
of φ(z) = e^{cz} P(Q > x + z), so the trapezoid rule with step h = 2π/L is, by Poisson summation,

    (h/π) Re[½ g(c) + Σ_{k≥1} g(c + ikh)] = Σ_m e^{cLm} P(Q > x + Lm).

With L > x every term m < 0 has P = 1 (Q > 0): they add up to exactly 1/expm1(cL), which is
subtracted.  The terms m > 0 are ≥ 0 and, by Chernoff's bound at any c' ∈ (c, 1/(2 e_max)), at
most e^{K⁺(c') − c'x}/expm1((c' − c)L), K⁺ ≥ log M (the model plus β_rest).  For c < 0 the same
sum is −P(Q ≤ x) − (terms m > 0, in [0, 1/expm1(|c|L)]) and the terms m < 0 vanish (used below
the mean: P(Q ≥ x) = 1 − P(Q ≤ x) ≥ ½ there).  The sum stops at k = N: as
|1 − 2(c + iu)e_j| = (1 − 2ce_j)(1 + a_j²u²)^{1/2}, a_j = 2e_j/(1 − 2ce_j), and
1 + a²u² ≥ (1 + a²U²)(u/U)^{2q} (q = a²U²/(1 + a²U²), Bernoulli), the integral beyond U = Nh,
which bounds the terms k > N (|g| decreases in u), is at most

    (1/π) e^{K⁺(c) − cx} Π_j (1 + a_j²U²)^{−1/4} · 2/Σ_j q_j.

On a grid with |t| ≤ T the weights with 2Te_j > ½ are explicit (−½log(1 − 2ce) − ¼log1p(a²u²)
+ (i/2)arctan(au)); the others and the rest's two cumulants form a power series
Σ_m (2t)^m P_m/(2m) cut where its remainder, (2|t|)^{M+1}P_{M+1}/(2(M+1)(1 − 2|t|e)), is
≤ 1e-17; with β_rest that bounds |log M − model| by β(|t|), and the result's error from the
model by Σ_k |term_k|(e^{β(|t_k|)} − 1).

Every x is evaluated on a grid (c, L, N) fixed for its bin (bins of x fixed per law; each grid
built once and cached), chosen from the real cumulant function K(c) on a table of c: among the c
whose terms are ≤ ``_COND`` times a saddlepoint estimate of the result, the one of smallest L
with aliasing ≤ 1e-12 of the estimate, and N from the truncation bound at 1e-12.  Per x the sum
is N cosines (N ≈ 25 in the bulk … ~1300 at 1e-300 for ~100 effective dof; laws of few weights
decay slowly in u and need far more).  After the sum the bounds are checked against the computed
tail: aliasing + truncation ≤ ``_ACCEPT`` (1e-10) of it, and an estimate of floating-point
rounding (ε times each term's size, phase and log count, root-sum-square over the terms, plus
the common factors) ≤ ``_ROUND_ACCEPT`` (3e-10), or that x is recomputed alone with stricter
targets.  So the relative error is ≲ 4e-10 wherever the result is ≥ 1e-300 (≲ 1e-9 promised),
plus the model bound, ≤ 1e-12 of the result for laws from :func:`band_null` (larger, and
reported, for laws with a large rest).  :meth:`BandNull.tail_probability_with_error` returns the
rigorous bound (aliasing + truncation + model; not rounding) with the values.  A value depends
on its x alone.  All work is in logarithms, so nothing overflows or underflows internally; x
beyond which Chernoff's bound is below e^{−745} give 0.

Quantiles: Newton on log P(x) with the density (same grid; the sum of M(t)e^{−tx}, whose terms
m < 0 vanish), from a Lugannani–Rice guess interpolated on the table.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.polynomial import polynomial
from numpy.typing import ArrayLike
from scipy import linalg, special
from threadpoolctl import threadpool_limits

from resmap_core.localres.null import newton_log_tail

__all__ = ["BandNull", "band_eigenvalues", "band_null"]

_CUT = 1e-10  # eigenvalues below _CUT·e_max go to the rest
_SYMMETRY_TOL = 1e-12  # relative: evenness of the kernel and the window factors
_TAU = 1e-12  # design target of the aliasing and truncation bounds (relative to the result)
_COND = 1e3  # design limit of (largest term) / result
_ACCEPT = 1e-10  # a-posteriori limit of (aliasing + truncation + model bounds) / result
_ROUND_ACCEPT = 3e-10  # ... and of the (worst-case) rounding estimate / result
_RHO = 0.5  # weights with 2|t|e ≤ _RHO on a grid go to the power series
_LOG_ZERO = -745.0  # Chernoff bound below e^this: the tail is 0 in float64
_MAX_POINTS = 2**22  # grid points of one bin (few weights decay slowly and need many)
_CHUNK = 2**20  # elements of the work arrays
_X_CHUNK = 4096  # statistics per batch
_Y = np.arange(-6.0, 14.0, 0.02)  # table of c = (1 − e^{−y})/2: c → 1/2 as y grows
_BIN_RATIO = math.log(1.4)  # upper bins: (x − μ)/σ + 2 grows by this factor per bin
_MAX_NEWTON = 100
_EPS = float(np.finfo(np.float64).eps)


# ---------------------------------------------------------------------------------------------
# Eigenvalues by parity blocks


def _fold(a: np.ndarray, axis: int, radius: int, sign: int, root_w: np.ndarray) -> np.ndarray:
    """Fold one axis of ``a`` (differences −2R..2R there) into an (s, t) pair of axes.

    Result[..., s, t, ...] = n(s)n(t)√w(s)√w(t)·(a(s − t) + sign·a(s + t)) for s, t = 0..R
    (even, sign +1; n(0) = 1/√2, else 1) or 1..R (odd, sign −1): the matrix of M on the
    per-axis parity basis, since a and W are even in that axis.
    """
    t = np.arange(0 if sign > 0 else 1, radius + 1)
    scale = root_w[radius + t].copy()
    if sign > 0:
        scale[0] *= math.sqrt(0.5)
    folded = np.take(a, t[:, None] - t[None, :] + 2 * radius, axis=axis)
    folded += sign * np.take(a, t[:, None] + t[None, :] + 2 * radius, axis=axis)
    shape = [1] * folded.ndim
    shape[axis] = shape[axis + 1] = t.size
    folded *= np.outer(scale, scale).reshape(shape)
    return folded


def _parity_blocks(kernel: np.ndarray, window: tuple[np.ndarray, ...]) -> Iterator[np.ndarray]:
    """The 8 parity blocks of M (square float64 matrices), each axis folded once per sign."""
    radii = [(w.size - 1) // 2 for w in window]
    roots = [np.sqrt(w) for w in window]
    for sz in (1, -1):
        fz = _fold(kernel, 0, radii[0], sz, roots[0])  # (z, z', Y, X)
        for sy in (1, -1):
            fy = _fold(fz, 2, radii[1], sy, roots[1])  # (z, z', y, y', X)
            for sx in (1, -1):
                fx = _fold(fy, 4, radii[2], sx, roots[2])  # (z, z', y, y', x, x')
                n = fx.shape[0] * fx.shape[2] * fx.shape[4]
                yield fx.transpose(0, 2, 4, 1, 3, 5).reshape(n, n)


def _check_inputs(kernel: np.ndarray, window: tuple[np.ndarray, ...]) -> None:
    """ValueError unless shapes match (2R+1 window, 4R+1 kernel) and symmetries hold."""
    if kernel.ndim != 3 or len(window) != 3:
        raise ValueError("band_null needs a 3-D kernel and three 1-D window factors")
    for axis, w in enumerate(window):
        radius = (w.size - 1) // 2
        if w.ndim != 1 or w.size % 2 == 0 or radius < 1 or kernel.shape[axis] != 4 * radius + 1:
            raise ValueError("each window factor needs 2R+1 ≥ 3 points and the kernel 4R+1 there")
        if not (np.all(np.isfinite(w)) and np.all(w > 0)):
            raise ValueError("window factors must be finite and positive")
        if np.max(np.abs(w - w[::-1])) > _SYMMETRY_TOL * np.max(w):
            raise ValueError("window factors must be symmetric")
        if np.max(np.abs(kernel - np.flip(kernel, axis))) > _SYMMETRY_TOL * np.abs(kernel).max():
            raise ValueError("the kernel must be even in each axis separately")
    if not np.all(np.isfinite(kernel)):
        raise ValueError("the kernel must be finite")


def band_eigenvalues(
    kernel: ArrayLike, window: tuple[ArrayLike, ArrayLike, ArrayLike]
) -> np.ndarray:
    """All eigenvalues of M = W½ A W½ (ascending, float64, n = Π(2R_a + 1) of them).

    ``kernel`` a(d) on d_a = −2R_a..2R_a (shape (4R_z+1, 4R_y+1, 4R_x+1), centre at 2R_a), even
    in each axis; ``window`` (w_z, w_y, w_x), lengths 2R_a + 1, symmetric, positive.  Units: a
    in (field units)², w dimensionless; the eigenvalues are in the units of Q.
    """
    a = np.asarray(kernel, dtype=np.float64)
    win = tuple(np.asarray(w, dtype=np.float64) for w in window)
    _check_inputs(a, win)
    # one BLAS thread: blocks of ≤ 1000 gain little from more, and oversubscribed threads
    # (a busy machine, or callers' own thread pools) make LAPACK many times slower
    with threadpool_limits(1, user_api="blas"):
        parts = [
            linalg.eigh(b, eigvals_only=True, overwrite_a=True, check_finite=False)
            for b in _parity_blocks(a, win)
        ]
    return np.sort(np.concatenate(parts))


def band_null(kernel: ArrayLike, window: tuple[ArrayLike, ArrayLike, ArrayLike]) -> BandNull:
    """The exact null law of Q for this kernel and window (see :func:`band_eigenvalues`).

    Eigenvalues ≥ ``_CUT``·e_max are kept; the smaller positive ones are summarised exactly
    (sum, sum of squares, largest); those ≤ 0 are round-off and dropped.
    """
    e = band_eigenvalues(kernel, window)
    if e.size == 0 or not e[-1] > 0:
        raise ValueError("the kernel gives no positive eigenvalue (a zero field)")
    keep = e >= _CUT * e[-1]
    rest = e[(~keep) & (e > 0)]
    return BandNull(
        e[keep],
        float(rest.sum()),
        float(np.sum(rest * rest)),
        float(rest.max()) if rest.size else 0.0,
    )


# ---------------------------------------------------------------------------------------------
# The law


@dataclass(frozen=True, eq=False)
class BandNull:
    """Q = Σ_j e_j χ²₁ + (rest): ``weights`` the kept e_j (ascending float64, units of Q), the
    dropped ones summarised by ``rest_sum`` Σe, ``rest_square`` Σe², ``rest_max`` max e (0 if
    none).  Evaluations are cached per law (by value), so copies share them."""

    weights: np.ndarray
    rest_sum: float = 0.0
    rest_square: float = 0.0
    rest_max: float = 0.0

    def __post_init__(self) -> None:
        w = np.sort(np.asarray(self.weights, dtype=np.float64).ravel())
        if w.size == 0 or not np.all(np.isfinite(w)) or w[0] <= 0:
            raise ValueError("a BandNull needs a non-empty array of finite positive weights")
        rest = (float(self.rest_sum), float(self.rest_square), float(self.rest_max))
        s, q, m = rest
        if not all(math.isfinite(v) and v >= 0 for v in rest):
            raise ValueError("rest_sum, rest_square and rest_max must be finite and ≥ 0")
        if m * m > q * (1 + 1e-12) or q > m * s * (1 + 1e-12) or m > s * (1 + 1e-12):
            raise ValueError("rest terms are inconsistent (need max² ≤ Σe² ≤ max·Σe)")
        if m > w[-1] or (m == 0.0) != (s == 0.0):
            raise ValueError("rest_max must be ≤ the largest weight, and 0 exactly when Σe is")
        w.flags.writeable = False
        object.__setattr__(self, "weights", w)
        for name, v in zip(("rest_sum", "rest_square", "rest_max"), rest, strict=True):
            object.__setattr__(self, name, v)

    def to_array(self) -> np.ndarray:
        """[rest_sum, rest_square, rest_max, weights…] (1-D float64; exact round trip)."""
        rest = [self.rest_sum, self.rest_square, self.rest_max]
        return np.concatenate([np.array(rest), self.weights])

    @classmethod
    def from_array(cls, arr: ArrayLike) -> BandNull:
        """The law packed by :meth:`to_array`."""
        a = np.asarray(arr, dtype=np.float64).ravel()
        if a.size < 4:
            raise ValueError("a packed BandNull has 3 rest numbers and ≥ 1 weight")
        return cls(a[3:].copy(), float(a[0]), float(a[1]), float(a[2]))

    def to_record(self) -> dict:
        """JSON-able: {"weights": [...], "rest_sum", "rest_square", "rest_max"} (exact)."""
        return {
            "weights": [float(v) for v in self.weights],
            "rest_sum": self.rest_sum,
            "rest_square": self.rest_square,
            "rest_max": self.rest_max,
        }

    @classmethod
    def from_record(cls, record: dict) -> BandNull:
        """The law of :meth:`to_record`."""
        return cls(
            np.asarray(record["weights"], dtype=np.float64),
            float(record["rest_sum"]),
            float(record["rest_square"]),
            float(record["rest_max"]),
        )

    def tail_probability(self, x: ArrayLike) -> np.ndarray:
        """P(Q ≥ x) elementwise (same shape, float64); x ≤ 0 or NaN → 1, +inf → 0.

        Relative error ≲ 1e-9 wherever the result is ≥ 1e-300; each value depends on its x
        alone (not on the other elements).
        """
        return self.tail_probability_with_error(x)[0]

    def tail_probability_with_error(self, x: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(P(Q ≥ x), a rigorous bound on its error in exact arithmetic): aliasing, truncation
        and the model of the rest and small weights; floating-point rounding is not included
        (its estimate is kept below 1e-10 of the result)."""
        xs = np.asarray(x, dtype=np.float64)
        p, err = _evaluator(self).tail(xs.ravel())
        return p.reshape(xs.shape), err.reshape(xs.shape)

    def tail_quantile(self, p: float, start: float | None = None, rtol: float = 1e-16) -> float:
        """The x with P(Q ≥ x) = p (0 < p < 1), to relative precision ~rtol.

        Newton on log P from ``start`` or, without it, from a deterministic Lugannani–Rice
        guess (then the result is a function of (p, law, rtol) and memoised).  Newton stops
        once its step is below √rtol·x; the default gives full double precision.
        """
        if not (0.0 < p < 1.0):
            raise ValueError(f"tail_quantile needs 0 < p < 1, got {p}")
        ev = _evaluator(self)
        if start is None and (p, rtol) in ev.quantiles:
            return ev.quantiles[(p, rtol)]
        x0 = ev.first_guess(p) if start is None else float(start) / ev.scale
        if not (math.isfinite(x0) and x0 > 0):
            x0 = ev.mean
        x = ev.scale * _newton(ev, math.log(p), x0, math.sqrt(rtol))
        if start is None:
            ev.quantiles[(p, rtol)] = x
        return x


# ---------------------------------------------------------------------------------------------
# Evaluation, in units of e_max (x̃ = x/e_max, ẽ = e/e_max ≤ 1, so 0 < c < 1/2 upstairs)


def _log_expm1(z: np.ndarray | float) -> np.ndarray:
    """log(e^z − 1) for z > 0, without overflow (−inf at z = 0)."""
    z = np.asarray(z, dtype=np.float64)
    small = np.minimum(z, 30.0)
    with np.errstate(divide="ignore"):
        return np.where(
            z > 30.0, z + np.log1p(-np.exp(-np.maximum(z, 30.0))), np.log(np.expm1(small))
        )


def _rest_bound(t_abs: np.ndarray, rest_square: float, rest_max: float) -> np.ndarray:
    """β_rest(|t|): bound on the m ≥ 3 cumulant terms of the dropped weights (inf where the
    series may diverge, 2|t|·rest_max ≥ 1)."""
    r = 2.0 * np.asarray(t_abs, dtype=np.float64) * rest_max
    with np.errstate(divide="ignore", invalid="ignore"):
        b = (2.0 * t_abs) ** 2 * rest_square * r / (6.0 * (1.0 - r))
    return np.where(r < 1.0, b, np.inf)


@dataclass
class _Table:
    """The real cumulant function on c = (1 − e^{−y})/2, y ∈ ``_Y`` (ascending c < 1/2).

    ``k`` = log M(c) of the model (kept weights + two rest cumulants), ``k_plus`` an upper bound
    of the law's (model + β_rest(|c|)), ``k1``, ``k2`` the model's first two derivatives.
    """

    c: np.ndarray
    k: np.ndarray
    k_plus: np.ndarray
    k1: np.ndarray
    k2: np.ndarray


def _table(e: np.ndarray, rest: tuple[float, float, float]) -> _Table:
    """K, K', K'' of weights ``e`` (normalised) and the rest on the c grid, in weight chunks."""
    c = -0.5 * np.expm1(-_Y)
    k, k1, k2 = np.zeros(c.size), np.zeros(c.size), np.zeros(c.size)
    step = max(1, _CHUNK // c.size)
    for j in range(0, e.size, step):
        ej = e[j : j + step]
        v = -2.0 * c[:, None] * ej  # 1 − 2ce − 1
        k -= 0.5 * np.log1p(v).sum(axis=1)
        inv = 1.0 / (1.0 + v)
        k1 += (ej * inv).sum(axis=1)
        k2 += (2.0 * (ej * inv) ** 2).sum(axis=1)
    rs, rq, rm = rest
    k += c * rs + c * c * rq
    k1 += rs + 2.0 * c * rq
    k2 += 2.0 * rq
    return _Table(c, k, k + _rest_bound(np.abs(c), rq, rm), k1, k2)


@dataclass
class _Grid:
    """One bin's trapezoid grid t_k = c + ikh (k = 0..N, h = 2π/L) and its cached sums.

    ``amp``/``phase``: w_k|G_k/G_0| and arg(G_k/G_0), G = M(t)/t, w_0 = ½ (else 1); ``damp``/
    ``dphase`` the same for M(t)/M(c) (the density).  ``log_g0`` = log|G_0|, ``log_m0`` = K(c)
    (model), ``log_trunc`` = log of the truncation bound times e^{cx}, ``rest_rel`` = Σ amp·
    (e^β − 1), ``round_const``/``round_slope``: the rounding estimate a + b·x (relative to the
    scale (h/π)|G_0|e^{−cx}), ``c_index`` c's place in the table, ``alias_points`` the table
    indices of the c' used in the aliasing bound.
    """

    c: float
    length: float
    c_index: int
    u: np.ndarray
    amp: np.ndarray
    phase: np.ndarray
    damp: np.ndarray
    dphase: np.ndarray
    log_g0: float
    log_m0: float
    log_trunc: float
    rest_rel: float
    round_const: float
    round_slope: float
    alias_points: np.ndarray

    @property
    def log_step(self) -> float:
        """log(h/π) = log(2/L)."""
        return math.log(2.0 / self.length)


def _series_order(p: np.ndarray, t_max: float, e_top: float) -> int:
    """Smallest M with (2T)^{M+1} P_{M+1}/(2(M+1)(1 − 2T e_top)) ≤ 1e-17 (P_m = p[m−1])."""
    m = np.arange(1, p.size + 1, dtype=np.float64)
    with np.errstate(divide="ignore", over="ignore"):
        bound = np.exp(m * math.log(2.0 * t_max) + np.log(p)) / (2.0 * m * (1 - 2 * t_max * e_top))
    ok = np.flatnonzero(bound[2:] <= 1e-17)  # M ≥ 2 (the rest's two cumulants)
    return int(ok[0] + 2) if ok.size else p.size - 1


def _power_sums(e: np.ndarray, count: int) -> np.ndarray:
    """P_m = Σ_j e_j^m for m = 1..count (zeros for an empty e)."""
    return np.cumprod(np.broadcast_to(e[:, None], (e.size, count)), axis=1).sum(axis=0)


def _log_mgf(ev: _Evaluator, t: np.ndarray, t_max: float) -> tuple[np.ndarray, np.ndarray, int]:
    """log M(t) of the model on t = c + iu (one c, |t| ≤ t_max), its error bound β(|t|), and
    the number of explicit terms per point (for the rounding estimate).

    Weights with 2·t_max·e > ``_RHO`` are explicit logs; the others, with the rest's two
    cumulants, a power series Σ_m (2t)^m P_m/(2m) cut at order M (remainder bound in β).
    """
    e = ev.e
    big = e > _RHO / (2.0 * t_max)
    explicit, small = e[big], e[~big]
    # −½ log(1 − 2te) = −½ log(1 − 2ce) − ¼ log1p(r²) + (i/2) arctan r, r = 2eu/(1 − 2ce)
    c, u = float(t[0].real), t.imag
    slope = 2.0 * explicit / (1.0 - 2.0 * c * explicit)
    out = np.full(t.size, -0.5 * float(np.sum(np.log1p(-2.0 * c * explicit))), np.complex128)
    step = max(1, _CHUNK // max(1, explicit.size))
    for i in range(0, t.size, step):
        r = u[i : i + step, None] * slope
        out[i : i + step] += -0.25 * np.log1p(r * r).sum(axis=1) + 0.5j * np.arctan(r).sum(axis=1)
    e_top = float(small.max()) if small.size else 0.0
    p = _power_sums(small, 100)
    order = _series_order(p, t_max, e_top) if small.size else 2
    with_rest = p[:order].copy()  # the rest's t·Σe + t²·Σe² are the m = 1, 2 terms
    with_rest[:2] += ev.rest[:2]
    coef = with_rest / (2.0 * np.arange(1, order + 1))
    z = 2.0 * t
    out += z * polynomial.polyval(z, coef)  # Σ_{m=1..M} coef_{m−1} z^m
    ta = np.abs(t)
    with np.errstate(divide="ignore", over="ignore"):
        tail = (2 * ta) ** (order + 1) * p[order] / (2 * (order + 1) * (1 - 2 * ta * e_top))
    beta = tail + _rest_bound(ta, ev.rest[1], ev.rest[2])
    return out, beta, explicit.size


def _grid(
    ev: _Evaluator, c_index: int, length: float, u_max: float, span: tuple[float, float]
) -> _Grid:
    """The trapezoid sums' terms of one design (c = table c[c_index], L, last node ≥ u_max)
    for x in ``span``."""
    c = float(ev.table.c[c_index])
    h = 2.0 * math.pi / length
    n = math.ceil(u_max / h)
    if n > _MAX_POINTS:
        raise RuntimeError("BandNull: too few effective weights for the Laplace inversion")
    u = h * np.arange(n + 1)
    t = c + 1j * u
    log_m, beta, n_terms = _log_mgf(ev, t, abs(c) + u[-1])
    log_g = log_m - np.log(t)
    rel = log_g - log_g[0]
    amp = np.exp(rel.real)
    amp[0] = 0.5
    drel = log_m - log_m[0]
    damp = np.exp(drel.real)
    damp[0] = 0.5
    eps = _EPS
    # rounding per term (independent between terms): its n_terms logs, its size and phase;
    # plus the dot product's (~log2 N ulps of Σ amp)
    size = amp * (2.0 * (n_terms + 4) + np.abs(rel.imag) + np.abs(rel.real))
    round_const = 4.0 * eps * math.sqrt(float(np.sum(size**2)))
    round_const += eps * math.log2(u.size + 1) * float(np.sum(amp))
    return _Grid(
        c=c,
        length=length,
        c_index=c_index,
        u=u,
        amp=amp,
        phase=rel.imag,
        damp=damp,
        dphase=drel.imag,
        log_g0=float(log_g[0].real),
        log_m0=float(log_m[0].real),
        log_trunc=_log_truncation(ev, c, float(ev.table.k_plus[c_index]), float(u[-1])),
        rest_rel=float(np.sum(amp * np.expm1(beta))),
        round_const=round_const,
        alias_points=_alias_points(ev, c_index, length, span),
        round_slope=4.0 * eps * float(np.sqrt(np.sum((amp * u) ** 2))),  # independent
    )


def _log_truncation(ev: _Evaluator, c: float, k_plus: float, u_max: np.ndarray | float) -> float:
    """log[(1/π) e^{K⁺(c)} Π_j (1 + a_j²U²)^{−1/4} · 2/Σ_j q_j] at U = ``u_max`` (times
    e^{−cx} it bounds the integral beyond U), a_j = 2e_j/(1 − 2ce_j), q_j = a²U²/(1 + a²U²)."""
    au2 = (2.0 * ev.e / (1.0 - 2.0 * c * ev.e) * u_max) ** 2
    q = float(np.sum(au2 / (1.0 + au2)))
    return k_plus - math.log(math.pi) - 0.25 * float(np.sum(np.log1p(au2))) + math.log(2.0 / q)


def _truncation_point(ev: _Evaluator, c_index: int, x: float, log_target: float) -> float:
    """Smallest U (to 1 %) where the truncation bound at x is ≤ e^{log_target}."""
    c = float(ev.table.c[c_index])
    k_plus = float(ev.table.k_plus[c_index]) - c * x

    def excess(u: float) -> float:
        return _log_truncation(ev, c, k_plus, u) - log_target

    lo, hi = 0.5, 1.0
    while excess(hi) > 0:
        lo, hi = hi, 2.0 * hi
        if hi > 1e30:
            raise RuntimeError("BandNull: the characteristic function does not decay")
    while excess(lo) <= 0 and lo > 1e-6:
        lo, hi = 0.5 * lo, lo
    while hi > 1.01 * lo:
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
    return hi


def _log_width(tab: _Table, index: np.ndarray) -> np.ndarray:
    """log of ∫|M(c+iu)/t| du / (π M(c)) with |M(c+iu)| ≈ M(c)e^{−u²K''/2}, |t| ≥ |c|: the size
    of the sum of the terms relative to Chernoff's bound (design only)."""
    c, k2 = tab.c[index], tab.k2[index]
    return 0.5 * np.log(np.pi / (2.0 * k2)) - np.log(np.pi * np.abs(c))


def _design_upper(
    ev: _Evaluator, lo: float, hi: float, tau: float, cond: float
) -> tuple[int, float]:
    """(table index of c > 0, L) for x in [lo, hi]: the c of smallest L among those whose terms
    stay ≤ cond·P (P the saddlepoint estimate at lo, mid, hi), where L ≥ 1.02·hi, the
    subtracted 1/expm1(cL) ≤ cond·P(hi) and the aliasing bound ≤ tau·P.  For one c' > c the
    bound e^{K⁺(c') − c'x}/expm1((c' − c)L) ≤ tau·P needs (c' − c)L ≥ log1p(e^A),
    A = K⁺(c') − c'x − log(tau·P): L(c) = max over x of the min over c' of that.
    """
    tab = ev.table
    xs = np.array([lo, 0.5 * (lo + hi), hi])
    log_s = ev.log_s_estimate(xs)
    pos = np.flatnonzero(tab.c > 0)
    worst = (tab.k_plus[pos, None] - tab.c[pos, None] * xs - log_s).max(axis=1)
    worst += _log_width(tab, pos)
    cand = pos[worst <= math.log(cond)]
    if cand.size == 0:  # a bin too wide for cond: take the best conditioned c
        cand = pos[[int(np.argmin(worst))]]
    cand = cand[np.unique(np.linspace(0, cand.size - 1, 48).astype(int))]  # enough to choose
    c = tab.c[cand]
    cp = np.arange(cand[0] + 1, tab.c.size)  # the c' > c, every one a valid Chernoff point
    need = np.logaddexp(0.0, tab.k_plus[cp, None] - tab.c[cp, None] * xs - log_s - math.log(tau))
    gap = tab.c[None, cp] - c[:, None]  # c' − c, (candidates, c')
    with np.errstate(divide="ignore"):
        per_cp = np.where(gap[:, :, None] > 0, need / np.maximum(gap, 1e-300)[:, :, None], np.inf)
    l_alias = per_cp.min(axis=1).max(axis=1)
    l_neg = np.logaddexp(0.0, -math.log(cond) - log_s[-1]) / c  # 1/expm1(cL) ≤ cond·P(hi)
    lengths = np.maximum(np.maximum(l_alias, l_neg), 1.02 * hi)
    best = int(np.argmin(lengths))
    return int(cand[best]), float(lengths[best]) * (1.0 + 1e-9)


def _design_lower(ev: _Evaluator, hi: float, tau: float, cond: float) -> tuple[int, float]:
    """(table index of c < 0, L) for x in (0, hi] (hi below the mean): the aliasing of the CDF
    is ≤ 1/expm1(|c|L) ≤ tau·P(Q ≥ hi) (≥ 0.3 there) if L ≥ log(1/(0.3 tau))/|c|; the terms
    are ≤ e^{K(c) − c·hi} ≤ cond; the c of smallest L."""
    tab = ev.table
    neg = np.flatnonzero(tab.c < 0)
    neg = neg[tab.k_plus[neg] - tab.c[neg] * hi + _log_width(tab, neg) <= math.log(cond)]
    if neg.size == 0:  # pragma: no cover - c → 0⁻ always qualifies
        raise RuntimeError("BandNull: no Laplace-inversion design below the mean")
    need = (math.log(1.0 / (0.3 * tau)) + 1.0) / np.abs(tab.c[neg])
    lengths = np.maximum(1.02 * hi, need)
    best = int(np.argmin(lengths))
    return int(neg[best]), float(lengths[best])


@dataclass
class _Evaluator:
    """Everything the tail needs of one law, in units of e_max, with its caches.

    ``e`` kept weights / e_max (descending); ``rest`` (Σe, Σe², max e) / e_max^(1, 2, 1);
    ``mean``/``sd`` of Q; bins: −1 is (0, mean − sd/2], b ≥ 0 is where (x − mean)/sd + 2
    lies in 1.5·[r^b, r^{b+1}), r = e^``_BIN_RATIO``.  ``grids`` per bin, ``quantiles`` memo.
    """

    scale: float
    e: np.ndarray
    rest: tuple[float, float, float]
    table: _Table
    mean: float
    sd: float
    grids: dict[int, _Grid] = field(default_factory=dict)
    quantiles: dict[tuple[float, float], float] = field(default_factory=dict)
    guess_table: tuple[np.ndarray, np.ndarray] | None = None

    def bin_of(self, x: np.ndarray) -> np.ndarray:
        """Bin index of each x (> 0)."""
        z = np.maximum((x - self.mean) / self.sd + 2.0, 1.5)
        b = np.floor(np.log(z / 1.5) / _BIN_RATIO).astype(np.int64)
        return np.where(x <= self.mean - 0.5 * self.sd, -1, b)

    def bin_edges(self, b: int) -> tuple[float, float]:
        """[lo, hi] of bin b."""
        if b < 0:
            return 0.0, self.mean - 0.5 * self.sd
        z = 1.5 * np.exp(_BIN_RATIO * np.array([b, b + 1.0]))
        return tuple(self.mean + self.sd * (z - 2.0))  # type: ignore[return-value]

    @cached_property
    def x_zero(self) -> float:
        """Beyond this x Chernoff's bound min_c K⁺(c) − cx is below ``_LOG_ZERO``: the
        smallest (K⁺(c) − ``_LOG_ZERO``)/c over the table's c > 0."""
        pos = self.table.c > 0
        return float(np.min((self.table.k_plus[pos] - _LOG_ZERO) / self.table.c[pos]))

    def log_s_estimate(self, x: np.ndarray) -> np.ndarray:
        """Saddlepoint estimate of log P(Q ≥ x): Chernoff / (1 + ĉ√(2πK''(ĉ))), ≤ log ½;
        log 0.3 at or below the mean (design only)."""
        pos = np.flatnonzero(self.table.c > 0)
        vals = self.table.k_plus[pos] - np.multiply.outer(x, self.table.c[pos])
        j = pos[np.argmin(vals, axis=-1)]
        c, k2 = self.table.c[j], self.table.k2[j]
        est = vals.min(axis=-1) - np.log1p(c * np.sqrt(2.0 * np.pi * k2))
        return np.where(x <= self.mean, math.log(0.3), np.minimum(est, math.log(0.5)))

    def grid(self, b: int) -> _Grid:
        """The cached grid of bin b."""
        g = self.grids.get(b)
        if g is None:
            g = self.grids[b] = _design_grid(self, *self.bin_edges(b), _TAU, _COND)
        return g

    def tail(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P(Q ≥ x), error bound) for x in units of Q (1-D)."""
        return _tail(self, x / self.scale)

    def first_guess(self, p: float) -> float:
        """Lugannani–Rice quantile estimate (normalised units)."""
        if self.guess_table is None:
            self.guess_table = _lugannani_rice(self)
        log_s, xs = self.guess_table
        return float(np.interp(-math.log(p), -log_s, xs))


def _design_grid(ev: _Evaluator, lo: float, hi: float, tau: float, cond: float) -> _Grid:
    """Design (c, L) for x in [lo, hi], size its truncation for hi, build the grid."""
    if lo <= 0.0:
        c_index, length = _design_lower(ev, hi, tau, cond)
        log_s = math.log(0.3)
    else:
        c_index, length = _design_upper(ev, lo, hi, tau, cond)
        log_s = float(ev.log_s_estimate(np.array([hi]))[0])
    u_max = _truncation_point(ev, c_index, hi, log_s + math.log(tau))
    return _grid(ev, c_index, length, u_max, (lo, hi))


@dataclass
class _BinValues:
    """Per-x results of one grid: log P(Q ≥ x), log density, absolute error bound, accepted."""

    log_s: np.ndarray
    log_f: np.ndarray | None
    error: np.ndarray
    ok: np.ndarray


def _sums(g: _Grid, x: np.ndarray, density: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """R(x) = Σ_k amp_k cos(phase_k − u_k x) (and the density's D(x)), in chunks of x."""
    r = np.empty(x.size)
    d = np.empty(x.size) if density else None
    step = max(1, _CHUNK // g.u.size)
    for i in range(0, x.size, step):
        xi = x[i : i + step, None]
        # row sums (not BLAS): a row's value must not depend on the other rows
        r[i : i + step] = (np.cos(g.phase - xi * g.u) * g.amp).sum(axis=1)
        if d is not None:
            d[i : i + step] = (np.cos(g.dphase - xi * g.u) * g.damp).sum(axis=1)
    return r, d


def _alias_terms(ev: _Evaluator, c_index: int, length: float, cp: np.ndarray) -> np.ndarray:
    """K⁺(c') − log expm1((c' − c)L) at table indices ``cp`` (> c_index): minus c'x, the log of
    the aliasing bound through c'."""
    gap = ev.table.c[cp] - ev.table.c[c_index]
    return ev.table.k_plus[cp] - _log_expm1(gap * length)


def _alias_points(
    ev: _Evaluator, c_index: int, length: float, span: tuple[float, float]
) -> np.ndarray:
    """The c' (table indices) that give the smallest aliasing bound at 33 points of ``span``:
    any c' gives a valid bound, these a tight one there and between."""
    if ev.table.c[c_index] < 0:
        return np.zeros(0, dtype=np.int64)
    cp = np.arange(c_index + 1, ev.table.c.size)
    xs = np.linspace(span[0], span[1], 33)
    vals = _alias_terms(ev, c_index, length, cp) - np.multiply.outer(xs, ev.table.c[cp])
    return np.unique(cp[np.argmin(vals, axis=1)])


def _alias_bound(ev: _Evaluator, g: _Grid, x: np.ndarray) -> np.ndarray:
    """log of the bound on the positive-index aliasing at each x (see the module docstring)."""
    if g.c < 0:
        return np.full(x.size, -float(_log_expm1(-g.c * g.length)))
    cp = g.alias_points
    terms = _alias_terms(ev, g.c_index, g.length, cp)
    return (terms - np.multiply.outer(x, ev.table.c[cp])).min(axis=-1)


def _bin_values(ev: _Evaluator, g: _Grid, x: np.ndarray, density: bool) -> _BinValues:
    """Tail (and density) at x (normalised) from grid g, with the error bound and the check."""
    r, d = _sums(g, x, density)
    log_scale = g.log_step + g.log_g0 - g.c * x  # (h/π)|G_0| e^{−cx}
    with np.errstate(divide="ignore", invalid="ignore"):
        log_t = log_scale + np.log(r)  # r ≤ 0: outside the design, rejected below
        if g.c > 0:  # T = P + 1/expm1(cL) + (aliasing ≥ 0)
            ratio = np.exp(-_log_expm1(g.c * g.length) - log_t)
            log_s = log_t + np.log1p(-ratio)
        else:  # −T = P(Q ≤ x) + (aliasing ≥ 0)
            log_s = np.log1p(-np.exp(log_t))
        bounds = np.exp(
            np.stack(
                [
                    _alias_bound(ev, g, x),
                    g.log_trunc - g.c * x,
                    log_scale + math.log(max(g.rest_rel, 1e-300)),
                ]
            )
            - log_s
        )
        rounding = np.exp(log_scale - log_s) * (g.round_const + g.round_slope * x)
        # common factors (|G_0|, e^{−cx}) and the final subtraction (1/expm1(cL), or 1 − F)
        last = np.exp(log_t - log_s) if g.c > 0 else 1.0 / np.exp(log_s)
        rounding += _EPS * (abs(g.log_g0) + abs(g.c) * x + 8.0 + last)
        log_f = g.log_step + g.log_m0 - g.c * x + np.log(d) if d is not None else None
    # the method's own errors must be small; the model's (rest) bound is the law's business
    ok = np.isfinite(log_s) & (bounds[0] + bounds[1] <= _ACCEPT) & (rounding <= _ROUND_ACCEPT)
    return _BinValues(log_s, log_f, bounds.sum(axis=0) * np.exp(log_s), ok)


def _evaluate(ev: _Evaluator, x: np.ndarray, density: bool) -> _BinValues:
    """Tail values at x > 0 (normalised, finite, above the zero cut): bin by bin, each x that
    fails the check recomputed alone with stricter targets."""
    out = _BinValues(
        np.empty(x.size),
        np.empty(x.size) if density else None,
        np.empty(x.size),
        np.ones(x.size, bool),
    )
    bins = ev.bin_of(x)
    for b in np.unique(bins):
        idx = np.flatnonzero(bins == b)
        vals = _bin_values(ev, ev.grid(int(b)), x[idx], density)
        for i in np.flatnonzero(~vals.ok):
            vals_i = _strict_values(ev, float(x[idx[i]]), density)
            vals.log_s[i], vals.error[i] = vals_i.log_s[0], vals_i.error[0]
            if density:
                vals.log_f[i] = vals_i.log_f[0]  # type: ignore[index]
        out.log_s[idx], out.error[idx] = vals.log_s, vals.error
        if density:
            out.log_f[idx] = vals.log_f  # type: ignore[index]
    return out


def _strict_values(ev: _Evaluator, x: float, density: bool) -> _BinValues:
    """One x on its own grid, targets 1e3 and 1e6 times stricter until the check passes."""
    xs = np.array([x])
    lo = 0.0 if x <= ev.mean - 0.5 * ev.sd else x
    for strict in (1e-3, 1e-6):
        g = _design_grid(ev, lo, x, _TAU * strict, _COND * strict**0.5)
        vals = _bin_values(ev, g, xs, density)
        if vals.ok[0]:
            return vals
    raise RuntimeError(f"BandNull: tail at x = {x * ev.scale} failed its error check")


def _tail(ev: _Evaluator, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P(Q ≥ x), error bound) for normalised x (1-D): 1 at x ≤ 0 or NaN, 0 at +inf and where
    Chernoff's bound is below e^``_LOG_ZERO`` (that bound is the error there); in chunks of
    ``_X_CHUNK`` values (bounded work arrays; each value is computed alone anyway)."""
    p, err = np.ones(x.size), np.zeros(x.size)
    p[x == np.inf] = 0.0
    zero = (x > ev.x_zero) & (x < np.inf)
    p[zero], err[zero] = 0.0, math.exp(_LOG_ZERO)
    live = np.flatnonzero((x > 0) & (x <= ev.x_zero))
    for i in range(0, live.size, _X_CHUNK):
        idx = live[i : i + _X_CHUNK]
        vals = _evaluate(ev, x[idx], False)
        p[idx], err[idx] = np.exp(vals.log_s), vals.error
    return np.minimum(p, 1.0), err


def _lugannani_rice(ev: _Evaluator) -> tuple[np.ndarray, np.ndarray]:
    """(log P_LR(x), x) at x = K'(c) over the table (increasing x): the Lugannani–Rice
    approximation Φ̄(w) + φ(w)(1/v − 1/w), w = sgn(c)√(2(cx − K)), v = c√K''."""
    tab = ev.table
    keep = np.abs(tab.c) * ev.sd > 0.02  # away from the removable singularity at c = 0
    c, x = tab.c[keep], tab.k1[keep]
    w = np.sign(c) * np.sqrt(np.maximum(2.0 * (c * x - tab.k[keep]), 0.0))
    v = c * np.sqrt(tab.k2[keep])
    # erfcx overflows far left of the mean (w ≪ 0): those points are dropped as not finite
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_phi = -0.5 * w * w - 0.5 * math.log(2.0 * math.pi)
        mills = math.sqrt(0.5 * math.pi) * special.erfcx(w / math.sqrt(2.0))  # Φ̄(w)/φ(w)
        log_s = log_phi + np.log(mills + 1.0 / v - 1.0 / w)
    good = np.isfinite(log_s) & (log_s <= 0.0)
    log_s = np.minimum.accumulate(log_s[good])  # decreasing in x, as the tail
    return log_s, x[good]


def _newton(ev: _Evaluator, log_p: float, x: float, step_tol: float) -> float:
    """Root of log P(Q ≥ x) = log p (normalised x): :func:`.null.newton_log_tail` with the
    tail and density from the same grid (P/f = exp(log P − log f))."""

    def tail_at(x: float) -> tuple[float, float, float] | None:
        if x > ev.x_zero:  # 0 in float64: far right of the root
            return None
        vals = _evaluate(ev, np.array([x]), True)
        log_s = float(vals.log_s[0])
        return log_s, math.exp(log_s - float(vals.log_f[0])), 1.0  # type: ignore[index]

    return newton_log_tail(tail_at, log_p, x, step_tol, _MAX_NEWTON)


_CACHE: dict[bytes, _Evaluator] = {}
_CACHE_MAX = 32


def _evaluator(law: BandNull) -> _Evaluator:
    """The cached evaluator of ``law`` (keyed by its packed array, so copies share it)."""
    key = law.to_array().tobytes()
    ev = _CACHE.get(key)
    if ev is None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        scale = float(law.weights[-1])
        e = law.weights[::-1] / scale
        rest = (law.rest_sum / scale, law.rest_square / scale**2, law.rest_max / scale)
        mean = float(np.sum(e)) + rest[0]
        sd = math.sqrt(2.0 * (float(np.sum(e * e)) + rest[1]))
        ev = _CACHE[key] = _Evaluator(scale, e, rest, _table(e, rest), mean, sd)
    return ev
