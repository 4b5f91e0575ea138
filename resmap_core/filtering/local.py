"""Local filtering: every voxel takes the map low-passed at its own local resolution.

The filter for a resolution r (Å) passes every spatial frequency up to 1/r unchanged and falls
to zero with a raised-cosine edge between 1/r and (1 + :data:`EDGE`)/r::

    H_r(k) = 1                                          for k ≤ 1/r
           = ½ + ½ cos(π (k r − 1) / EDGE)              for 1/r < k < (1 + EDGE)/r
           = 0                                          beyond

(k = |k| in Å⁻¹, physical, so anisotropic voxels are handled). Rather than one filter per
voxel, the map is low-passed at a ladder of resolutions r_j = r_0 · :data:`RATIO`^j (r_0 = the
Nyquist resolution, twice the largest voxel size), and each voxel interpolates linearly in
frequency (1/r) between the two copies that bracket its local resolution. Only the rungs some
voxel needs are computed: one forward FFT of the map and one inverse FFT per rung, with the
spectrum, one copy and the output in memory. Voxels without a resolution (outside the analysis
mask, unresolved: NaN, 0 or 100 Å in the local map) take the coarsest rung in use; values finer
than r_0 take r_0 (no filtering). An optional B-factor multiplies the spectrum by
exp(−B k²/4) first (B < 0 sharpens).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.fft as sfft

from resmap_core.progress import Progress
from resmap_core.report.statistics import resolved_voxels
from resmap_core.spectrum import irfftn_consuming, radial_gain

#: Relative width of the cosine edge beyond the cutoff: the gain reaches 0 at (1 + EDGE)/r.
EDGE = 0.25
#: Ratio between neighbouring resolutions of the ladder.
RATIO = 1.15
#: Most rungs; a wider range of local resolutions spaces them more widely.
MAX_RUNGS = 40

#: Relative tolerance within which a resolution counts as lying on a rung (float32 maps).
_SNAP = 1e-5

Gain = Callable[[np.ndarray], np.ndarray]


def lowpass_gain(resolution_A: float, edge: float = EDGE) -> Gain:
    """The filter H_r of the module docstring, as a function of |k| (Å⁻¹)."""

    def gain(k: np.ndarray) -> np.ndarray:
        t = np.clip((k * resolution_A - 1.0) / edge, 0.0, 1.0)
        return 0.5 + 0.5 * np.cos(np.pi * t)

    return gain


def bfactor_gain(b_A2: float) -> Gain:
    """Amplitude exp(−B k²/4) with B in Å² (negative B sharpens)."""
    return lambda k: np.exp(-b_A2 * k * k / 4.0)


def ladder(finest_A: float, coarsest_A: float, nyquist_A: float) -> np.ndarray:
    """Resolutions (Å) r_0 · ratio^j covering [finest_A, coarsest_A], r_0 = ``nyquist_A``.

    The ratio is :data:`RATIO`, widened when the range would need more than
    :data:`MAX_RUNGS` rungs.
    """
    top = max(coarsest_A, nyquist_A)
    ratio = max(RATIO, (top / nyquist_A) ** (1.0 / (MAX_RUNGS - 1)))
    count = int(np.ceil(np.log(top / nyquist_A) / np.log(ratio) - _SNAP)) + 1
    return nyquist_A * ratio ** np.arange(max(count, 1))


def target_resolution(local_A: np.ndarray, resolved: np.ndarray, nyquist_A: float) -> np.ndarray:
    """Resolution (Å, float64) each voxel is filtered at: its own, clamped to the Nyquist
    resolution; voxels without one take the coarsest resolved value (or Nyquist if none)."""
    values = np.where(resolved, local_A, np.nan).astype(np.float64)
    coarsest = float(np.nanmax(values)) if resolved.any() else nyquist_A
    values[~resolved] = coarsest
    return np.maximum(values, nyquist_A)


def rung_weights(target_A: np.ndarray, rungs_A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each voxel, the index j of the finer bracketing rung and the weight (0..1) of rung
    j + 1, linear in frequency: 1/r = (1 − w)/r_j + w/r_(j+1)."""
    freq = 1.0 / target_A
    rung_freq = 1.0 / rungs_A  # decreasing
    j = np.clip(np.searchsorted(-rung_freq, -freq, side="right") - 1, 0, len(rungs_A) - 1)
    nxt = np.minimum(j + 1, len(rungs_A) - 1)
    span = rung_freq[j] - rung_freq[nxt]
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.clip(np.where(span > 0, (rung_freq[j] - freq) / span, 0.0), 0.0, 1.0)
    # a resolution on a rung (to float32 precision) takes that rung alone
    on_next = w > 1.0 - _SNAP
    j = np.where(on_next, nxt, j)
    w = np.where(on_next | (w < _SNAP), 0.0, w)
    return j.astype(np.int16), w.astype(np.float32)


def used_rungs(lower: np.ndarray, weight: np.ndarray) -> list[int]:
    """Rungs some voxel takes a share of: its finer rung ``lower``, and the next one where
    ``weight`` > 0."""
    needed = np.union1d(np.unique(lower), np.unique(lower[weight > 0]) + 1)
    return [int(j) for j in needed]


def _rung_copy(
    spectrum: np.ndarray,
    shape: tuple[int, int, int],
    spacing_zyx_A: tuple[float, float, float],
    resolution_A: float,
    threads: int | None,
) -> np.ndarray:
    """The map low-passed at ``resolution_A`` (float32 ``[z, y, x]``) from its ``spectrum``."""
    copy = spectrum.copy()
    radial_gain(copy, shape, spacing_zyx_A, lowpass_gain(resolution_A))
    return irfftn_consuming(copy, shape, threads).astype(np.float32, copy=False)


def local_filter(
    data: np.ndarray,
    local_A: np.ndarray,
    spacing_zyx_A: tuple[float, float, float],
    bfactor_A2: float | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``data[z, y, x]`` filtered voxel by voxel at ``local_A`` (same shape, Å); returns the
    filtered map (float32) and the ladder of resolutions used (Å).

    ``local_A`` may hold NaN, 0 or 100 Å where it has no resolution (see the module docstring).
    """
    progress = progress or Progress(quiet=True)
    shape = tuple(int(n) for n in data.shape)
    nyquist_A = 2.0 * max(spacing_zyx_A)
    resolved = resolved_voxels(local_A, np.ones(shape, dtype=bool))
    target = target_resolution(local_A, resolved, nyquist_A)
    rungs = ladder(float(target.min()), float(target.max()), nyquist_A)
    lower, weight = rung_weights(target, rungs)
    del target, resolved
    spectrum = sfft.rfftn(np.asarray(data, dtype=np.float32), workers=threads)
    if bfactor_A2 is not None:
        radial_gain(spectrum, shape, spacing_zyx_A, bfactor_gain(bfactor_A2))
    out = np.zeros(shape, dtype=np.float32)
    used = used_rungs(lower, weight)
    for count, j in enumerate(used, start=1):
        copy = _rung_copy(spectrum, shape, spacing_zyx_A, float(rungs[j]), threads)
        share = np.where(lower == j, 1.0 - weight, 0.0) + np.where(lower == j - 1, weight, 0.0)
        copy *= share
        out += copy
        progress.bar(count, len(used), "local filter")
    return out, rungs[used]
