"""The band-energy estimator (``--estimator band``): local energy in a shell around 1/λ.

At wavelength λ (Å), on the pre-whitened map m (docs/band-energy.md):

1. f = F⁻¹[B · F m], B(k) = exp(−(|k| − 1/λ)² / (2 (ρ/λ)²)), a Gaussian shell (ρ =
   ``band_width``), on a grid Fourier-cropped so that λ spans about :func:`coarse_wavelength_vox`
   voxels — nothing of B is lost (it is < 1e-5 beyond the coarse Nyquist), the null's window has
   a bounded number of voxels whatever λ, and long wavelengths cost a fraction of a transform;
2. E(c) = Σ_d W(d) f(c+d)², W separable, w_a(t) = exp(−(t d′_a)² / (2 s²)), s = κλ (κ =
   ``band_window``), |t| ≤ R_a = ceil(2s / d′_a) (coarse voxels of d′_a Å);
3. Q = E · a(0) / v̂ with v̂ the mean of g² over the noise region, g the noise source (the
   half-map difference, or the map itself in single mode) filtered alike: under white noise of
   any variance Q ~ Σ e_k χ²₁, e = eigenvalues of W½ A W½, A_ij = a(d_i − d_j), a = F⁻¹[B²] on the
   coarse box (exact: f is periodic band-passed white noise there), see :mod:`.band_null`;
4. each voxel of the input's analysis grid takes the Q of its nearest coarse voxel (so every
   tested value has exactly that null), NaN where the window leaves the coarse box.

B is set to zero on the Nyquist planes of even axes, so that a is even in each axis (the null's
parity blocks are exact).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from resmap_core.localres.band_null import BandNull, band_null

__all__ = ["BandModel", "band_model", "band_statistic", "band_noise_level"]

_PLANES = 16
"""z-planes of the spectrum filtered at a time (bounded temporaries on large boxes)."""
_SHELL_SIGMAS = 4.5
"""The shell's upper edge, 1/λ + this many widths ρ/λ, stays below the coarse Nyquist."""


def coarse_wavelength_vox(band_width: float) -> float:
    """λ in coarse voxels: 2(1 + 4.5ρ), so that B < exp(−4.5²/2) ≈ 4e-5 at the coarse Nyquist."""
    return 2.0 * (1.0 + _SHELL_SIGMAS * band_width)


