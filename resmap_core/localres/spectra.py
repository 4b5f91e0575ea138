"""Radially averaged noise power on the physical-frequency shells of :mod:`resmap_core.spectrum`.

The spectra that low-pass detection (:mod:`.lowpass`) and pre-whitening (:mod:`.whitening`)
read: shells of width 1/longest box edge, out to the grid's corners, frequencies in Å⁻¹ and
power in map units² per voxel (docs/preparation.md §2–3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from resmap_core.localres.mask import Spacing
from resmap_core.spectrum import Shells, make_shells, nyquist_shell_count, rfft_weights


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
class ShellSpectrum:
    """Shell-averaged noise power on shells that reach the grid's corners.

    ``nyquist_count`` shells lie within the Nyquist sphere of the coarsest axis (the shells of
    :func:`make_shells`); ``counts`` are full-spectrum coefficients per shell.
    """

    frequency_invA: np.ndarray
    power: np.ndarray
    counts: np.ndarray
    nyquist_count: int


def corner_spectrum(
    noise: np.ndarray, spacing_zyx_A: Spacing, weight: np.ndarray | None, threads: int | None
) -> ShellSpectrum:
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
    return ShellSpectrum(shells.frequency_invA, power, counts, inside)


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
    spec = corner_spectrum(noise, spacing_zyx_A, weight, threads)
    inside = slice(0, spec.nyquist_count)
    return {
        "frequency_invA": spec.frequency_invA[inside].tolist(),
        "power": spec.power[inside].tolist(),
    }
