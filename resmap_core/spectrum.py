"""Fourier shells in physical frequency, shared by FSC, pre-whitening and low-pass detection.

Everything works on the half-spectrum grid of ``scipy.fft.rfftn`` for an array ``[z, y, x]``:
shape ``(nz, ny, nx // 2 + 1)``. Frequencies are in Å⁻¹, so non-cubic boxes and anisotropic
voxels get correct shells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft


def frequency_axes(
    shape: tuple[int, int, int], spacing_zyx_A: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signed frequencies (Å⁻¹) along z, y (full FFT axes) and x (rfft axis), broadcastable."""
    nz, ny, nx = shape
    dz, dy, dx = spacing_zyx_A
    kz = np.fft.fftfreq(nz, d=dz)[:, None, None]
    ky = np.fft.fftfreq(ny, d=dy)[None, :, None]
    kx = np.fft.rfftfreq(nx, d=dx)[None, None, :]
    return kz, ky, kx


def frequency_magnitude(
    shape: tuple[int, int, int], spacing_zyx_A: tuple[float, float, float]
) -> np.ndarray:
    """|k| in Å⁻¹ on the rfftn grid, shape (nz, ny, nx//2 + 1), float64."""
    kz, ky, kx = frequency_axes(shape, spacing_zyx_A)
    return np.sqrt(kz * kz + ky * ky + kx * kx)


def radial_gain(
    spectrum: np.ndarray,
    shape: tuple[int, int, int],
    spacing_zyx_A: tuple[float, float, float],
    gain,
    planes: int = 16,
) -> None:
    """Multiply an rfftn ``spectrum`` in place by ``gain(|k|)`` (|k| in Å⁻¹), plane by plane.

    Works through ``planes`` z-planes at a time so that no full-size |k| array is formed.
    """
    kz, ky, kx = frequency_axes(shape, spacing_zyx_A)
    for z0 in range(0, shape[0], planes):
        k = np.sqrt(kz[z0 : z0 + planes] ** 2 + ky * ky + kx * kx)
        spectrum[z0 : z0 + planes] *= gain(k).astype(spectrum.real.dtype)


def irfftn_consuming(
    spectrum: np.ndarray, shape: tuple[int, int, int], threads: int | None = None
) -> np.ndarray:
    """Inverse of ``scipy.fft.rfftn`` for a 3-D ``shape``, overwriting ``spectrum``.

    Complex transforms along z and y run in the spectrum's own memory, then the real transform
    along x writes the output, so the peak is the spectrum plus the output (``irfftn`` holds a
    second spectrum-sized copy). Same arithmetic, same result as ``irfftn``.
    """
    half = sfft.ifftn(spectrum, axes=(0, 1), workers=threads, overwrite_x=True)
    return sfft.irfft(half, n=shape[2], axis=2, workers=threads, overwrite_x=True)


