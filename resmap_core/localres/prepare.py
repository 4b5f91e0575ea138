"""Preparation steps of ResMap-H2: automatic mask, low-pass detection and resampling, pre-whitening.

Pure numerics on arrays ``data[z, y, x]`` with per-axis voxel sizes ``spacing_zyx_A`` (Å). Every
radial spectrum uses the physical-frequency shells of :mod:`resmap_core.spectrum`. Design notes and
the differences from ResMap 1.1 are in ``docs/preparation.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from resmap_core.errors import InputError
from resmap_core.spectrum import (
    Shells,
    irfftn_consuming,
    make_shells,
    nyquist_shell_count,
    radial_gain,
    rfft_weights,
)

Spacing = tuple[float, float, float]

# ---------------------------------------------------------------------------------------------
# Automatic mask
# ---------------------------------------------------------------------------------------------


def _blur_sigma_vox(shape: tuple[int, ...], spacing_zyx_A: Spacing) -> np.ndarray:
    """Per-axis Gaussian σ in voxels: 2 % of the longest box edge (Å), at least 1.5 voxels."""
    edge_A = max(n * d for n, d in zip(shape, spacing_zyx_A, strict=True))
    sigma_A = 0.02 * edge_A
    return np.maximum(sigma_A / np.asarray(spacing_zyx_A, dtype=np.float64), 1.5)


def _outside_inscribed_ellipsoid(shape: tuple[int, int, int]) -> np.ndarray:
    """Boolean [z, y, x]: voxels outside the box's inscribed ellipsoid (background probe)."""
    grids = [((np.arange(n) - (n - 1) / 2.0) / (n / 2.0)) ** 2 for n in shape]
    r2 = grids[0][:, None, None] + grids[1][None, :, None] + grids[2][None, None, :]
    return r2 > 1.0


def auto_mask(
    data: np.ndarray,
    spacing_zyx_A: Spacing,
    edge_margin_vox: int | None = None,
    *,
    k_mad: float = 5.0,
    max_fraction: float = 0.05,
    min_component_fraction: float = 0.1,
) -> np.ndarray:
    """Particle mask (bool, same shape as ``data``) from a blurred, background-referenced threshold.

    The map is blurred with a Gaussian of σ = 2 % of the longest box edge (Å; ≥ 1.5 voxels per
    axis). The background level b and scatter s (1.4826·MAD) are measured on the blurred map
    outside the inscribed ellipsoid; the threshold is max(b + k_mad·s, b + max_fraction·(max − b)).
    Connected components (26-connectivity) smaller than ``min_component_fraction`` of the largest
    are dropped, holes are filled, and ``edge_margin_vox`` voxels at each face are cleared
    (default: ⌈3σ⌉ voxels of the blur on the widest axis, at least 2).
    """
    shape = data.shape
    sigma = _blur_sigma_vox(shape, spacing_zyx_A)
    blurred = ndimage.gaussian_filter(
        np.asarray(data, dtype=np.float64), sigma=tuple(sigma), mode="reflect", truncate=4.0
    )
    probe = blurred[_outside_inscribed_ellipsoid(shape)]
    level = float(np.median(probe))
    scatter = 1.4826 * float(np.median(np.abs(probe - level)))
    peak = float(blurred.max())
    threshold = max(level + k_mad * scatter, level + max_fraction * (peak - level))
    above = blurred > threshold
    labels, count = ndimage.label(above, structure=np.ones((3, 3, 3), dtype=bool))
    if count == 0:
        return np.zeros(shape, dtype=bool)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    keep = np.zeros(count + 1, dtype=bool)
    keep[1:] = sizes >= min_component_fraction * sizes.max()
    mask = ndimage.binary_fill_holes(keep[labels])
    margin = int(np.ceil(3.0 * sigma.max())) if edge_margin_vox is None else int(edge_margin_vox)
    margin = max(margin, 0)
    if margin > 0:
        inner = np.zeros(shape, dtype=bool)
        inner[tuple(slice(margin, max(n - margin, margin)) for n in shape)] = True
        mask &= inner
    return mask


