"""Exact upper tail of a positive weighted sum of χ²₁ variables (the ResMap null).

Under white noise the statistic is Q = Σ_j e_j χ²₁ with positive weights e_j.  Ruben's mixture:
with β = min e, each e_j χ²₁ equals β χ²_{1+2K_j} in law, K_j ~ NegBin(½, β/e_j), so
Q = β χ²_{ν+2K} with K = Σ K_j and

    P(Q ≥ x) = Σ_k a_k · P(χ²_{ν+2k} ≥ x/β),   a_k = P(K = k) ≥ 0.

Every term is positive, so the sum has no cancellation and inherits the relative accuracy of
``gammaincc`` far into the tail.

Truncation bound (rigorous): the χ² tails F_k are increasing in k and K is stochastically
dominated by N ~ NegBin(ν/2, β/e_max); by Abel summation the remainder after Kmax terms is at most
Σ_{k>Kmax} s_k F_k ≤ P(N > Kmax), s_k the pmf of N.  We stop once that bound is below
``_REL_TOL`` × the partial sum (or below an absolute floor, where the tail underflows anyway).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special

__all__ = ["tail_probability", "tail_quantile"]

_REL_TOL = 1e-9
_ABS_FLOOR = 1e-300
_MAX_TERMS = 2_000_000
_FIRST_CHUNK = 256


def _validate_weights(weights: ArrayLike) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size == 0 or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError("null weights must be a non-empty array of finite positive numbers")
    return w


def _extend_mixture(a: np.ndarray, gamma: np.ndarray, n_new: int) -> np.ndarray:
    """Return the pmf of K, a_0..a_{n_new-1}, extending the already known prefix ``a``.

    From G'(z)/G(z) = Σ_j (γ_j/2)/(1-γ_j z) with h_j(k) = Σ_{r≤k} γ_j^{k-r} a_r:
    (k+1) a_{k+1} = Σ_j (γ_j/2) h_j(k) and h_j(k+1) = γ_j h_j(k) + a_{k+1}.  Every quantity is
    positive, so the O(K ν) recursion is free of cancellation.
    """
    values, counts = np.unique(gamma[gamma > 0], return_counts=True)
    half_m_gamma = (0.5 * counts * values).tolist()
    gam = values.tolist()
    out = np.empty(n_new)
    out[: a.size] = a
    # Rebuild h at the end of the known prefix (cheap compared with the extension).
    h = [0.0] * len(gam)
    for k in range(a.size):
        ak = float(a[k])
        h = [g * hj + ak for g, hj in zip(gam, h, strict=True)]
    for k in range(a.size - 1, n_new - 1):
        nxt = sum(c * hj for c, hj in zip(half_m_gamma, h, strict=True)) / (k + 1)
        out[k + 1] = nxt
        h = [g * hj + nxt for g, hj in zip(gam, h, strict=True)]
    return out


_CACHE: dict[bytes, np.ndarray] = {}
_CACHE_MAX = 64


def _mixture(w: np.ndarray, n_terms: int) -> np.ndarray:
    """Mixture pmf a_0..a_{n_terms-1} for weights ``w`` (cached per weight set)."""
    key = w.tobytes()
    a = _CACHE.get(key)
    if a is None:
        beta = float(w.min())
        a = np.array([np.exp(0.5 * float(np.sum(np.log(beta / w))))])
    if a.size < n_terms:
        a = _extend_mixture(a, 1.0 - float(w.min()) / w, n_terms)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = a
    return a[:n_terms]


def tail_probability(x: ArrayLike, weights: ArrayLike) -> np.ndarray:
    """P(Σ_j e_j χ²₁ ≥ x) for every element of ``x`` (same shape, float64).

    ``x`` is in the units of the statistic; x ≤ 0 gives 1.  Relative error ≲ 1e-9 wherever the
    result is a normal float; results below ~1e-300 underflow gracefully to 0.
    """
    w = _validate_weights(weights)
    xs = np.asarray(x, dtype=np.float64)
    shape = xs.shape
    xf = xs.ravel()
    out = np.ones(xf.size)
    pos = xf > 0
    if not np.any(pos):
        return out.reshape(shape)
    beta = float(w.min())
    nu = w.size
    ratio = beta / w
    gamma = 1.0 - ratio
    gamma_max = float(gamma.max())
    y = xf[pos] / beta
    partial = np.zeros(y.size)
    k_done = 0
    n_terms = _FIRST_CHUNK
    while True:
        n_terms = min(n_terms, _MAX_TERMS)
        a = _mixture(w, n_terms)
        dof = nu + 2.0 * np.arange(k_done, n_terms)
        terms = a[k_done:n_terms, None] * special.gammaincc(dof[:, None] / 2.0, y[None, :] / 2.0)
        partial += terms.sum(axis=0)
        k_done = n_terms
        if gamma_max == 0.0:
            break  # all weights equal: K ≡ 0, the first term is exact
        # P(N > k_done - 1) = P(N ≥ k_done) for N ~ NegBin(ν/2, 1-γmax): I_{γmax}(k_done, ν/2)
        bound = special.betainc(float(k_done), nu / 2.0, gamma_max)
        if np.all(bound <= np.maximum(_REL_TOL * partial, _ABS_FLOOR)) or n_terms >= _MAX_TERMS:
            break
        n_terms *= 2
    out[pos] = np.minimum(partial, 1.0)
    return out.reshape(shape)


def tail_quantile(p: float, weights: ArrayLike) -> float:
    """The statistic value x with P(Q ≥ x) = p, for 0 < p < 1 (relative tolerance ~1e-12)."""
    if not (0.0 < p < 1.0):
        raise ValueError(f"tail_quantile needs 0 < p < 1, got {p}")
    w = _validate_weights(weights)
    log_p = np.log(p)

    def f(x: float) -> float:
        t = float(tail_probability(x, w))
        return (np.log(t) if t > 0 else -1e300) - log_p

    total = float(w.sum())
    lo, hi = 0.0, total
    while f(hi) > 0:
        lo, hi = hi, 2.0 * hi
    return float(optimize.brentq(f, lo, hi, xtol=1e-300, rtol=1e-13, maxiter=500))
