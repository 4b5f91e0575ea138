"""Radially averaged noise power on the physical-frequency shells of :mod:`resmap_core.spectrum`.

The spectra that low-pass detection (:mod:`.lowpass`) and pre-whitening (:mod:`.whitening`)
read: shells of width 1/longest box edge, out to the grid's corners, frequencies in Å⁻¹ and
power in map units² per voxel (docs/preparation.md §2–3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from resmap_core.localres.mask import Spacing
from resmap_core.spectrum import make_shells, nyquist_shell_count


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


def transform_spectrum(
    ft: np.ndarray,
    shape: tuple[int, int, int],
    spacing_zyx_A: Spacing,
    gain: Callable[[np.ndarray], np.ndarray] | None = None,
) -> ShellSpectrum:
    """Power per shell out to the corners of a volume of ``shape`` from its rfftn ``ft``,
    the mean (DC coefficient) left out, normalised as in :func:`noise_spectrum`.

    Lets one forward transform of the noise serve the low-pass test, the whitening fit and,
    with ``gain`` (a radial filter of |k| in Å⁻¹, applied to ``ft`` in place in the same pass),
    the whitened spectrum (:func:`.whitening.whiten_transform`).
    """
    shells = make_shells(shape, spacing_zyx_A, to_corner=True)
    dc = ft[0, 0, 0]
    ft[0, 0, 0] = 0.0
    power, counts = shells.power_and_counts(ft, gain)
    ft[0, 0, 0] = dc if gain is None else dc * np.asarray(gain(np.zeros(1)), ft.real.dtype)[0]
    inside = nyquist_shell_count(shape, spacing_zyx_A)
    return ShellSpectrum(shells.frequency_invA, power / float(np.prod(shape)), counts, inside)


def corner_spectrum(
    noise: np.ndarray, spacing_zyx_A: Spacing, weight: np.ndarray | None, threads: int | None
) -> ShellSpectrum:
    """Noise power per shell out to the corners, normalised as in :func:`noise_spectrum`."""
    vol = np.asarray(noise, dtype=np.float32)
    if weight is None:
        return transform_spectrum(sfft.rfftn(vol, workers=threads), vol.shape, spacing_zyx_A)
    shells = make_shells(vol.shape, spacing_zyx_A, to_corner=True)
    w = np.asarray(weight, dtype=np.float32)
    level = float((vol * w).sum(dtype=np.float64)) / float(w.sum(dtype=np.float64))
    ft = sfft.rfftn((vol - np.float32(level)) * w, workers=threads)
    power, counts = shells.power_and_counts(ft)
    power /= float((w * w).sum(dtype=np.float64))
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
