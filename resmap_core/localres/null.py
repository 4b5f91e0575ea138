"""Exact upper tail of a positive weighted sum of χ²₁ variables (the ResMap null).

Under white noise the statistic is Q = Σ_j e_j χ²₁ with positive weights e_j.  Ruben's mixture:
with β = min e, each e_j χ²₁ equals β χ²_{1+2K_j} in law, K_j ~ NegBin(½, β/e_j), so
Q = β χ²_{ν+2K} with K = Σ K_j and

    P(Q ≥ x) = Σ_k a_k · P(χ²_{ν+2k} ≥ x/β),   a_k = P(K = k) ≥ 0.

Every term is positive, so the sum has no cancellation and inherits the relative accuracy of
``gammaincc`` far into the tail.

Coefficients: with γ_j = 1 − β/e_j the generating function of K is
G(z) = Π_j ((1 − γ_j)/(1 − γ_j z))^{1/2}, so log G is a known power series and
G'(z)/G(z) = Σ_{d≥0} g(d) z^d with g(d) = Σ_j ½ γ_j^{d+1}; hence (exp of a power series)

    n a_n = Σ_{r<n} g(n−1−r) a_r,   a_0 = Π_j (β/e_j)^{1/2}.

They are computed in blocks of ``_BLOCK`` terms: the far past enters through the state
h_j = Σ_r γ_j^{k0−r} a_r, the block itself through one lower-triangular solve (an M-matrix, so
forward substitution only adds positive numbers).  The mixture is cached per weight vector.

Series: Q(s, z) = P(χ²_{2s} ≥ 2z) comes from ``gammaincc`` only every ``_SUB`` terms; in between
Q(s+1, z) = Q(s, z) + z^s e^{−z}/Γ(s+1), the increments (ratios z/(s+1)) scaled to the difference
of the two anchors: positive sums again, ~``_SUB``·ε of rounding, a fraction of the cost.

Truncation bound (rigorous): the χ² tails F_k are increasing in k and K is stochastically
dominated by N ~ NegBin(ν/2, β/e_max); by Abel summation the remainder after Kmax terms is at most
Σ_{k>Kmax} s_k F_k ≤ P(N > Kmax), s_k the pmf of N.  Each x stops at the first anchor where that
bound is below ``_REL_TOL`` × its partial sum (or below an absolute floor, where the tail
underflows anyway); its value does not depend on the other elements of the call.

Quantiles: Newton on log P(x), with the density of Q from the same terms, from a deterministic
two-moment / leading-tail-term guess: 2–4 series evaluations instead of a root search.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg, special

__all__ = ["NullLaw", "WeightedChiSquare", "as_law", "tail_probability", "tail_quantile"]

_REL_TOL = 1e-9
_ABS_FLOOR = 1e-300
_SUB = 256  # series terms between two gammaincc anchors (the unit of truncation)
_MAX_TERMS = 2**21  # a whole number of sub-blocks
_FIRST_TERMS = 512  # smallest first batch of series terms (later batches: from the bound)
_X_GROUP = 64  # x values summed together (similar x: the sort puts them side by side)
_BATCH_ELEMENTS = 2**19  # (x, k) pairs per batch: work arrays of 4 MiB
_BLOCK = 256  # coefficients per triangular solve
_MAX_NEWTON = 200
_J = np.arange(_SUB, dtype=np.float64)


def _validate_weights(weights: ArrayLike) -> np.ndarray:
    """The weights as a sorted float64 vector (so nothing depends on their order)."""
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size == 0 or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError("null weights must be a non-empty array of finite positive numbers")
    return np.sort(w)


@dataclass
class _Mixture:
    """Ruben mixture of one weight vector, its recursion state and per-sub-block tables.

    ``a`` holds a_0..a_{n−1} (n = 1 + blocks·``_BLOCK``); ``gam`` (J,) the distinct γ_j > 0,
    ``coef`` (J,) = ½ × multiplicity × γ_j, ``powers`` (B+1, J) = γ_j^d and ``h`` (J,) =
    Σ_{r<n} γ_j^{n−1−r} a_r.  Sub-block m covers terms m·S … m·S+S−1 (S = ``_SUB``):
    ``sub_sum`` = Σ a, ``sub_after`` (·, S−1) = Σ_{i>j} a_i, ``sub_lam`` (·, S) = Σ_{1≤i≤j}
    log((s+i)/c) (s = ν/2 + m·S, c = s + S/2) and ``sub_bound`` = P(N ≥ (m+1)·S).
    ``quantiles`` memoises tail_quantile without a start guess.  Tables grow by half at least.
    """

    nu: int
    beta: float
    gamma_max: float
    gam: np.ndarray
    coef: np.ndarray
    powers: np.ndarray
    a: np.ndarray
    h: np.ndarray
    sub_sum: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sub_after: np.ndarray = field(default_factory=lambda: np.zeros((0, _SUB - 1)))
    sub_lam: np.ndarray = field(default_factory=lambda: np.zeros((0, _SUB)))
    sub_bound: np.ndarray = field(default_factory=lambda: np.zeros(0))
    quantiles: dict[tuple[float, float], float] = field(default_factory=dict)
    lower: np.ndarray | None = None  # −T of _block_matrix (its diagonal is overwritten)


def _new_mixture(w: np.ndarray) -> _Mixture:
    """The mixture of weights ``w`` with only a_0 = Π_j (β/e_j)^{1/2} known."""
    beta = float(w.min())
    gamma = 1.0 - beta / w
    values, counts = np.unique(gamma[gamma > 0], return_counts=True)
    a0 = np.exp(0.5 * float(np.sum(np.log(beta / w))))
    return _Mixture(
        nu=w.size,
        beta=beta,
        gamma_max=float(gamma.max()),
        gam=values,
        coef=0.5 * counts * values,
        powers=values[None, :] ** np.arange(_BLOCK + 1)[:, None],
        a=np.array([a0]),
        h=np.full(values.size, a0),
    )


def _block_matrix(mix: _Mixture) -> np.ndarray:
    """−T (B, B): T[b, b'] = g(b−1−b') for b' < b, g(d) = Σ_j coef_j γ_j^d (diagonal zero)."""
    g = (mix.powers[:_BLOCK] * mix.coef).sum(axis=1)
    b = np.arange(_BLOCK)
    lag = b[:, None] - b[None, :] - 1
    return -np.where(lag >= 0, g[np.maximum(lag, 0)], 0.0)


