"""The local H2 model at one wavelength: directions, window, basis and its null weights.

The model of method.md §2: a Gaussian-weighted cube window of half-width r_a = ceil(λ/(2 d_a))
voxels per axis, scaled coordinates u = α·x with α = (2π/λ)·sqrt(2/5) and x in Å, and the
17 basis functions 1, G_i = 4(n_i·u)² − 2 (6 icosahedron vertex axes) and
H_j = (m_j·u)³ − 2.254 (m_j·u) (10 face axes).

Every basis function is a polynomial of degree ≤ 3 in x, and the Gaussian weight is separable,
so the model lives inside the 20-dimensional space spanned by products p_a(z) p_b(y) p_c(x)
(a + b + c ≤ 3) of 1-D polynomials that are orthonormal under the 1-D weights. Responses to
those 20 separable filters are cheap to compute everywhere (see ``lrs``), and the likelihood
ratio statistic is the squared norm of a fixed 16 × 20 projection of them. The null weights are
the eigenvalues of a 16 × 16 matrix, never of the (2r+1)³ × (2r+1)³ one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from itertools import product

import numpy as np

from resmap_core.defaults import KERNELS as KERNELS  # the one list of kernels

"""``paper``: W(u) = exp(−|u|²/2); ``resmap-1.1``: W(u) = exp(−|u|²), what the 2014 program ran."""

H2_LINEAR_COEFFICIENT = 2.254
PHI = (1.0 + math.sqrt(5.0)) / 2.0

# Exponent triples (a, b, c) along the array axes (z, y, x) with a + b + c <= 3, in a fixed order.
TRIPLES: tuple[tuple[int, int, int], ...] = tuple(
    t for t in product(range(4), repeat=3) if sum(t) <= 3
)


def icosahedral_axes() -> tuple[np.ndarray, np.ndarray]:
    """Unit axes (x, y, z): 6 icosahedron vertex axes and 10 face-centre axes, ±pairs identified.

    Returns arrays of shape (6, 3) and (10, 3).
    """
    p, q = PHI, 1.0 / PHI
    vertices = np.array(
        [(0, 1, p), (0, -1, p), (1, p, 0), (-1, p, 0), (p, 0, 1), (p, 0, -1)], dtype=float
    )
    faces = np.array(
        [
            (1, 1, 1),
            (-1, 1, 1),
            (1, -1, 1),
            (-1, -1, 1),
            (0, q, p),
            (0, -q, p),
            (q, p, 0),
            (-q, p, 0),
            (p, 0, q),
            (p, 0, -q),
        ],
        dtype=float,
    )
    vertices /= np.linalg.norm(vertices, axis=1, keepdims=True)
    faces /= np.linalg.norm(faces, axis=1, keepdims=True)
    return vertices, faces


def window_radius_vox(
    wavelength_A: float, spacing_zyx_A: tuple[float, float, float]
) -> tuple[int, ...]:
    """Half-width r_a = ceil(λ / (2 d_a)) of the window along (z, y, x), in voxels, at least 2.

    Two is the least that fits the model: its cubic polynomials need four samples per axis, and
    λ = 2d (Nyquist, allowed by --min-res) would otherwise give a 3-voxel window.
    """
    return tuple(max(2, int(math.ceil(wavelength_A / (2.0 * d) - 1e-9))) for d in spacing_zyx_A)


def scale_invA(wavelength_A: float) -> float:
    """α = (2π/λ)·sqrt(2/5) in Å⁻¹."""
    return 2.0 * math.pi / wavelength_A * math.sqrt(2.0 / 5.0)


def _kernel_exponent(kernel: str) -> float:
    """c of the Gaussian weight exp(−c|u|²): ½ for ``paper``, 1 for ``resmap-1.1``."""
    if kernel == "paper":
        return 0.5
    if kernel == "resmap-1.1":
        return 1.0
    raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")


@dataclass(frozen=True)
class AxisBasis:
    """Orthonormal polynomials of degree 0..3 along one axis of the window.

    ``offsets_A`` (2r+1,) are sample positions in Å; ``weight`` the Gaussian weight there;
    ``filters`` (4, 2r+1) are w(t)·p_a(t), so a correlation with ``filters[a]`` gives the
    coefficient of p_a; ``moments`` (4, 4): t^e = Σ_a moments[a, e] p_a(t) exactly; ``gram2``
    (4, 4): Σ_t w² p_a p_b (covariance of coefficients under unit white noise).
    """

    offsets_A: np.ndarray
    weight: np.ndarray
    filters: np.ndarray
    moments: np.ndarray
    gram2: np.ndarray


def axis_basis(radius_vox: int, spacing_A: float, alpha_invA: float, kernel: str) -> AxisBasis:
    """Build the orthonormal 1-D polynomial basis for one axis (QR of the weighted Vandermonde)."""
    c = _kernel_exponent(kernel)
    t = np.arange(-radius_vox, radius_vox + 1, dtype=float) * spacing_A
    s = alpha_invA * t  # scaled coordinate keeps the Vandermonde well conditioned
    w = np.exp(-c * s * s)
    vander = np.stack([s**e for e in range(4)], axis=1)
    sw = np.sqrt(w)
    q, rmat = np.linalg.qr(sw[:, None] * vander)
    # Fix signs so that the basis does not depend on LAPACK conventions.
    signs = np.sign(np.diag(rmat))
    signs[signs == 0] = 1.0
    q = q * signs
    rmat = rmat * signs[:, None]
    p = q / sw[:, None]  # p[:, a] orthonormal under w
    filters = (w[:, None] * p).T
    # t^e = alpha^-e s^e and s^e = Σ_a rmat[a, e] p_a.
    moments = rmat * (alpha_invA ** -np.arange(4.0))[None, :]
    gram2 = (p * (w * w)[:, None]).T @ p
    return AxisBasis(offsets_A=t, weight=w, filters=filters, moments=moments, gram2=gram2)


def _monomials_of_power(direction_zyx: np.ndarray, power: int) -> dict[tuple[int, int, int], float]:
    """Expand (d·x)^power into monomials z^a y^b x^c: {(a, b, c): coefficient}."""
    out: dict[tuple[int, int, int], float] = {}
    for a, b, c in product(range(power + 1), repeat=3):
        if a + b + c != power:
            continue
        multinomial = math.factorial(power) / (
            math.factorial(a) * math.factorial(b) * math.factorial(c)
        )
        coef = multinomial * direction_zyx[0] ** a * direction_zyx[1] ** b * direction_zyx[2] ** c
        out[(a, b, c)] = out.get((a, b, c), 0.0) + coef
    return out


def basis_polynomials(alpha_invA: float, rotation: np.ndarray | None = None) -> list[dict]:
    """The 17 H2 basis functions as polynomials in physical x (Å): list of {(a,b,c): coef}.

    Exponents are along (z, y, x). ``rotation`` (3×3, acting on (x, y, z) axes) rotates the
    direction set; the model space does not depend on it.
    """
    vertices, faces = icosahedral_axes()
    if rotation is not None:
        vertices = vertices @ np.asarray(rotation).T
        faces = faces @ np.asarray(rotation).T
    polys: list[dict] = [{(0, 0, 0): 1.0}]
    for n in vertices:
        d = alpha_invA * n[::-1]  # (x, y, z) -> (z, y, x)
        g = {k: 4.0 * v for k, v in _monomials_of_power(d, 2).items()}
        g[(0, 0, 0)] = g.get((0, 0, 0), 0.0) - 2.0
        polys.append(g)
    for m in faces:
        d = alpha_invA * m[::-1]
        h = dict(_monomials_of_power(d, 3))
        for k, v in _monomials_of_power(d, 1).items():
            h[k] = h.get(k, 0.0) - H2_LINEAR_COEFFICIENT * v
        polys.append(h)
    return polys


@dataclass(frozen=True)
class LocalModel:
    """Everything the statistic needs at one wavelength.

    ``axes`` are the (z, y, x) :class:`AxisBasis`; ``projection`` (20, 16) maps the 20 separable
    responses R (ordered as :data:`TRIPLES`) to 16 coordinates whose squared norm is
    S_vᵀ(Γ0 − Γ)S_v; ``null_weights`` (16,) are the eigenvalues e_k of Γ0 − Γ (so under white
    noise of variance σ², LRS = |Pᵀ R|²/σ² ~ Σ e_k χ²₁); ``design`` (20, 17) are the basis
    functions' coordinates; ``residual_projection`` (20, 16) is an orthonormal basis of the
    model without its constant column (for the noise variance, method.md §5).
    """

    wavelength_A: float
    kernel: str
    radius_vox: tuple[int, int, int]
    alpha_invA: float
    axes: tuple[AxisBasis, AxisBasis, AxisBasis]
    design: np.ndarray
    projection: np.ndarray
    residual_projection: np.ndarray
    null_weights: np.ndarray

    @cached_property
    def parity_blocks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(order, P_even, P_odd): the projection split by the parity of a + b + c.

        Under the symmetric window the even basis functions (1, G_i) live on the 7 even triples
        and the odd ones (H_j) on the 13 odd triples, so |PᵀR|² = |P_evenᵀR_even|² +
        |P_oddᵀR_odd|² with P_even (7, 6) and P_odd (13, 10) orthonormal: 172 multiply-adds
        per voxel instead of 320. ``order`` lists the TRIPLES indices, even ones first.
        """
        parity = np.array([sum(t) % 2 for t in TRIPLES])
        order = np.concatenate([np.flatnonzero(parity == 0), np.flatnonzero(parity == 1)])
        even, odd = order[: np.count_nonzero(parity == 0)], order[np.count_nonzero(parity == 0) :]
        p_even = _orthonormal_columns(self.projection[even], 6)
        p_odd = _orthonormal_columns(self.projection[odd], 10)
        return order, p_even, p_odd

    def window_weight(self) -> np.ndarray:
        """The 3-D Gaussian window W on the (2r+1)³ grid (z, y, x)."""
        wz, wy, wx = (ax.weight for ax in self.axes)
        return wz[:, None, None] * wy[None, :, None] * wx[None, None, :]

    def response_covariance(self) -> np.ndarray:
        """Covariance (20, 20) of the separable responses under unit white noise."""
        gz, gy, gx = (ax.gram2 for ax in self.axes)
        idx = np.array(TRIPLES)
        return (
            gz[idx[:, 0][:, None], idx[:, 0][None, :]]
            * gy[idx[:, 1][:, None], idx[:, 1][None, :]]
            * gx[idx[:, 2][:, None], idx[:, 2][None, :]]
        )


