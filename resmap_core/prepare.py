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


def noise_spectrum(
    noise: np.ndarray,
    spacing_zyx_A: Spacing,
    weight: np.ndarray | None = None,
    threads: int | None = None,
    shells: Shells | None = None,
) -> dict[str, list[float]]:
    """Radially averaged noise power per voxel: {frequency_invA (Å⁻¹), power (map units²)}.

    The (weighted) mean is removed and the map multiplied by ``weight`` (default: whole box);
    power is divided by Σ weight², so white noise of variance s² gives power ≈ s² in every shell.
    ``shells`` (from :func:`make_shells` for this grid) saves rebuilding them.
    """
    # float32 arrays with float64 accumulations: exact enough for spectra, half the memory.
    vol = np.asarray(noise, dtype=np.float32)
    shells = shells or make_shells(vol.shape, spacing_zyx_A)
    if weight is None:
        power = _shell_power(vol, spacing_zyx_A, shells, threads, remove_mean=True)
        power /= float(vol.size)
    else:
        w = np.asarray(weight, dtype=np.float32)
        level = float((vol * w).sum(dtype=np.float64)) / float(w.sum(dtype=np.float64))
        weighted = (vol - np.float32(level)) * w
        power = _shell_power(weighted, spacing_zyx_A, shells, threads)
        power /= float((w * w).sum(dtype=np.float64))
    return {"frequency_invA": shells.frequency_invA.tolist(), "power": power.tolist()}


# ---------------------------------------------------------------------------------------------
# Low-pass detection and resampling
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LowpassResult:
    """Outcome of the low-pass test. ``cutoff_invA`` (Å⁻¹) is None when nothing was detected.

    ``resample_factor`` = new/old sample count on the finest axis (≤ 1; 1 when not detected).
    """

    detected: bool
    cutoff_invA: float | None
    resample_factor: float = 1.0

    @property
    def cutoff_A(self) -> float | None:
        """Cutoff as a resolution in Å (None when not detected)."""
        return None if self.cutoff_invA is None else 1.0 / self.cutoff_invA

    def record(self) -> dict:
        """JSON-ready record {detected, cutoff_A, resample_factor} (see docs/outputs.md)."""
        return {
            "detected": self.detected,
            "cutoff_A": self.cutoff_A,
            "resample_factor": self.resample_factor,
        }


