"""Fourier shells in physical frequency, shared by FSC, pre-whitening and low-pass detection.

Everything works on the half-spectrum grid of ``scipy.fft.rfftn`` for an array ``[z, y, x]``:
shape ``(nz, ny, nx // 2 + 1)``. Frequencies are in Å⁻¹, so non-cubic boxes and anisotropic
voxels get correct shells.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

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


def padded_empty(shape: tuple[int, int, int]) -> np.ndarray:
    """An uninitialised float32 volume [z, y, x] of ``shape`` whose memory can hold its own
    rfftn (complex64, (nz, ny, nx//2 + 1)): the x rows are padded to 2·(nx//2 + 1) floats.

    :func:`rfftn_in_place` and :func:`irfftn_in_place` transform such a volume without a
    second full-size array: a large box pays its transforms in memory it already holds.
    """
    nz, ny, nx = shape
    return np.empty((nz, ny, nx // 2 + 1), dtype=np.complex64).view(np.float32)[..., :nx]


def _own_spectrum(volume: np.ndarray) -> np.ndarray | None:
    """The complex64 buffer behind a :func:`padded_empty` volume (None for any other array)."""
    nz, ny, nx = volume.shape
    half = nx // 2 + 1
    base = volume.base  # NumPy records the array that owns the memory
    if base is not None and base.dtype == np.float32 and base.shape == (nz, ny, 2 * half):
        base = base.view(np.complex64)
    if (
        volume.dtype != np.float32
        or base is None
        or base.dtype != np.complex64
        or base.shape != (nz, ny, half)
        or not base.flags.c_contiguous
        or volume.ctypes.data != base.ctypes.data
        or volume.strides != (ny * half * 8, half * 8, 4)
    ):
        return None
    return base


def rfftn_in_place(volume: np.ndarray, threads: int | None = None) -> np.ndarray:
    """rfftn of a float32 volume [z, y, x], in the volume's own memory when it is a
    :func:`padded_empty` volume (then overwritten), else in a new array.

    Real transforms along x a few planes at a time into the buffer, then complex transforms
    along y and z in place: the same transforms as ``scipy.fft.rfftn``.
    """
    spectrum = _own_spectrum(volume)
    if spectrum is None:
        return sfft.rfftn(volume, workers=threads)
    for z0 in range(0, volume.shape[0], 8):
        spectrum[z0 : z0 + 8] = sfft.rfft(volume[z0 : z0 + 8], axis=2, workers=threads)
    out = sfft.fftn(spectrum, axes=(0, 1), workers=threads, overwrite_x=True)
    if not np.shares_memory(out, spectrum):  # scipy transforms C-contiguous buffers in place
        spectrum[...] = out
    return spectrum


def irfftn_in_place(
    spectrum: np.ndarray, shape: tuple[int, int, int], threads: int | None = None
) -> np.ndarray:
    """Inverse of ``scipy.fft.rfftn`` for a 3-D ``shape``, in the memory of ``spectrum``
    (C-contiguous complex64, consumed): returns a :func:`padded_empty`-style float32 view.

    Complex transforms along z and y run in place; then the real transforms along x, a few
    planes at a time, overwrite the planes they read. Same arithmetic as ``irfftn``.
    """
    half = sfft.ifftn(spectrum, axes=(0, 1), workers=threads, overwrite_x=True)
    if not np.shares_memory(half, spectrum):
        spectrum[...] = half
    del half
    real = spectrum.view(np.float32)
    for z0 in range(0, shape[0], 8):
        real[z0 : z0 + 8, :, : shape[2]] = sfft.irfft(
            spectrum[z0 : z0 + 8], n=shape[2], axis=2, workers=threads
        )
    return real[..., : shape[2]]


def irfftn_consuming(
    spectrum: np.ndarray, shape: tuple[int, int, int], threads: int | None = None
) -> np.ndarray:
    """Inverse of ``scipy.fft.rfftn`` for a 3-D ``shape``, overwriting ``spectrum``; a
    C-contiguous result (the spectrum plus the output at the peak, where ``irfftn`` holds a
    second spectrum-sized copy). Same arithmetic, same result as ``irfftn``."""
    if spectrum.dtype == np.complex64 and spectrum.flags.c_contiguous:
        return np.ascontiguousarray(irfftn_in_place(spectrum, shape, threads))
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

    Shell i is centred on ``i * step_invA`` Å⁻¹; coefficients beyond the last shell get
    ``count``. The shell of each coefficient is computed a few z-planes at a time
    (:meth:`index_planes`), so that a large box never holds a full-size index; :attr:`index`
    gives the whole array for small boxes (FSC).
    """

    shape: tuple[int, int, int]
    spacing_zyx_A: tuple[float, float, float]
    count: int
    step_invA: float

    @property
    def nx(self) -> int:
        """Length of the real-space x axis (the rfft axis has nx // 2 + 1 coefficients)."""
        return self.shape[2]

    @property
    def frequency_invA(self) -> np.ndarray:
        """Centre frequency of each shell, Å⁻¹."""
        return np.arange(self.count) * self.step_invA

    def _magnitude(self, z0: int, z1: int) -> np.ndarray:
        """|k| (Å⁻¹, float64) of the coefficients of rfftn planes z0 ≤ z < z1."""
        kz, ky, kx = frequency_axes(self.shape, self.spacing_zyx_A)
        return np.sqrt(kz[z0:z1] ** 2 + ky * ky + kx * kx)

    def _index_of(self, k: np.ndarray) -> np.ndarray:
        """Shell index (int32) of frequencies ``k`` (Å⁻¹); beyond the last shell: ``count``."""
        return np.minimum(np.rint(k / self.step_invA), self.count).astype(np.int32)

    def index_planes(self, z0: int, z1: int) -> np.ndarray:
        """Shell index (int32) of the coefficients of rfftn planes z0 ≤ z < z1."""
        return self._index_of(self._magnitude(z0, z1))

    @cached_property
    def index(self) -> np.ndarray:
        """Shell index of every coefficient, shape (nz, ny, nx // 2 + 1), int32."""
        return self.index_planes(0, self.shape[0])

    def _chunks(self, planes: int = 16):
        """(z0, z1, |k| in Å⁻¹, flat shell index) of ``planes`` rfftn z-planes at a time."""
        for z0 in range(0, self.shape[0], planes):
            z1 = min(z0 + planes, self.shape[0])
            k = self._magnitude(z0, z1)
            yield z0, z1, k, self._index_of(k).ravel()

    def average(self, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Weighted mean of ``values`` (rfftn grid) over each shell; NaN for empty shells."""
        grid = (self.shape[0], self.shape[1], self.nx // 2 + 1)
        default = rfft_weights(self.shape)
        w = np.broadcast_to(default if weights is None else weights, grid)
        num = self.sum(values * w)
        den = self.sum(w)
        with np.errstate(invalid="ignore", divide="ignore"):
            return num / den

    def power_and_counts(
        self, spectrum: np.ndarray, gain: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(mean |F|² per shell, full-spectrum coefficients per shell) of an rfftn
        ``spectrum``; NaN power for empty shells.

        ``gain`` (a function of |k| in Å⁻¹) first multiplies the spectrum in place, so a
        filter and the measurement of its result share one pass over the grid. Works through
        a few z-planes at a time: no full-size float64 array or shell index (large boxes).
        """
        w = rfft_weights(self.shape)[0, 0]
        num = np.zeros(self.count + 1)
        den = np.zeros(self.count + 1)
        plane_weights = np.broadcast_to(w, spectrum.shape[1:]).ravel()
        for z0, z1, k, index in self._chunks():
            chunk = spectrum[z0:z1]
            if gain is not None:
                chunk *= gain(k).astype(chunk.real.dtype)
            # |F|² in the spectrum's precision (1e-7 relative: nothing for a shell mean),
            # summed per shell in double by bincount
            power = chunk.real * chunk.real
            power += chunk.imag * chunk.imag
            power *= w.astype(power.dtype)
            num += np.bincount(index, weights=power.ravel(), minlength=self.count + 1)
            for z in range(z1 - z0):  # coefficients per shell: the same weights every plane
                plane = index[z * plane_weights.size : (z + 1) * plane_weights.size]
                den += np.bincount(plane, weights=plane_weights, minlength=self.count + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return num[: self.count] / den[: self.count], den[: self.count]

    def average_power(self, spectrum: np.ndarray) -> np.ndarray:
        """Mean of |F|² over each shell (full-spectrum weighting); NaN for empty shells."""
        return self.power_and_counts(spectrum)[0]

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Plain sum of ``values`` (rfftn grid or broadcastable to it, real) over each shell."""
        grid = (self.shape[0], self.shape[1], self.nx // 2 + 1)
        full = np.broadcast_to(values, grid)
        total = np.zeros(self.count + 1)
        for z0, z1, _, index in self._chunks():
            weights = np.asarray(full[z0:z1], dtype=np.float64).ravel()
            total += np.bincount(index, weights=weights, minlength=self.count + 1)
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
    return Shells(
        shape=tuple(int(n) for n in shape),  # type: ignore[arg-type]
        spacing_zyx_A=tuple(float(d) for d in spacing_zyx_A),  # type: ignore[arg-type]
        count=count,
        step_invA=step,
    )