def _orthonormal_columns(mat: np.ndarray, rank: int) -> np.ndarray:
    """Orthonormal basis (via SVD) of the column space of ``mat``, checking its rank."""
    u, sing, _ = np.linalg.svd(mat, full_matrices=False)
    tol = sing[0] * 1e-10
    found = int(np.sum(sing > tol))
    if found != rank:
        raise ValueError(f"model matrix has rank {found}, expected {rank}")
    basis = u[:, :rank]
    # Deterministic sign: largest-magnitude entry of each column positive.
    pivots = np.argmax(np.abs(basis), axis=0)
    basis = basis * np.sign(basis[pivots, np.arange(rank)])
    return basis


def local_model(
    wavelength_A: float,
    spacing_zyx_A: tuple[float, float, float],
    kernel: str = "paper",
    rotation: np.ndarray | None = None,
) -> LocalModel:
    """Build the H2 model at ``wavelength_A`` for voxels of size ``spacing_zyx_A`` (Å, z/y/x)."""
    _kernel_exponent(kernel)
    radius = window_radius_vox(wavelength_A, spacing_zyx_A)
    alpha = scale_invA(wavelength_A)
    axes = tuple(
        axis_basis(r, d, alpha, kernel) for r, d in zip(radius, spacing_zyx_A, strict=True)
    )
    polys = basis_polynomials(alpha, rotation)
    design = np.zeros((len(TRIPLES), len(polys)))
    mz, my, mx = (ax.moments for ax in axes)
    for j, poly in enumerate(polys):
        for (ez, ey, ex), coef in poly.items():
            # z^ez y^ey x^ex = Σ_abc mz[a,ez] my[b,ey] mx[c,ex] Φ_abc
            for i, (a, b, c) in enumerate(TRIPLES):
                design[i, j] += coef * mz[a, ez] * my[b, ey] * mx[c, ex]
    const_dir = np.zeros(len(TRIPLES))
    const_dir[TRIPLES.index((0, 0, 0))] = 1.0
    oriented = design[:, 1:] - np.outer(const_dir, const_dir @ design[:, 1:])
    projection = _orthonormal_columns(oriented, 16)
    residual_projection = _orthonormal_columns(design[:, 1:], 16)
    model = LocalModel(
        wavelength_A=float(wavelength_A),
        kernel=kernel,
        radius_vox=radius,  # type: ignore[arg-type]
        alpha_invA=alpha,
        axes=axes,  # type: ignore[arg-type]
        design=design,
        projection=projection,
        residual_projection=residual_projection,
        null_weights=np.empty(0),
    )
    cov = projection.T @ model.response_covariance() @ projection
    weights = np.sort(np.linalg.eigvalsh(0.5 * (cov + cov.T)))[::-1]
    object.__setattr__(model, "null_weights", weights)
    return model
