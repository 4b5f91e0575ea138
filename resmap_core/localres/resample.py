"""Moving maps and labels between the input grid and a coarser analysis grid.

Both grids put voxel 0 at the same physical point and keep the box extent n·d (Å). Maps are
resampled exactly in Fourier space; labels (masks, resolutions, NaN) are copied from the nearest
voxel, never blended (docs/preparation.md §2).
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from resmap_core.localres.mask import Spacing


def _resample_axis(ft: np.ndarray, axis: int, m: int) -> np.ndarray:
    """Crop or zero-pad Fourier-series coefficients (norm='forward') along ``axis`` to length m.

    Cropping to even m folds the two bins at ±m/2 into the new Nyquist bin (sampling of the
    closed band); padding from even n splits the old Nyquist bin equally between ±n/2 (the
    symmetric trigonometric interpolant). Both keep the result real and the mean unchanged.
    """
    n = ft.shape[axis]
    if m == n:
        return ft
    src = np.moveaxis(ft, axis, 0)
    out = np.zeros((m, *src.shape[1:]), dtype=ft.dtype)
    if m < n:
        pos = (m + 1) // 2  # bins 0 .. pos-1 are non-negative frequencies
        neg = m - pos  # bins -neg .. -1
        out[:pos] = src[:pos]
        if neg:
            out[m - neg :] = src[n - neg :]
        if m % 2 == 0:
            out[m // 2] = src[m // 2] + src[n - m // 2]
    else:
        pos = (n + 1) // 2
        neg = n - pos
        out[:pos] = src[:pos]
        if neg:
            out[m - neg :] = src[n - neg :]
        if n % 2 == 0:
            half = src[n // 2] / 2.0
            out[n // 2] = half
            out[m - n // 2] = half
    return np.moveaxis(out, 0, axis)


def _resample_half_axis(ft: np.ndarray, n: int, m: int) -> np.ndarray:
    """:func:`_resample_axis` for the last axis of 1-D ``rfft`` spectra of real lines.

    ``ft`` holds bins 0 … n//2 of lines of length n; returns bins 0 … m//2 for length m. For
    real lines bin n − j is the conjugate of bin j, so folding ±m/2 gives 2·Re(bin m/2) and
    splitting the old Nyquist bin gives half of it (real) on each side.
    """
    if m == n:
        return ft
    out = np.zeros((*ft.shape[:-1], m // 2 + 1), dtype=ft.dtype)
    if m < n:
        out[...] = ft[..., : m // 2 + 1]
        if m % 2 == 0:
            out[..., m // 2] = 2.0 * ft[..., m // 2].real
    else:
        out[..., : n // 2 + 1] = ft
        if n % 2 == 0:
            out[..., n // 2] = ft[..., n // 2].real / 2.0
    return out


def fourier_resample(
    data: np.ndarray, new_shape: tuple[int, int, int], threads: int | None = None
) -> np.ndarray:
    """Exact Fourier crop/pad of a periodic real array to ``new_shape``.

    Sample 0 keeps its position; coarse/fine sample j sits at j·(n·d/n'). Band-limited content
    below the smaller grid's Nyquist is preserved exactly, and so is the mean. float32 input
    gives float32 output (single-precision transforms), anything else float64. The transform
    runs one axis at a time (real along x first) and each axis is cropped as soon as it is
    transformed, so a large map needs about one half-spectrum of extra memory.
    """
    vol = np.asarray(data)
    vol = vol.astype(np.float32 if vol.dtype == np.float32 else np.float64, copy=False)
    if tuple(new_shape) == vol.shape:
        return vol.copy()
    mz, my, mx = (int(m) for m in new_shape)
    ft = sfft.rfft(vol, axis=2, norm="forward", workers=threads)
    ft = _resample_half_axis(ft, vol.shape[2], mx)
    for axis, m in ((0, mz), (1, my)):
        ft = sfft.fft(ft, axis=axis, norm="forward", workers=threads, overwrite_x=True)
        ft = _resample_axis(ft, axis, m)
    ft = sfft.ifftn(ft, axes=(0, 1), norm="forward", workers=threads, overwrite_x=True)
    return sfft.irfft(ft, n=mx, axis=2, norm="forward", workers=threads, overwrite_x=True)


def resample_labels_to_grid(
    values: np.ndarray,
    from_shape: tuple[int, int, int],
    from_spacing: Spacing,
    to_shape: tuple[int, int, int],
    to_spacing: Spacing,
) -> np.ndarray:
    """Nearest-neighbour transfer of ``values`` (any dtype, NaN and labels kept) between grids.

    Both grids put voxel 0 at the same physical point (as :func:`fourier_resample` does); target
    voxel i on an axis sits at i·d_to Å and takes the source voxel round(i·d_to/d_from), clamped
    into the box. Values are copied, never blended.
    """
    vals = np.asarray(values)
    if vals.shape != tuple(from_shape):
        raise ValueError(f"values shape {vals.shape} does not match from_shape {from_shape}")
    index = [
        np.clip(np.floor(np.arange(m) * (dt / df) + 0.5).astype(np.int64), 0, n - 1)
        for n, df, m, dt in zip(from_shape, from_spacing, to_shape, to_spacing, strict=True)
    ]
    return vals[np.ix_(*index)]