def detect_lowpass(
    data: np.ndarray,
    spacing_zyx_A: Spacing,
    mask: np.ndarray | None = None,
    *,
    collapse_decades: float = 3.0,
    min_collapsed_shells: int = 3,
    threads: int | None = None,
) -> LowpassResult:
    """Decide whether ``data`` was low-pass filtered, from its radially averaged power spectrum.

    Shell s starts the collapse when every shell from s up to the Nyquist shell has power more
    than ``collapse_decades`` orders of magnitude below the level just before some shell c within
    a transition band of max(3, N/10) shells below s (level = median of the three shells before
    c), with at least ``min_collapsed_shells`` collapsed shells. The earliest such s wins; the
    cutoff is the centre of the last uncollapsed shell, (s − 1)·step (Å⁻¹), so soft filters keep
    their transition band. A B-factor fall-off loses far less than three decades within the
    band and an unfiltered map ends in a white-noise floor, so neither is flagged (a noiseless
    map whose fall-off loses three decades within the band carries no information beyond it and
    is flagged). ``mask`` (optional) is softened with a Gaussian before weighting, to limit the
    leakage a hard edge would add beyond the cutoff.
    """
    # Single precision is ample for a power spectrum and keeps large boxes in memory.
    vol = np.asarray(data, dtype=np.float32)
    shells = make_shells(vol.shape, spacing_zyx_A)
    if mask is None:
        power = _shell_power(vol, spacing_zyx_A, shells, threads, remove_mean=True)
    else:
        vol = np.array(data, dtype=np.float32)  # weighted in place below
        sigma = tuple(_blur_sigma_vox(vol.shape, spacing_zyx_A))
        soft = ndimage.gaussian_filter(np.asarray(mask, dtype=np.float32), sigma=sigma)
        level = float((vol * soft).sum(dtype=np.float64)) / max(
            float(soft.sum(dtype=np.float64)), 1e-300
        )
        vol -= np.float32(level)
        vol *= soft
        del soft
        power = _shell_power(vol, spacing_zyx_A, shells, threads)
    tiny = np.finfo(np.float64).tiny
    logp = np.log10(np.maximum(np.nan_to_num(power, nan=tiny), tiny))
    n = logp.size
    # Running maximum from the end: tail_max[c] = max(logp[c:]).
    tail_max = np.maximum.accumulate(logp[::-1])[::-1]
    # pre[c]: level just below shell c (median of shells c-3 .. c-1); NaN where undefined.
    pre = np.full(n, -np.inf)
    for c in range(4, n):
        pre[c] = float(np.median(logp[c - 3 : c]))
    band = max(3, n // 10)
    for s in range(4, n - min_collapsed_shells + 1):
        level = float(pre[max(4, s - band) : s + 1].max())
        if tail_max[s] < level - collapse_decades:
            cutoff = (s - 1) * shells.step_invA
            factor = min(1.0, 2.0 * cutoff * min(spacing_zyx_A))
            return LowpassResult(True, float(cutoff), float(factor))
    return LowpassResult(False, None, 1.0)


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
    """Fitted radial whitening filter H(k) = exp(−(p(k̃) − p(k_e))), k̃ = clamp(k, k_e, k_max).

    p(k) = c0 + c1·k + c2·k² models the log noise amplitude (½·ln power) with k in Å⁻¹;
    k_e = 1/elbow_A and k_max is the highest fitted shell. H = 1 at and below the elbow.
    """

    elbow_A: float
    coefficients: tuple[float, float, float]
    k_max_invA: float
    spacing_zyx_A: tuple[float, float, float]
    frequency_invA: tuple[float, ...]
    spectrum_before: tuple[float, ...]
    spectrum_after: tuple[float, ...]

    def gain(self, k_invA: np.ndarray) -> np.ndarray:
        """Filter amplitude H at frequencies ``k_invA`` (Å⁻¹)."""
        ke = 1.0 / self.elbow_A
        kk = np.clip(k_invA, ke, max(self.k_max_invA, ke))
        c0, c1, c2 = self.coefficients
        return np.exp(-(c1 * (kk - ke) + c2 * (kk * kk - ke * ke)))

    def record(self) -> dict:
        """JSON-ready record for docs/outputs.md: elbow, coefficients, frequencies, spectra."""
        return {
            "elbow_A": self.elbow_A,
            "coefficients": list(self.coefficients),
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


def prewhiten(
    noise: np.ndarray,
    spacing_zyx_A: Spacing,
    weight: np.ndarray | None = None,
    elbow_A: float | None = None,
    threads: int | None = None,
) -> tuple[Prewhitening, np.ndarray]:
    """Fit the whitening filter on a noise map and return it with the whitened map (float32).

    The noise map is the half-map difference, or the map itself with ``weight`` the background
    weight (single mode). Fits ½·ln P(k) (shell-averaged power) for shells k ≥ 1/elbow_A with a
    quadratic in k, least squares weighted by the number of Fourier coefficients in each shell.
    The whitened map is what :func:`apply_prewhitening` gives for the same map; its spectrum is
    recorded as ``spectrum_after``.
    """
    vol = np.asarray(noise, dtype=np.float32)
    elbow = default_elbow_A(spacing_zyx_A) if elbow_A is None else float(elbow_A)
    shells = make_shells(vol.shape, spacing_zyx_A)
    before = noise_spectrum(vol, spacing_zyx_A, weight, threads, shells)
    k = np.asarray(before["frequency_invA"])
    power = np.asarray(before["power"])
    counts = shells.sum(np.broadcast_to(rfft_weights(vol.shape), shells.index.shape))
    use = (k >= 1.0 / elbow - 1e-12) & np.isfinite(power) & (power > 0) & (counts > 0)
    if int(use.sum()) < 4:
        raise InputError(
            f"pre-whitening: only {int(use.sum())} frequency shells beyond the {elbow:.3g} Å elbow;"
            " use a larger box, a larger elbow, or switch pre-whitening off"
        )
    y = 0.5 * np.log(power[use])
    sw = np.sqrt(counts[use])
    design = np.stack([np.ones(use.sum()), k[use], k[use] ** 2], axis=1)
    coef, *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
    partial = Prewhitening(
        elbow_A=elbow,
        coefficients=(float(coef[0]), float(coef[1]), float(coef[2])),
        k_max_invA=float(k[use].max()),
        spacing_zyx_A=tuple(float(d) for d in spacing_zyx_A),  # type: ignore[arg-type]
        frequency_invA=tuple(float(v) for v in k),
        spectrum_before=tuple(float(v) for v in power),
        spectrum_after=(),
    )
    whitened = _filter_volume(vol, spacing_zyx_A, partial.gain, threads)
    after = noise_spectrum(whitened, spacing_zyx_A, weight, threads, shells)["power"]
    fitted = Prewhitening(**{**partial.__dict__, "spectrum_after": tuple(float(v) for v in after)})
    return fitted, whitened


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
