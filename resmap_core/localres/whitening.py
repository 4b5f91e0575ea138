"""Pre-whitening: a radial filter that makes the noise white beyond an elbow, unit gain below.

Split mode follows the measured difference-map spectrum shell by shell (:func:`prewhiten_shells`);
single mode fits a quadratic to the background's log amplitude (:func:`prewhiten`). Arrays are
``[z, y, x]`` with per-axis voxel sizes ``spacing_zyx_A`` (Å), frequencies in Å⁻¹; filtered maps
are float32. Design notes: ``docs/preparation.md`` §3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from resmap_core.errors import InputError
from resmap_core.localres.mask import Spacing
from resmap_core.localres.spectra import (
    ShellSpectrum,
    corner_spectrum,
    noise_spectrum,
    transform_spectrum,
)
from resmap_core.spectrum import irfftn_in_place, nyquist_shell_count, radial_gain


def default_elbow_A(spacing_zyx_A: Spacing) -> float:
    """Default elbow (Å): max(10 Å, 2.1 × the largest voxel size)."""
    return max(10.0, 2.1 * max(spacing_zyx_A))


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
    data: np.ndarray,
    spacing_zyx_A: Spacing,
    gain_fn: Callable[[np.ndarray], np.ndarray],
    threads: int | None,
) -> np.ndarray:
    """``data`` [z, y, x] multiplied in Fourier space by ``gain_fn(|k|)`` (k in Å⁻¹); float32."""
    # Single precision: the filtered maps are stored as float32 anyway, and large boxes need the
    # halved time and memory.
    vol = np.asarray(data, dtype=np.float32)
    ft = sfft.rfftn(vol, workers=threads)
    return filter_transform(ft, vol.shape, spacing_zyx_A, gain_fn, threads)


def filter_transform(
    ft: np.ndarray,
    shape: tuple[int, int, int],
    spacing_zyx_A: Spacing,
    gain_fn: Callable[[np.ndarray], np.ndarray],
    threads: int | None,
) -> np.ndarray:
    """The volume of ``shape`` whose rfftn is ``ft`` × ``gain_fn(|k|)``, float32, computed in
    the memory of ``ft`` (consumed; :func:`.spectrum.irfftn_in_place`), so a large box holds
    one full-size array for the filter."""
    radial_gain(ft, shape, spacing_zyx_A, gain_fn)
    return irfftn_in_place(ft, shape, threads)


def _smoothed_log_power(spec: ShellSpectrum, min_count: float, use: np.ndarray) -> np.ndarray:
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
    spec: ShellSpectrum, elbow_A: float, min_count: float = SMOOTHING_COEFFICIENTS
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
    """The refusal of a fit on fewer than 4 shells beyond the elbow (Å)."""
    return InputError(
        f"pre-whitening: only {used} frequency shells beyond the {elbow:.3g} Å elbow;"
        " use a larger box, a larger elbow_A, or switch pre-whitening off (--no-prewhiten)"
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
    ft = sfft.rfftn(vol, workers=threads)
    return whiten_transform(ft, vol.shape, spacing_zyx_A, elbow_A, threads)


def whiten_transform(
    ft: np.ndarray,
    shape: tuple[int, int, int],
    spacing_zyx_A: Spacing,
    elbow_A: float | None = None,
    threads: int | None = None,
    spectrum: ShellSpectrum | None = None,
) -> tuple[Prewhitening, np.ndarray]:
    """:func:`prewhiten_shells` from the noise's rfftn ``ft`` (consumed: it becomes the
    whitened map, float32 of ``shape``); ``spectrum`` is ``ft``'s own when already measured.

    One forward transform serves the fit, the filter and the whitened spectrum (the power of
    the filtered coefficients, the mean left out), so a large box pays one transform pair.
    """
    elbow = default_elbow_A(spacing_zyx_A) if elbow_A is None else float(elbow_A)
    spec = transform_spectrum(ft, shape, spacing_zyx_A) if spectrum is None else spectrum
    beyond = int(np.count_nonzero(spec.frequency_invA[: spec.nyquist_count] >= 1.0 / elbow))
    if beyond < 4:
        raise _too_few_shells(beyond, elbow)
    freqs, gains = _shell_gain_table(spec, elbow)
    pw = Prewhitening(
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
    # the gain and the whitened spectrum in one pass over the coefficients
    after = transform_spectrum(ft, shape, spacing_zyx_A, pw.gain).power[: spec.nyquist_count]
    pw = Prewhitening(**{**pw.__dict__, "spectrum_after": tuple(float(v) for v in after)})
    return pw, irfftn_in_place(ft, shape, threads)


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
    spec = corner_spectrum(vol, spacing_zyx_A, weight, threads)
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