def _extend(mix: _Mixture, n_terms: int) -> None:
    """Append whole blocks of coefficients until ``mix.a`` holds at least ``n_terms``.

    Block after k0 (a_0..a_{k0} and h_j = Σ_{r≤k0} γ_j^{k0−r} a_r known), n = k0+1+b, b < B:
        n a_n − Σ_{b'<b} g(b−1−b') a_{k0+1+b'} = Σ_j coef_j γ_j^b h_j,
    then h_j ← γ_j^B h_j + Σ_b γ_j^{B−1−b} a_{k0+1+b}.  Blocks start at fixed indices, so a
    coefficient does not depend on how far the mixture had been extended before.
    """
    if n_terms <= mix.a.size:
        return
    # grow by half at least: the copies stay linear in the final length
    target = max(n_terms, min(3 * mix.a.size // 2, _MAX_TERMS + 1))
    n_blocks = -(-(target - mix.a.size) // _BLOCK)
    if mix.gam.size == 0:  # all weights equal: K ≡ 0
        mix.a = np.concatenate([mix.a, np.zeros(n_blocks * _BLOCK)])
        return
    if mix.lower is None:
        mix.lower = _block_matrix(mix)
    lower = mix.lower
    diag = np.arange(1, _BLOCK + 1, dtype=np.float64)
    head = mix.powers[:_BLOCK]  # γ_j^b
    tail = mix.powers[_BLOCK - 1 :: -1]  # γ_j^{B−1−b}
    k0 = mix.a.size - 1
    blocks = [mix.a]
    h = mix.h
    for _ in range(n_blocks):
        np.fill_diagonal(lower, k0 + diag)
        rhs = (head * (mix.coef * h)).sum(axis=1)
        new = linalg.solve_triangular(lower, rhs, lower=True, check_finite=False)
        h = mix.powers[_BLOCK] * h + (tail * new[:, None]).sum(axis=0)
        blocks.append(new)
        k0 += _BLOCK
    mix.a = np.concatenate(blocks)
    mix.h = h


def _coefficients(mix: _Mixture, n_terms: int) -> np.ndarray:
    """a_0..a_{n_terms−1}, extending the cached mixture when needed."""
    _extend(mix, n_terms)
    return mix.a[:n_terms]


def _sub_tables(mix: _Mixture, n_sub: int) -> None:
    """Extend the per-sub-block tables of ``mix`` to ``n_sub`` sub-blocks (see _Mixture)."""
    m0 = mix.sub_sum.size
    if n_sub <= m0:
        return
    n_sub = max(n_sub, min(3 * m0 // 2, _MAX_TERMS // _SUB))  # grow by half (linear copying)
    a = _coefficients(mix, n_sub * _SUB)[m0 * _SUB :].reshape(-1, _SUB)
    starts = 0.5 * mix.nu + _SUB * np.arange(m0, n_sub, dtype=np.float64)
    ratio = (starts[:, None] + _J[1:]) / (starts + 0.5 * _SUB)[:, None]
    lam = np.zeros(a.shape)
    np.cumsum(np.log(ratio), axis=1, out=lam[:, 1:])
    ends = _SUB * np.arange(m0 + 1, n_sub + 1, dtype=np.float64)
    mix.sub_sum = np.concatenate([mix.sub_sum, a.sum(axis=1)])
    mix.sub_after = np.concatenate([mix.sub_after, np.cumsum(a[:, :0:-1], axis=1)[:, ::-1]])
    mix.sub_lam = np.concatenate([mix.sub_lam, lam])
    # P(N ≥ K) for N ~ NegBin(ν/2, 1−γmax) is I_{γmax}(K, ν/2)
    mix.sub_bound = np.concatenate(
        [mix.sub_bound, special.betainc(ends, 0.5 * mix.nu, mix.gamma_max)]
    )


_CACHE: dict[bytes, _Mixture] = {}
_CACHE_MAX = 64


def _mixture(w: np.ndarray) -> _Mixture:
    """The cached mixture of weights ``w``, built from and keyed by the sorted vector."""
    w = np.sort(np.asarray(w, dtype=np.float64))
    key = w.tobytes()
    mix = _CACHE.get(key)
    if mix is None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        mix = _CACHE[key] = _new_mixture(w)
    return mix


def _sub_block_sums(
    z: np.ndarray, mix: _Mixture, m0: int, m1: int, density: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Σ_k a_k Q(s_k, z) (and Σ_k a_k ½R(s_k−1, z)) per sub-block m0 ≤ m < m1: (n, m1−m0).

    ``z`` (n,) = x/(2β), s_k = ν/2 + k.  ``gammaincc`` gives Q only at the sub-block edges;
    inside, Q(s+1, z) = Q(s, z) + R(s, z) with R(s, z) = z^s e^{−z}/Γ(s+1), and R(s+j, z) ∝
    ρ_j = Π_{1≤i≤j} z/(s+i), normalised so that Σ_j R equals the difference ΔQ of the edge
    values.  With A_j = Σ_{i>j} a_i a sub-block sums to Q(s, z)·Σ_i a_i + ΔQ·Σ_j ρ_j A_j/Σ_j ρ_j
    (every term ≥ 0).  log ρ_j = j·log(z/c) − Σ_i log((s+i)/c), c the sub-block centre, keeps
    both parts small where the terms matter (z near s): rounding ~``_SUB``·ε.  ½R(s−1, z) is
    the χ²_{2s} density at 2z, per unit of x/β.  Each (x, sub-block) is computed alone.
    """
    edges = 0.5 * mix.nu + _SUB * np.arange(m0, m1 + 1, dtype=np.float64)
    q_edge = special.gammaincc(edges, z[:, None])  # (n, M+1)
    delta = np.maximum(np.diff(q_edge, axis=1), 0.0)  # Σ_j R(s+j, z) ≥ 0 despite rounding
    # z/c ≥ tiny keeps log finite (z underflowing to 0 leaves ΔQ = 0 anyway)
    ratio = np.maximum(z[:, None] / (edges[:-1] + 0.5 * _SUB), np.finfo(np.float64).tiny)
    log_rho = np.log(ratio)[:, :, None] * _J
    log_rho -= mix.sub_lam[m0:m1]
    log_rho -= log_rho.max(axis=2, keepdims=True)
    rho = np.exp(log_rho, out=log_rho)
    scale = delta / rho.sum(axis=2)  # R(s+j, z) = scale·ρ_j
    inside = (rho[:, :, :-1] * mix.sub_after[m0:m1]).sum(axis=2)
    tail = q_edge[:, :-1] * mix.sub_sum[m0:m1] + scale * inside
    if not density:
        return tail, None
    a = mix.a[m0 * _SUB : m1 * _SUB].reshape(-1, _SUB)
    # R(s+j−1, z) = scale·ρ_{j−1}, and for j = 0: scale·ρ_0·s/z
    shifted = (rho[:, :, :-1] * a[:, 1:]).sum(axis=2)
    first = rho[:, :, 0] * a[:, 0] * edges[:-1] / z[:, None]
    return tail, 0.5 * scale * (shifted + first)


def _terms_needed(k_done: int, expect: float, mix: _Mixture) -> float:
    """About how many more terms make P(N ≥ K) ≤ tol·S for a tail S ≥ ``expect``.

    The bound decays at least like γmax^k: log(tol·S / bound) / log γmax, plus 10 %.
    """
    need = max(_REL_TOL * expect, _ABS_FLOOR)
    now = float(special.betainc(float(k_done), 0.5 * mix.nu, mix.gamma_max)) if k_done else 1.0
    if mix.gamma_max == 0.0 or not 0.0 < need < now:
        return 0.0
    return 1.1 * float(np.log(need / now) / np.log(mix.gamma_max))


def _batch_end(k_done: int, terms: float, rows: int) -> int:
    """End of the next batch: ``terms`` more, in whole sub-blocks (at least one), within
    ``_MAX_TERMS`` and ``_BATCH_ELEMENTS`` work-array elements for ``rows`` values of x.
    Batches only pace the work: the values do not depend on them."""
    cap = min(_MAX_TERMS - k_done, _BATCH_ELEMENTS // rows) // _SUB * _SUB
    return k_done + max(min(-(-int(terms) // _SUB) * _SUB, cap), _SUB)


def _group_series(
    z: np.ndarray, mix: _Mixture, density: bool, hint: float | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The sums of ``_series`` for one group of z = y/2, each z stopping at its own bound.

    Sub-block sums are added one by one (a running sum) and x stops at the first sub-block
    edge K with P(N ≥ K) ≤ max(tol·S_K, floor), so its value does not depend on the batches.
    """
    total, dens = np.zeros(z.size), np.zeros(z.size)
    todo = np.arange(z.size)
    # terms matter from s_k ≈ z on (below, Q(s_k, z) is tiny), and until the bound meets hint
    zmax = float(z.max())
    first = max(_FIRST_TERMS, zmax - 0.5 * mix.nu + 4.0 * np.sqrt(zmax))
    if hint is not None:
        first = max(first, _terms_needed(0, hint, mix))
    first = min(first, _terms_needed(0, 0.0, mix) + _SUB)  # there every x meets the floor
    k_done, end = 0, _batch_end(0, first if mix.gamma_max > 0.0 else 0.0, z.size)
    while todo.size:
        m0, m1 = k_done // _SUB, end // _SUB
        _sub_tables(mix, m1)
        t, d = _sub_block_sums(z[todo], mix, m0, m1, density)
        run = np.cumsum(np.concatenate([total[todo, None], t], axis=1), axis=1)[:, 1:]
        ok = mix.sub_bound[m0:m1] <= np.maximum(_REL_TOL * run, _ABS_FLOOR)
        ok[:, -1] |= mix.gamma_max == 0.0 or end >= _MAX_TERMS  # K ≡ 0, or the cap
        hit = ok.any(axis=1)
        col = np.where(hit, ok.argmax(axis=1), m1 - m0 - 1)
        rows = np.arange(todo.size)
        total[todo] = run[rows, col]
        if d is not None:
            dens[todo] = np.cumsum(np.concatenate([dens[todo, None], d], axis=1), axis=1)[
                rows, col + 1
            ]
        todo, k_done = todo[~hit], end
        if todo.size:
            more = _terms_needed(k_done, float(total[todo].min()), mix)
            end = _batch_end(k_done, min(more, 3.0 * k_done), todo.size)
    return total, (dens if density else None)


def _series(
    y: np.ndarray, mix: _Mixture, density: bool = False, hint: float | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Truncated mixture sums at y = x/β > 0 (finite), in groups of similar y.

    Returns S(y) = Σ_{k<K(y)} a_k P(χ²_{ν+2k} ≥ y) and, when asked, the density of Q at x
    times β (same terms).  ``hint`` (an expected S) only sizes the first batch of terms.
    """
    order = np.argsort(y, kind="stable")
    total = np.zeros(y.size)
    dens = np.zeros(y.size) if density else None
    for start in range(0, y.size, _X_GROUP):
        idx = order[start : start + _X_GROUP]
        t, d = _group_series(0.5 * y[idx], mix, density, hint)
        total[idx] = t
        if dens is not None:
            dens[idx] = d
    return total, dens


def tail_probability(x: ArrayLike, weights: ArrayLike) -> np.ndarray:
    """P(Σ_j e_j χ²₁ ≥ x) for every element of ``x`` (same shape, float64).

    ``x`` is in the units of the statistic; x ≤ 0 (and NaN) gives 1, x = +inf gives 0.
    Relative error ≲ 1e-9 wherever the result is a normal float; results below ~1e-300
    underflow gracefully to 0.  Each element's value is independent of the others.
    """
    w = _validate_weights(weights)
    xs = np.asarray(x, dtype=np.float64)
    xf = xs.ravel()
    out = np.ones(xf.size)
    out[xf == np.inf] = 0.0
    pos = (xf > 0) & (xf < np.inf)
    if np.any(pos):
        mix = _mixture(w)
        total, _ = _series(xf[pos] / mix.beta, mix)
        out[pos] = np.minimum(total, 1.0)
    return out.reshape(xs.shape)


def _first_guess(p: float, w: np.ndarray) -> float:
    """A deterministic start for Newton: a few per cent from the quantile, often 1e-3.

    Two-moment (Satterthwaite) match g χ²_h, g = Σe²/Σe, h = (Σe)²/Σe², good near the bulk;
    for p < 0.01 also the leading tail term P ≈ C·P(e_max χ²_r ≥ x), C = Π_{e<e_max}
    (1 − e/e_max)^{−1/2} (r = multiplicity of e_max); both fall short, so take the larger.
    """
    g = float(np.sum(w * w) / np.sum(w))
    guess = 2.0 * g * float(special.gammainccinv(0.5 * float(np.sum(w)) / g, p))
    if p < 0.01:
        e_max = float(w.max())
        top = w >= e_max * (1.0 - 1e-6)  # near-ties act as one multiple weight this far out
        c = float(np.prod(1.0 - w[~top] / e_max) ** -0.5)
        if p < c:
            guess = max(guess, 2.0 * e_max * float(special.gammainccinv(0.5 * top.sum(), p / c)))
    return guess


def newton_log_tail(
    tail_at: Callable[[float], tuple[float, float, float] | None],
    log_p: float,
    x: float,
    step_tol: float,
    max_steps: int = _MAX_NEWTON,
) -> float:
    """Root of log P(Q ≥ x) = log p by Newton from ``x``, safeguarded by bisection.

    ``tail_at(x)`` gives (log P(x), a, b) with P(x)/f(x) = a/b (f the density of Q), or None
    where P underflows (far right of the root).  Newton step: x ← x + (log P(x) − log p)·a/b.
    [lo, hi] brackets the root (log P(0) = 0 > log p); a step leaving it bisects instead.
    Returns x + step once |step| ≤ ``step_tol``·x: log P is smooth, so the error left is
    ~step_tol²·x.  Shared by the ResMap-H2 null (here) and the band-energy null.
    """
    lo, hi = 0.0, math.inf
    for _ in range(max_steps):
        got = tail_at(x)
        if got is None:
            hi = x
            x = 0.5 * (lo + hi)
            continue
        log_tail, num, den = got
        resid = log_tail - log_p
        if resid == 0.0:
            return x
        lo, hi = (x, hi) if resid > 0 else (lo, x)
        step = resid * num / den if den > 0 else math.inf
        if abs(step) <= step_tol * x:
            return x + step
        if hi < math.inf and hi - lo <= 4e-16 * hi:
            return x
        nxt = x + step
        if not (lo < nxt < hi):
            nxt = 2.0 * x if hi == math.inf else 0.5 * (lo + hi)
        x = nxt
    raise RuntimeError("tail_quantile did not converge")  # pragma: no cover


def _newton_quantile(log_p: float, mix: _Mixture, x: float, step_tol: float) -> float:
    """:func:`newton_log_tail` on the mixture's series (tail and density from the same terms)."""

    def tail_at(x: float) -> tuple[float, float, float] | None:
        total, dens = _series(np.array([x / mix.beta]), mix, True, float(np.exp(log_p)))
        tail, f = min(float(total[0]), 1.0), float(dens[0]) / mix.beta
        return None if tail <= 0.0 else (float(np.log(tail)), tail, f)

    return newton_log_tail(tail_at, log_p, x, step_tol)


def tail_quantile(
    p: float, weights: ArrayLike, start: float | None = None, rtol: float = 1e-16
) -> float:
    """The statistic value x with P(Q ≥ x) = p, for 0 < p < 1, to relative precision ~rtol.

    Newton on log P from ``start`` (e.g. a neighbouring quantile: the result then agrees to
    ~rtol, not bit for bit) or, without it, from a deterministic guess: the result is then a
    function of (p, weights, rtol) alone (and memoised).  Newton stops once its step is below
    √rtol·x; the default gives full double precision.
    """
    if not (0.0 < p < 1.0):
        raise ValueError(f"tail_quantile needs 0 < p < 1, got {p}")
    w = _validate_weights(weights)
    mix = _mixture(w)
    if start is None and (p, rtol) in mix.quantiles:
        return mix.quantiles[(p, rtol)]
    x0 = _first_guess(p, w) if start is None else float(start)
    if not (np.isfinite(x0) and x0 > 0):
        x0 = float(np.sum(w))
    x = _newton_quantile(float(np.log(p)), mix, x0, float(np.sqrt(rtol)))
    if start is None:
        mix.quantiles[(p, rtol)] = x
    return x


class NullLaw(Protocol):
    """The null law of one wavelength's statistic: what the FDR step needs of it."""

    def tail_probability(self, x: ArrayLike) -> np.ndarray:
        """P(Q ≥ x), elementwise."""
        ...

    def tail_quantile(self, p: float, start: float | None = None, rtol: float = 1e-16) -> float:
        """The x with P(Q ≥ x) = p."""
        ...


@dataclass(frozen=True, eq=False)
class WeightedChiSquare:
    """Σ_j e_j χ²₁ for a few positive weights (ResMap-H2's null): Ruben's mixture above."""

    weights: np.ndarray

    def tail_probability(self, x: ArrayLike) -> np.ndarray:
        """:func:`tail_probability` of these weights."""
        return tail_probability(x, self.weights)

    def tail_quantile(self, p: float, start: float | None = None, rtol: float = 1e-16) -> float:
        """:func:`tail_quantile` of these weights."""
        return tail_quantile(p, self.weights, start, rtol)


def as_law(null: NullLaw | ArrayLike) -> NullLaw:
    """``null`` itself when it is a law, else its weights as a :class:`WeightedChiSquare`."""
    if hasattr(null, "tail_probability"):
        return null  # type: ignore[return-value]
    return WeightedChiSquare(np.asarray(null, dtype=np.float64))