# ---------------------------------------------------------------------------------------------
# Radial spectra
# ---------------------------------------------------------------------------------------------


def _shell_power(
    volume: np.ndarray,
    spacing_zyx_A: Spacing,
    shells: Shells,
    threads: int | None,
    remove_mean: bool = False,
) -> np.ndarray:
    """Shell-averaged |F|² of ``volume`` (rfftn grid) per shell, unnormalised.

    Single precision suffices for a power spectrum (relative error ~1e-7 per coefficient) and
    halves time and memory on large boxes; the shell sums are accumulated in double.
    ``remove_mean`` zeroes the DC coefficient: the spectrum of ``volume − mean`` without a
    copy of the volume.
    """
    ft = sfft.rfftn(np.asarray(volume, dtype=np.float32), workers=threads)
    if remove_mean:
        ft[0, 0, 0] = 0.0
    return shells.average_power(ft)


@dataclass(frozen=True)
class _ShellSpectrum:
    """Shell-averaged noise power on shells that reach the grid's corners.

    ``nyquist_count`` shells lie within the Nyquist sphere of the coarsest axis (the shells of
    :func:`make_shells`); ``counts`` are full-spectrum coefficients per shell.
    """

    frequency_invA: np.ndarray
    power: np.ndarray
    counts: np.ndarray
    nyquist_count: int


def _corner_spectrum(
    noise: np.ndarray, spacing_zyx_A: Spacing, weight: np.ndarray | None, threads: int | None
) -> _ShellSpectrum:
    """Noise power per shell out to the corners, normalised as in :func:`noise_spectrum`."""
    vol = np.asarray(noise, dtype=np.float32)
    shells = make_shells(vol.shape, spacing_zyx_A, to_corner=True)
    if weight is None:
        power = _shell_power(vol, spacing_zyx_A, shells, threads, remove_mean=True)
        power /= float(vol.size)
    else:
        w = np.asarray(weight, dtype=np.float32)
        level = float((vol * w).sum(dtype=np.float64)) / float(w.sum(dtype=np.float64))
        power = _shell_power((vol - np.float32(level)) * w, spacing_zyx_A, shells, threads)
        power /= float((w * w).sum(dtype=np.float64))
    counts = shells.sum(np.broadcast_to(rfft_weights(vol.shape), shells.index.shape))
    inside = nyquist_shell_count(vol.shape, spacing_zyx_A)
    return _ShellSpectrum(shells.frequency_invA, power, counts, inside)


def noise_spectrum(
    noise: np.ndarray,
    spacing_zyx_A: Spacing,
    weight: np.ndarray | None = None,
    threads: int | None = None,
) -> dict[str, list[float]]:
    """Radially averaged noise power per voxel: {frequency_invA (Å⁻¹), power (map units²)}.

    Shells up to the Nyquist frequency of the coarsest axis. The (weighted) mean is removed and
    the map multiplied by ``weight`` (default: whole box); power is divided by Σ weight², so
    white noise of variance s² gives power ≈ s² in every shell.
    """
    spec = _corner_spectrum(noise, spacing_zyx_A, weight, threads)
    inside = slice(0, spec.nyquist_count)
    return {
        "frequency_invA": spec.frequency_invA[inside].tolist(),
        "power": spec.power[inside].tolist(),
    }


