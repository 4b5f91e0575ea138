"""Power spectra for the report's diagnostics: the map's radial power and band ratios.

Frequencies are in Å⁻¹ on the shells of :func:`resmap_core.spectrum.make_shells` (the shells
FSC, pre-whitening and low-pass detection use), so every spectrum in the report shares them.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from resmap_core.spectrum import make_shells

#: (frequency Å⁻¹, one value per shell: power or FSC), as the report passes curves around.
Spectrum = tuple[np.ndarray, np.ndarray]


def radial_power(
    volume: np.ndarray, spacing_zyx_A: tuple[float, float, float], workers: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rotationally averaged power |F|² of ``volume[z, y, x]`` (mean removed) per shell.

    Returns (shell frequency Å⁻¹, mean power per shell; NaN for an empty shell). The map is
    held in float32; removing its float64 mean gives a double-precision transform, and the
    shell means are summed a few planes at a time (:meth:`Shells.average_power`), so no
    full-size power array is formed.
    """
    vol = np.asarray(volume, dtype=np.float32)
    ft = sfft.rfftn(vol - vol.mean(dtype=np.float64), workers=workers)
    shells = make_shells(vol.shape, spacing_zyx_A)
    return shells.frequency_invA, shells.average_power(ft)


def band_ratio(
    frequency_invA: np.ndarray,
    power: np.ndarray,
    low: tuple[float, float],
    high: tuple[float, float],
) -> float | None:
    """Median power in the ``high`` band over median power in the ``low`` band.

    Bands are fractions of the highest frequency present (e.g. ``(0.05, 0.35)``); None when
    fewer than four shells hold positive power or a band is empty.
    """
    f = np.asarray(frequency_invA, dtype=np.float64)
    p = np.asarray(power, dtype=np.float64)
    ok = np.isfinite(p) & (p > 0) & (f > 0)
    if ok.sum() < 4:
        return None
    fmax = f[ok].max()
    lo_sel = ok & (f >= low[0] * fmax) & (f <= low[1] * fmax)
    hi_sel = ok & (f >= high[0] * fmax) & (f <= high[1] * fmax)
    if not lo_sel.any() or not hi_sel.any():
        return None
    return float(np.median(p[hi_sel]) / np.median(p[lo_sel]))


def spectrum_rise(frequency_invA: np.ndarray, power: np.ndarray) -> float | None:
    """Power near Nyquist (70–95 %) over power in the 45–65 % band of the map's spectrum.

    An unsharpened map's power falls with frequency (ratio < 1); a ratio above 1 means the
    high-frequency power rises, the signature of B-factor sharpening (or boosted noise).
    """
    return band_ratio(frequency_invA, power, (0.45, 0.65), (0.70, 0.95))