@dataclass(frozen=True)
class BandModel:
    """One wavelength of the estimator: the coarse grid, the filter, the window, the null.

    ``shape``/``spacing_zyx_A``: the analysis grid; ``coarse_shape``/``coarse_spacing_A``: the
    Fourier-cropped grid (d′_a = n_a d_a / m_a); ``radius_vox`` (R_z, R_y, R_x) coarse voxels;
    ``window`` three 1-D weight vectors of length 2R_a + 1.
    """

    wavelength_A: float
    band_width: float
    band_window: float
    shape: tuple[int, int, int]
    spacing_zyx_A: tuple[float, float, float]
    coarse_shape: tuple[int, int, int]
    coarse_spacing_A: tuple[float, float, float]
    radius_vox: tuple[int, int, int]

    @property
    def window(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """w_a(t) = exp(−(t d′_a)² / 2s²), t = −R_a … R_a (float64)."""
        s = self.band_window * self.wavelength_A
        return tuple(  # type: ignore[return-value]
            np.exp(-0.5 * (np.arange(-r, r + 1) * d / s) ** 2)
            for r, d in zip(self.radius_vox, self.coarse_spacing_A, strict=True)
        )

    @cached_property
    def gain(self) -> np.ndarray:
        """B on the coarse rfft grid, (m_z, m_y, m_x//2 + 1), float32: the filter applied to
        both maps, and whose square (in float64) gives :attr:`kernel`."""
        mz = self.coarse_shape[0]
        out = np.empty((mz, self.coarse_shape[1], self.coarse_shape[2] // 2 + 1), np.float32)
        for z0 in range(0, mz, _PLANES):
            out[z0 : z0 + _PLANES] = _gain_planes(self, z0, min(z0 + _PLANES, mz))
        return out

    @cached_property
    def kernel(self) -> np.ndarray:
        """a(d) = F⁻¹[B²](d) on the coarse box for |d_a| ≤ 2R_a: shape (4R_a + 1) per axis,
        centre at 2R_a (float64)."""
        return _shell_autocorrelation(self, tuple(2 * r for r in self.radius_vox))

    @property
    def a0(self) -> float:
        """a(0) = (1/N) Σ_k B(k)²: the variance of band-passed unit white noise."""
        return float(self.kernel[tuple(2 * r for r in self.radius_vox)])

    @cached_property
    def nearest(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per axis, the coarse index nearest each analysis-grid index (round(i·m/n) mod m)."""
        return tuple(  # type: ignore[return-value]
            np.rint(np.arange(n) * (m / n)).astype(np.int64) % m
            for n, m in zip(self.shape, self.coarse_shape, strict=True)
        )

    @cached_property
    def null(self) -> BandNull:
        """The exact null law of Q at this wavelength (:func:`.band_null.band_null`)."""
        return band_null(self.kernel, self.window)


def band_model(
    wavelength_A: float,
    shape: tuple[int, int, int],
    spacing_zyx_A: tuple[float, float, float],
    band_width: float,
    band_window: float,
) -> BandModel:
    """The :class:`BandModel` of one wavelength on an analysis grid of ``shape`` (z, y, x)."""
    target = coarse_wavelength_vox(band_width)
    coarse = tuple(
        min(n, sfft.next_fast_len(math.ceil(n * d * target / wavelength_A), real=True))
        for n, d in zip(shape, spacing_zyx_A, strict=True)
    )
    coarse_spacing = tuple(n * d / m for n, d, m in zip(shape, spacing_zyx_A, coarse, strict=True))
    s = band_window * wavelength_A
    radius = tuple(max(1, math.ceil(2.0 * s / d - 1e-9)) for d in coarse_spacing)
    return BandModel(
        float(wavelength_A),
        float(band_width),
        float(band_window),
        tuple(shape),  # type: ignore[arg-type]
        tuple(spacing_zyx_A),  # type: ignore[arg-type]
        coarse,  # type: ignore[arg-type]
        coarse_spacing,  # type: ignore[arg-type]
        radius,  # type: ignore[arg-type]
    )


def _signed_indices(m: int) -> np.ndarray:
    """Signed DFT indices of an axis of m points: 0, 1, …, −1 (the Nyquist −m/2 of even m
    included; its gain is zero)."""
    return np.fft.fftfreq(m, d=1.0 / m).astype(np.int64)


def _gain_planes(model: BandModel, z0: int, z1: int) -> np.ndarray:
    """B on coarse rfft planes z0:z1, shape (z1−z0, m_y, m_x//2 + 1), float64, zero on the
    Nyquist planes of even axes."""
    mz, my, mx = model.coarse_shape
    kz = np.fft.fftfreq(mz, d=model.coarse_spacing_A[0])[z0:z1, None, None]
    ky = np.fft.fftfreq(my, d=model.coarse_spacing_A[1])[None, :, None]
    kx = np.fft.rfftfreq(mx, d=model.coarse_spacing_A[2])[None, None, :]
    k = np.sqrt(kz * kz + ky * ky + kx * kx)
    lam = model.wavelength_A
    gain = np.exp(-0.5 * ((k - 1.0 / lam) * lam / model.band_width) ** 2)
    for axis, m in enumerate(model.coarse_shape):
        if m % 2 == 0:  # the Nyquist index: −m/2 on full axes, m/2 on the rfft axis
            nyq = m // 2
            if axis == 0:
                gain[(_signed_indices(m)[z0:z1] == -nyq)] = 0.0
            elif axis == 1:
                gain[:, nyq] = 0.0
            else:
                gain[:, :, nyq] = 0.0
    return gain


def _cosines(indices: np.ndarray, reach: int, m: int) -> np.ndarray:
    """cos(2π j d / m) for the DFT indices j (rows) and d = 0 … reach (columns)."""
    return np.cos(2 * np.pi * np.outer(indices, np.arange(reach + 1)) / m)


def _shell_autocorrelation(model: BandModel, reach: tuple[int, ...]) -> np.ndarray:
    """a(d) = (1/N) Σ_k B(k)² cos(2πk·d) for |d_a| ≤ reach_a, by partial DFTs plane by plane.

    B² is even in each axis (zero Nyquist planes), so the sum factorises into cosines per axis
    and a is even: computed for d ≥ 0 and mirrored. Shape (2·reach_a + 1) per axis."""
    mz, my, mx = model.coarse_shape
    rz, ry, rx = reach
    weights = np.full(mx // 2 + 1, 2.0)  # the rfft half-axis stands for ±k
    weights[0] = 1.0
    if mx % 2 == 0:
        weights[-1] = 1.0
    cos_x = weights[:, None] * _cosines(np.arange(mx // 2 + 1), rx, mx)
    cos_y = _cosines(_signed_indices(my), ry, my)
    cos_z = _cosines(_signed_indices(mz), rz, mz)
    quarter = np.zeros((rz + 1, ry + 1, rx + 1))
    for z0 in range(0, mz, _PLANES):
        z1 = min(z0 + _PLANES, mz)
        g2 = model.gain[z0:z1].astype(np.float64) ** 2
        along_x = g2 @ cos_x  # (planes, m_y, rx+1)
        along_y = np.einsum("zyx,yd->zdx", along_x, cos_y)
        quarter += np.einsum("zdx,ze->edx", along_y, cos_z[z0:z1])
    quarter /= mz * my * mx
    return quarter[np.ix_(*(np.abs(np.arange(-r, r + 1)) for r in reach))]  # a(−d) = a(d)


def _crop_filtered(spectrum: np.ndarray, model: BandModel) -> np.ndarray:
    """B × the coarse part of an rfftn ``spectrum`` of the analysis grid: (m_z, m_y, m_x//2+1),
    complex64. Coarse frequency j ↔ the same physical frequency on the analysis grid."""
    nz, ny, _ = model.shape
    mz, my, mx = model.coarse_shape
    iz = _signed_indices(mz) % nz
    # an uncropped axis is read as a slice: a gather of every row would copy the box
    iy = slice(None) if my == ny else _signed_indices(my) % ny
    out = np.empty((mz, my, mx // 2 + 1), dtype=np.complex64)
    for z0 in range(0, mz, _PLANES):
        z1 = min(z0 + _PLANES, mz)
        rows = slice(z0, z1) if mz == nz else iz[z0:z1]
        np.multiply(spectrum[rows][:, iy, : mx // 2 + 1], model.gain[z0:z1], out=out[z0:z1])
    return out


def _band_passed(spectrum: np.ndarray, model: BandModel, threads: int | None) -> np.ndarray:
    """f on the coarse grid, float32 (m_z, m_y, m_x); ``spectrum`` the analysis grid's rfftn."""
    return sfft.irfftn(_crop_filtered(spectrum, model), s=model.coarse_shape, workers=threads or 1)


def _window_energy(f: np.ndarray, model: BandModel, box: tuple[slice, ...]) -> np.ndarray:
    """E = Σ_d W(d) f(c+d)² over the coarse sub-box ``box`` (its values within R of the
    sub-box's faces are not used: :func:`_mask_box` leaves that margin)."""
    energy = np.square(f[box])
    other = np.empty_like(energy)
    for axis, w in enumerate(model.window):
        ndimage.correlate1d(energy, w.astype(np.float32), axis=axis, output=other, mode="wrap")
        energy, other = other, energy
    return energy


def _mask_box(mask: np.ndarray, model: BandModel) -> tuple[slice, ...]:
    """The coarse voxels nearest the mask's, grown by the window half-width R (clipped to the
    box): every window of a testable mask voxel lies inside."""
    box = []
    for axis, (idx, r, m) in enumerate(
        zip(model.nearest, model.radius_vox, model.coarse_shape, strict=True)
    ):
        others = tuple(a for a in range(3) if a != axis)
        used = idx[np.flatnonzero(mask.any(axis=others))]
        lo, hi = (int(used.min()), int(used.max())) if used.size else (0, -1)
        box.append(slice(max(lo - r, 0), min(hi + r + 1, m)))
    return tuple(box)


def band_noise_level(
    spectrum: np.ndarray, region: np.ndarray, model: BandModel, threads: int | None = None
) -> tuple[float, int]:
    """(v̂, count): the mean of g² over the coarse voxels nearest the analysis-grid ``region``
    (bool, the noise region), g the noise source band-passed alike; ``spectrum`` its rfftn."""
    g = _band_passed(spectrum, model, threads)
    iz, iy, ix = model.nearest
    coarse_region = np.zeros(model.coarse_shape, dtype=bool)
    for z in range(model.shape[0]):  # mark every coarse voxel nearest a region voxel
        ys, xs = np.nonzero(region[z])
        coarse_region[iz[z], iy[ys], ix[xs]] = True
    values = g[coarse_region].astype(np.float64)
    return (float(np.mean(values * values)) if values.size else math.nan), int(values.size)


def band_statistic(
    spectrum: np.ndarray,
    mask: np.ndarray,
    model: BandModel,
    noise_level: float,
    threads: int | None = None,
) -> np.ndarray:
    """Q at the voxels of ``mask`` (analysis grid, C order), shape (mask.sum(),), float64.

    ``spectrum`` is the rfftn of the analysed map; ``noise_level`` v̂ of :func:`band_noise_level`.
    NaN where the voxel's coarse window leaves the coarse box (not tested at this λ)."""
    box = _mask_box(mask, model)
    energy = _window_energy(_band_passed(spectrum, model, threads), model, box)
    scale = model.a0 / noise_level
    inside = [
        (idx >= r) & (idx < m - r)
        for idx, r, m in zip(model.nearest, model.radius_vox, model.coarse_shape, strict=True)
    ]
    iz, iy, ix = (idx - b.start for idx, b in zip(model.nearest, box, strict=True))
    out = np.full(int(mask.sum()), np.nan)
    start = 0
    for z in range(model.shape[0]):
        ys, xs = np.nonzero(mask[z])
        if ys.size and inside[0][z]:
            values = energy[iz[z], iy[ys], ix[xs]].astype(np.float64) * scale
            ok = inside[1][ys] & inside[2][xs]
            out[start : start + ys.size] = np.where(ok, values, np.nan)
        start += ys.size
    return out