def rfft_weights(shape: tuple[int, int, int]) -> np.ndarray:
    """Multiplicity of each rfftn coefficient in the full spectrum, shape (1, 1, nx//2 + 1).

    Coefficients with 0 < kx < nx/2 stand for themselves and their conjugate (weight 2);
    the kx = 0 plane and, for even nx, the Nyquist plane stand for themselves (weight 1).
    """
    nx = shape[2]
    w = np.full(nx // 2 + 1, 2.0)
    w[0] = 1.0
    if nx % 2 == 0:
        w[-1] = 1.0
    return w[None, None, :]


@dataclass(frozen=True)
class Shells:
    """Assignment of rfftn coefficients to spherical shells of width ``step_invA``.

    ``index`` has the rfftn grid's shape; coefficients beyond the last shell get ``count``.
    Shell i is centred on ``i * step_invA`` Å⁻¹; shells run up to the Nyquist frequency of the
    coarsest axis, so every shell is complete.
    """

    index: np.ndarray
    count: int
    step_invA: float
    nx: int

    @property
    def frequency_invA(self) -> np.ndarray:
        """Centre frequency of each shell, Å⁻¹."""
        return np.arange(self.count) * self.step_invA

    def average(self, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Weighted mean of ``values`` (rfftn grid) over each shell; NaN for empty shells."""
        default = rfft_weights((*self.index.shape[:2], self.nx))
        w = np.broadcast_to(default if weights is None else weights, self.index.shape)
        num = self.sum(values * w)
        den = self.sum(w)
        with np.errstate(invalid="ignore", divide="ignore"):
            return num / den

    def average_power(self, spectrum: np.ndarray, planes: int = 16) -> np.ndarray:
        """Mean of |F|² over each shell (full-spectrum weighting); NaN for empty shells.

        Works through ``planes`` z-planes at a time, so no full-size float64 power array is
        ever formed (large boxes).
        """
        w = rfft_weights((*self.index.shape[:2], self.nx))[0, 0]
        num = np.zeros(self.count + 1)
        den = np.zeros(self.count + 1)
        for z0 in range(0, spectrum.shape[0], planes):
            chunk = spectrum[z0 : z0 + planes]
            power = chunk.real.astype(np.float64) ** 2
            power += chunk.imag.astype(np.float64) ** 2
            power *= w
            index = self.index[z0 : z0 + planes].ravel()
            num += np.bincount(index, weights=power.ravel(), minlength=self.count + 1)
            den += np.bincount(
                index,
                weights=np.broadcast_to(w, chunk.shape).ravel(),
                minlength=self.count + 1,
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            return num[: self.count] / den[: self.count]

    def sum(self, values: np.ndarray, planes: int = 16) -> np.ndarray:
        """Plain sum of ``values`` (rfftn grid, real) over each shell, a few z-planes at a time."""
        full = np.broadcast_to(values, self.index.shape)
        total = np.zeros(self.count + 1)
        for z0 in range(0, self.index.shape[0], planes):
            total += np.bincount(
                self.index[z0 : z0 + planes].ravel(),
                weights=np.asarray(full[z0 : z0 + planes], dtype=np.float64).ravel(),
                minlength=self.count + 1,
            )
        return total[: self.count]


def nyquist_shell_count(
    shape: tuple[int, int, int], spacing_zyx_A: tuple[float, float, float]
) -> int:
    """Shells of width 1/(longest box edge, Å) from DC up to the coarsest axis' Nyquist."""
    step = 1.0 / max(n * d for n, d in zip(shape, spacing_zyx_A, strict=True))
    # 1e-6: voxel sizes read from MRC headers carry float32 rounding (a dropped Nyquist shell)
    return int(np.floor(min(0.5 / d for d in spacing_zyx_A) / step + 1e-6)) + 1


def make_shells(
    shape: tuple[int, int, int],
    spacing_zyx_A: tuple[float, float, float],
    to_corner: bool = False,
) -> Shells:
    """Shells of width 1/(longest box edge in Å), up to the coarsest axis' Nyquist frequency.

    For a cubic box with isotropic voxels this is the usual integer-radius binning
    (shell i = coefficients with round(|k|·n·d) = i). ``to_corner`` extends the shells to the
    largest |k| of the grid (the corners beyond the Nyquist sphere), so that every coefficient
    has a shell; the outer shells are then incomplete.
    """
    step = 1.0 / max(n * d for n, d in zip(shape, spacing_zyx_A, strict=True))
    if to_corner:
        top = float(np.sqrt(sum((0.5 / d) ** 2 for d in spacing_zyx_A)))
        count = int(np.floor(top / step + 1e-6)) + 2
    else:
        count = nyquist_shell_count(shape, spacing_zyx_A)
    kz, ky, kx = frequency_axes(shape, spacing_zyx_A)
    index = np.empty((shape[0], shape[1], shape[2] // 2 + 1), dtype=np.int32)
    for z0 in range(0, shape[0], 16):  # plane by plane: no full-size float64 |k| array
        radius = np.sqrt(kz[z0 : z0 + 16] ** 2 + ky * ky + kx * kx) / step
        index[z0 : z0 + 16] = np.minimum(np.rint(radius), count)
    return Shells(index=index, count=count, step_invA=step, nx=shape[2])