# ---------------------------------------------------------------------------------------------
# Low-pass detection and resampling
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LowpassResult:
    """Outcome of the low-pass test on a noise spectrum (frequencies in Å⁻¹).

    ``cutoff_invA``: where the noise power first falls to half its level before the collapse
    (the filter's half-power point; None when nothing was detected). ``grid_cutoff_invA``: the
    last shell before the collapse, where the analysis grid puts its Nyquist frequency, so that
    a soft filter's transition band is kept. ``resample_factor`` = new/old sample count on the
    finest axis (≤ 1; 1 when not detected).
    """

    detected: bool
    cutoff_invA: float | None
    resample_factor: float = 1.0
    grid_cutoff_invA: float | None = None

    @property
    def cutoff_A(self) -> float | None:
        """Cutoff as a resolution in Å (None when not detected)."""
        return None if self.cutoff_invA is None else 1.0 / self.cutoff_invA

    def record(self) -> dict:
        """JSON-ready record {detected, cutoff_A, grid_cutoff_A, resample_factor} (outputs.md)."""
        grid = None if self.grid_cutoff_invA is None else 1.0 / self.grid_cutoff_invA
        return {
            "detected": self.detected,
            "cutoff_A": self.cutoff_A,
            "grid_cutoff_A": grid,
            "resample_factor": self.resample_factor,
        }


