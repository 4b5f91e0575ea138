"""Low-pass detection: has the noise spectrum collapsed (a filter's stop band), where does the
filter cut, and on which coarser grid should the map be analysed.

Frequencies in Å⁻¹; arrays ``[z, y, x]`` with per-axis voxel sizes ``spacing_zyx_A`` (Å). Only
noise is tested (the half-map difference, or the background through its weight): see
``docs/preparation.md`` §2 for the rule and the measurements behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from resmap_core.localres.mask import Spacing
from resmap_core.localres.spectra import ShellSpectrum, corner_spectrum


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
    spectrum: ShellSpectrum | None = None,
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
    ``spectrum``: the noise's :func:`corner_spectrum` when the caller has measured it already.
    """
    spec = corner_spectrum(noise, spacing_zyx_A, weight, threads) if spectrum is None else spectrum
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