def _collapse_start(
    logp: np.ndarray, collapse_decades: float, min_collapsed_shells: int
) -> tuple[int, int] | None:
    """(s, c): first shell s from which every shell to Nyquist lies ``collapse_decades`` below
    the level just before shell c (median of shells c−3 … c−1), c within a transition band of
    max(3, N/10) shells or a factor 1.6 in frequency below s; None when it never collapses.
    """
    n = logp.size
    tail_max = np.maximum.accumulate(logp[::-1])[::-1]  # tail_max[c] = max(logp[c:])
    pre = np.full(n, -np.inf)
    if n > 4:
        windows = np.lib.stride_tricks.sliding_window_view(logp, 3)  # windows[j] = shells j..j+2
        pre[4:] = np.median(windows[1 : n - 3], axis=1)
    band = max(3, n // 10)
    for s in range(4, n - min_collapsed_shells + 1):
        # the fall may take N/10 shells, or up to a factor 1.6 in frequency: a Butterworth
        # filter of order 8 loses three decades over 1.54×; no noise spectrum that was not
        # filtered falls that fast
        lo = max(4, min(s - band, int(np.ceil(s / 1.6))))
        c = lo + int(np.argmax(pre[lo : s + 1]))
        if tail_max[s] < pre[c] - collapse_decades:
            return s, c
    return None


def _half_power_frequency(
    logp: np.ndarray, counts: np.ndarray, k: np.ndarray, lo: int, s: int
) -> float:
    """Half-power point (Å⁻¹) of the fall that ends in the collapse at shell s.

    Shells from ``lo`` to the first one 1.5 decades below the power before it (at most s − 1,
    the last uncollapsed one) are fitted, weighted by the standard error
    of each shell's mean power, with a power-law noise colour times a Butterworth response:
    log10 P(k) = a + b·log10 k − log10(1 + (k/k_c)^{2n}), n ∈ [1, 64] (a hard edge is n → ∞, a
    raised-cosine edge is close to n ≈ 8–16). k_c, where the filter passes half the power, is
    the cutoff; it is kept between shell 1 and shell s, the first collapsed one.
    """
    from scipy.optimize import least_squares

    # the upper part of the fall fixes k_c; the lower part may carry leakage (single mode's
    # weighted background) that a slow roll-off would be fitted to
    first = max(1, lo)
    top = np.maximum.accumulate(logp[first:s])
    deep = np.nonzero(logp[first:s] < top - 1.5)[0]
    end = first + int(deep[0]) + 1 if deep.size else s
    sel = np.arange(first, end)
    x, y = np.log10(k[sel]), logp[sel]
    w = 1.0 / (0.434 * np.sqrt(2.0 / np.maximum(counts[sel], 1.0)))
    lo_k, hi_k = float(k[1]), float(k[s])

    def residual(theta: np.ndarray) -> np.ndarray:
        a, b, log_kc, n = theta
        fall = np.log10(1.0 + 10.0 ** np.minimum(2.0 * n * (x - log_kc), 300.0))
        return w * (a + b * x - fall - y)

    start = np.array([y[0], 0.0, np.log10(0.5 * (float(k[s - 1]) + hi_k)), 8.0])
    bounds = ([-np.inf, -10.0, np.log10(lo_k), 1.0], [np.inf, 10.0, np.log10(hi_k), 64.0])
    fit = least_squares(residual, np.clip(start, *bounds), bounds=bounds, x_scale="jac")
    return float(10.0 ** fit.x[2])


#: A noise spectrum this many decades below its level has collapsed (a filter's stop band).
COLLAPSE_DECADES = 3.0


def detect_lowpass(
    noise: np.ndarray,
    spacing_zyx_A: Spacing,
    weight: np.ndarray | None = None,
    *,
    collapse_decades: float = COLLAPSE_DECADES,
    min_collapsed_shells: int = 3,
    threads: int | None = None,
) -> LowpassResult:
    """Decide whether a map was low-pass filtered, from the radial power spectrum of its noise.

    ``noise`` is where only noise lives: the half-map difference (split mode), or the map with
    ``weight`` its soft background weight (single mode). A filter removes the noise with the
    signal, so its noise spectrum collapses; a particle's low-frequency envelope or a B-factor
    fall-off does not touch the noise, so neither can be mistaken for a filter.

    Collapse: every shell from s up to the Nyquist shell lies more than ``collapse_decades``
    orders of magnitude below the level just before some shell c in a transition band of
    max(3, N/10) shells below s (level = median of the three shells before c), with at least
    ``min_collapsed_shells`` collapsed shells; the earliest such s wins. The reported cutoff is
    the half-power point of the fall; the analysis grid keeps everything up to shell s − 1.
    """
    spec = _corner_spectrum(noise, spacing_zyx_A, weight, threads)
    inside = slice(0, spec.nyquist_count)
    tiny = np.finfo(np.float64).tiny
    logp = np.log10(np.maximum(np.nan_to_num(spec.power[inside], nan=tiny), tiny))
    found = _collapse_start(logp, collapse_decades, min_collapsed_shells)
    if found is None:
        return LowpassResult(False, None, 1.0)
    s, _ = found
    step = float(spec.frequency_invA[1])
    band = max(3, logp.size // 10)
    k = spec.frequency_invA[inside]
    cutoff = _half_power_frequency(logp, spec.counts[inside], k, min(s - 3 * band, s // 2), s)
    grid_cutoff = (s - 1) * step
    factor = min(1.0, 2.0 * grid_cutoff * min(spacing_zyx_A))
    return LowpassResult(True, float(cutoff), float(factor), float(grid_cutoff))


def lowpass_grid(
    shape: tuple[int, int, int], spacing_zyx_A: Spacing, cutoff_invA: float
) -> tuple[tuple[int, int, int], tuple[float, float, float]]:
    """Coarser grid whose Nyquist is (just at or above) ``cutoff_invA`` on every axis.

    Per axis n' = min(n, ⌈2·cutoff·n·d⌉) (never upsampled; at least 2) keeps the box extent n·d,
    so the new spacing is n·d/n' Å. Returns (new_shape, new_spacing_zyx_A).
    """
    if not cutoff_invA > 0:
        raise ValueError("cutoff_invA must be positive")
    new_shape = tuple(
        int(min(n, max(2, np.ceil(2.0 * cutoff_invA * n * d - 1e-9))))
        for n, d in zip(shape, spacing_zyx_A, strict=True)
    )
    new_spacing = tuple(
        float(n * d / m) for n, d, m in zip(shape, spacing_zyx_A, new_shape, strict=True)
    )
    return new_shape, new_spacing  # type: ignore[return-value]


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


# ---------------------------------------------------------------------------------------------
# Pre-whitening
# ---------------------------------------------------------------------------------------------


def default_elbow_A(spacing_zyx_A: Spacing) -> float:
    """Default elbow (Å): max(10 Å, 2.1 × the largest voxel size)."""
    return max(10.0, 2.1 * max(spacing_zyx_A))


def _shifted_or(into: np.ndarray, src: np.ndarray, axis: int, shift: int) -> None:
    """into |= src moved by ``shift`` voxels along ``axis`` (no wrap-around)."""
    n = src.shape[axis]
    if abs(shift) >= n:
        return
    dst = [slice(None)] * 3
    org = [slice(None)] * 3
    dst[axis] = slice(max(shift, 0), n + min(shift, 0))
    org[axis] = slice(max(-shift, 0), n + min(-shift, 0))
    into[tuple(dst)] |= src[tuple(org)]


def dilate_ball(mask: np.ndarray, spacing_zyx_A: Spacing, radius_A: float) -> np.ndarray:
    """Voxels within ``radius_A`` Å (Euclidean, physical) of a mask voxel, bool [z, y, x].

    The same set as ``distance_transform_edt(~mask, sampling) <= radius_A``, built from unions
    of shifted 1-D maximum filters (the ball is a union of x-runs over its (z, y) offsets), so
    it needs a few boolean volumes instead of the transform's ~20 bytes per voxel.
    """
    mask = np.asarray(mask, dtype=bool)
    sz, sy, sx = spacing_zyx_A
    r2 = radius_A * radius_A * (1.0 + 1e-12)  # a voxel exactly at the radius is inside
    runs: dict[int, np.ndarray] = {}  # x half-width -> mask dilated along x by it

    def run(half: int) -> np.ndarray:
        if half not in runs:
            runs[half] = ndimage.maximum_filter1d(mask, 2 * half + 1, axis=2, mode="constant")
        return runs[half]

    def disk(dz: int) -> np.ndarray:
        """In-plane dilation by the ball's section at z-offset dz."""
        out = np.zeros_like(mask)
        rest = r2 - (dz * sz) ** 2
        for dy in range(-int(np.sqrt(rest) / sy), int(np.sqrt(rest) / sy) + 1):
            half = int(np.sqrt(max(rest - (dy * sy) ** 2, 0.0)) / sx)
            _shifted_or(out, run(half), 1, dy)
        return out

    out = np.zeros_like(mask)
    for dz in range(int(radius_A / sz) + 1):
        section = disk(dz)  # the same for ±dz
        _shifted_or(out, section, 0, dz)
        if dz:
            _shifted_or(out, section, 0, -dz)
    return out


def background_weight(
    mask: np.ndarray, spacing_zyx_A: Spacing, dilation_A: float | None = None
) -> np.ndarray:
    """Soft background weight in [0, 1] (float32): complement of the dilated particle mask.

    The mask is grown by ``dilation_A`` (default 6 × the largest voxel size, Å, Euclidean in
    physical units), complemented and blurred with σ = 2 % of the longest box edge.
    """
    m = np.asarray(mask, dtype=bool)
    grow = 6.0 * max(spacing_zyx_A) if dilation_A is None else float(dilation_A)
    background = ~dilate_ball(m, spacing_zyx_A, grow) if m.any() else np.ones(m.shape, bool)
    soft = ndimage.gaussian_filter(
        background.astype(np.float32),
        sigma=tuple(_blur_sigma_vox(m.shape, spacing_zyx_A)),
        output=np.float32,
    )
    return np.clip(soft, 0.0, 1.0, out=soft)


@dataclass(frozen=True)
class Prewhitening:
    """Radial whitening filter H(k), unit gain at and below the elbow k_e = 1/``elbow_A``.

    ``method`` "shells" (split mode, the noise is measured everywhere): H(k) =
    √(P̂(k_e)/P̂(k)) beyond the elbow, P̂ the measured noise power smoothed over neighbouring
    shells, tabulated at shell centres out to the grid's corners (``gain_frequency_invA``,
    ``gain_table``) and interpolated linearly in k. ``method`` "quadratic" (single mode, the
    noise under the particle is extrapolated from the background): H(k) = exp(−(p(k̃) − p(k_e))),
    p(k) = c0 + c1·k + c2·k² the fitted log noise amplitude (½·ln power, k in Å⁻¹) and
    k̃ = clamp(k, k_e, k_max), k_max the highest fitted shell (the grid's corner).
    ``spectrum_before``/``spectrum_after`` are shell powers up to Nyquist (``frequency_invA``).
    """

    elbow_A: float
    coefficients: tuple[float, float, float] | None
    k_max_invA: float
    spacing_zyx_A: tuple[float, float, float]
    frequency_invA: tuple[float, ...]
    spectrum_before: tuple[float, ...]
    spectrum_after: tuple[float, ...]
    method: str = "quadratic"
    gain_frequency_invA: tuple[float, ...] = ()
    gain_table: tuple[float, ...] = ()

    def gain(self, k_invA: np.ndarray) -> np.ndarray:
        """Filter amplitude H at frequencies ``k_invA`` (Å⁻¹)."""
        if self.method == "shells":
            return np.interp(k_invA, self.gain_frequency_invA, self.gain_table)
        ke = 1.0 / self.elbow_A
        kk = np.clip(k_invA, ke, max(self.k_max_invA, ke))
        _, c1, c2 = self.coefficients  # type: ignore[misc]
        return np.exp(-(c1 * (kk - ke) + c2 * (kk * kk - ke * ke)))

    def record(self) -> dict:
        """JSON-ready record (docs/outputs.md): method, elbow, fit, gain table, spectra."""
        return {
            "method": self.method,
            "elbow_A": self.elbow_A,
            "coefficients": None if self.coefficients is None else list(self.coefficients),
            "gain_frequency_invA": list(self.gain_frequency_invA),
            "gain": list(self.gain_table),
            "frequency_invA": list(self.frequency_invA),
            "spectrum_before": list(self.spectrum_before),
            "spectrum_after": list(self.spectrum_after),
        }


def _filter_volume(
    data: np.ndarray, spacing_zyx_A: Spacing, gain_fn, threads: int | None
) -> np.ndarray:
    # Single precision: the filtered maps are stored as float32 anyway, and large boxes need the
    # halved time and memory.
    vol = np.asarray(data, dtype=np.float32)
    ft = sfft.rfftn(vol, workers=threads)
    radial_gain(ft, vol.shape, spacing_zyx_A, gain_fn)
    return irfftn_consuming(ft, vol.shape, threads)


def _smoothed_log_power(spec: _ShellSpectrum, min_count: float, use: np.ndarray) -> np.ndarray:
    """ln P̂ at each shell centre: a count-weighted straight-line fit of ln P over the narrowest
    window of shells (at least three) around it that holds ``min_count`` coefficients, using
    only the shells flagged in ``use``.

    Thin shells (the lowest ones and the corners beyond the Nyquist sphere) borrow from their
    neighbours; thick ones are barely smoothed. NaN where no usable shell is in the window.
    """
    k, counts = spec.frequency_invA, spec.counts
    good = use & (counts > 0) & np.isfinite(spec.power) & (spec.power > 0)
    logp = np.where(good, np.log(np.where(good, spec.power, 1.0)), 0.0)
    w = np.where(good, counts, 0.0)
    cum = np.concatenate([[0.0], np.cumsum(w)])
    n = k.size
    out = np.full(n, np.nan)
    for i in range(n):  # a few hundred shells at most: not a hot loop
        h = 1
        while cum[min(n, i + h + 1)] - cum[max(0, i - h)] < min_count and (i - h > 0 or i + h < n):
            h += 1
        sl = slice(max(0, i - h), min(n, i + h + 1))
        if np.count_nonzero(w[sl]) == 0:
            continue
        if np.count_nonzero(w[sl]) == 1:
            out[i] = float(logp[sl][w[sl] > 0][0])
            continue
        _, intercept = np.polyfit(k[sl] - k[i], logp[sl], 1, w=np.sqrt(w[sl]))
        out[i] = intercept
    return out


#: Coefficients (full-spectrum count) behind each smoothed shell power of the "shells" method:
#: ≈ 2 % relative error on the whitening gain.
SMOOTHING_COEFFICIENTS = 2000.0


#: Shells this many decades below the noise level are a filter's stop band, not noise:
#: float32 rounding leaves 10+ decades; no noise colour or B-factor blur (B = +30 Å² at
#: 1 Å voxels: 4.9 decades in the corners) comes near.
STOP_BAND_DECADES = 7.0


def _shell_gain_table(
    spec: _ShellSpectrum, elbow_A: float, min_count: float = SMOOTHING_COEFFICIENTS
) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, gains): H = √(P̂(k_e)/P̂(k)) at shell centres beyond the elbow, 1 below.

    Shells whose measured power lies ``STOP_BAND_DECADES`` below the highest power at any
    lower frequency beyond the elbow are a filter's stop band (e.g. the corners of a grid
    resampled for a low-pass filter): they hold neither signal nor noise, keep gain 1 and are
    left out of the smoothing, so that no rounding error is lifted to the noise level and no
    edge shell is smoothed across the cliff.
    """
    ke = 1.0 / elbow_A
    k = spec.frequency_invA
    raw = np.log(np.where(spec.power > 0, spec.power, np.finfo(float).tiny))
    level = np.maximum.accumulate(np.where(k >= ke, raw, -np.inf))
    stop = (k >= ke) & (spec.counts > 0) & (raw < level - STOP_BAND_DECADES * np.log(10.0))
    log_hat = _smoothed_log_power(spec, min_count, ~stop)
    known = np.isfinite(log_hat)
    at_elbow = float(np.interp(ke, k[known], log_hat[known]))
    beyond = known & (k > ke) & (spec.counts > 0)
    gain = np.where(stop[beyond], 1.0, np.exp(0.5 * (at_elbow - log_hat[beyond])))
    freqs = np.concatenate([[0.0, ke], k[beyond]])
    return freqs, np.concatenate([[1.0, 1.0], gain])


def shells_beyond_elbow(
    shape: tuple[int, int, int], spacing_zyx_A: Spacing, elbow_A: float | None = None
) -> int:
    """Frequency shells from the elbow (default :func:`default_elbow_A`) up to Nyquist."""
    elbow = default_elbow_A(spacing_zyx_A) if elbow_A is None else float(elbow_A)
    step = 1.0 / max(n * d for n, d in zip(shape, spacing_zyx_A, strict=True))
    k = np.arange(nyquist_shell_count(shape, spacing_zyx_A)) * step
    return int(np.count_nonzero(k >= 1.0 / elbow - 1e-12))


def _too_few_shells(used: int, elbow: float) -> InputError:
    return InputError(
        f"pre-whitening: only {used} frequency shells beyond the {elbow:.3g} Å elbow;"
        " use a larger box, a larger elbow, or switch pre-whitening off"
    )


def prewhiten_shells(
    noise: np.ndarray,
    spacing_zyx_A: Spacing,
    elbow_A: float | None = None,
    threads: int | None = None,
) -> tuple[Prewhitening, np.ndarray]:
    """Whiten a pure-noise map (the half-map difference) shell by shell; returns (filter, map).

    The gain follows the measured, smoothed noise spectrum all the way to the corners of the
    grid, so any radial filter applied to both half maps (blurring, sharpening, a gentle
    low-pass) is undone exactly beyond the elbow. The whitened map (float32) is what
    :func:`apply_prewhitening` gives for the same map.
    """
    vol = np.asarray(noise, dtype=np.float32)
    elbow = default_elbow_A(spacing_zyx_A) if elbow_A is None else float(elbow_A)
    spec = _corner_spectrum(vol, spacing_zyx_A, None, threads)
    beyond = int(np.count_nonzero(spec.frequency_invA[: spec.nyquist_count] >= 1.0 / elbow))
    if beyond < 4:
        raise _too_few_shells(beyond, elbow)
    freqs, gains = _shell_gain_table(spec, elbow)
    partial = Prewhitening(
        elbow_A=elbow,
        coefficients=None,
        k_max_invA=float(spec.frequency_invA[-1]),
        spacing_zyx_A=tuple(float(d) for d in spacing_zyx_A),  # type: ignore[arg-type]
        frequency_invA=tuple(float(v) for v in spec.frequency_invA[: spec.nyquist_count]),
        spectrum_before=tuple(float(v) for v in spec.power[: spec.nyquist_count]),
        spectrum_after=(),
        method="shells",
        gain_frequency_invA=tuple(float(v) for v in freqs),
        gain_table=tuple(float(v) for v in gains),
    )
    return _with_measured_after(partial, vol, None, threads)


def _with_measured_after(
    partial: Prewhitening, vol: np.ndarray, weight: np.ndarray | None, threads: int | None
) -> tuple[Prewhitening, np.ndarray]:
    """Apply ``partial`` to ``vol`` and record the whitened spectrum (measured, not predicted)."""
    whitened = _filter_volume(vol, partial.spacing_zyx_A, partial.gain, threads)
    after = noise_spectrum(whitened, partial.spacing_zyx_A, weight, threads)["power"]
    fitted = Prewhitening(**{**partial.__dict__, "spectrum_after": tuple(float(v) for v in after)})
    return fitted, whitened


def prewhiten(
    noise: np.ndarray,
    spacing_zyx_A: Spacing,
    weight: np.ndarray | None = None,
    elbow_A: float | None = None,
    threads: int | None = None,
) -> tuple[Prewhitening, np.ndarray]:
    """Fit the parametric whitening filter on a noise map; return it with the whitened map.

    For single mode: the map with ``weight`` its background weight. Fits ½·ln P(k)
    (shell-averaged power) for shells k ≥ 1/elbow_A, out to the grid's corners, with a
    quadratic in k, least squares weighted by the number of Fourier coefficients per shell.
    The whitened map (float32) is what :func:`apply_prewhitening` gives for the same map.
    """
    vol = np.asarray(noise, dtype=np.float32)
    elbow = default_elbow_A(spacing_zyx_A) if elbow_A is None else float(elbow_A)
    spec = _corner_spectrum(vol, spacing_zyx_A, weight, threads)
    k, power, counts = spec.frequency_invA, spec.power, spec.counts
    use = (k >= 1.0 / elbow - 1e-12) & np.isfinite(power) & (power > 0) & (counts > 0)
    if int(np.count_nonzero(use[: spec.nyquist_count])) < 4:
        raise _too_few_shells(int(np.count_nonzero(use[: spec.nyquist_count])), elbow)
    y = 0.5 * np.log(power[use])
    sw = np.sqrt(counts[use])
    design = np.stack([np.ones(use.sum()), k[use], k[use] ** 2], axis=1)
    coef, *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
    partial = Prewhitening(
        elbow_A=elbow,
        coefficients=(float(coef[0]), float(coef[1]), float(coef[2])),
        k_max_invA=float(k[use].max()),
        spacing_zyx_A=tuple(float(d) for d in spacing_zyx_A),  # type: ignore[arg-type]
        frequency_invA=tuple(float(v) for v in k[: spec.nyquist_count]),
        spectrum_before=tuple(float(v) for v in power[: spec.nyquist_count]),
        spectrum_after=(),
    )
    return _with_measured_after(partial, vol, weight, threads)


def fit_prewhitening(
    noise: np.ndarray,
    spacing_zyx_A: Spacing,
    weight: np.ndarray | None = None,
    elbow_A: float | None = None,
    threads: int | None = None,
) -> Prewhitening:
    """The filter of :func:`prewhiten` alone."""
    return prewhiten(noise, spacing_zyx_A, weight, elbow_A, threads)[0]


def apply_prewhitening(
    data: np.ndarray, pw: Prewhitening, threads: int | None = None
) -> np.ndarray:
    """Apply the fitted radial filter to ``data`` (voxel size as in the fit); returns float32."""
    return _filter_volume(data, pw.spacing_zyx_A, pw.gain, threads)
