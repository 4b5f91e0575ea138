"""Gold-standard Fourier shell correlation between half maps, with RELION-style mask correction.

Conventions (docs/fsc.md):

- Shells are those of :func:`resmap_core.spectrum.make_shells`: width 1/(longest box edge in Å),
  shell i holds the coefficients with round(|k| / width) = i, up to the coarsest Nyquist
  frequency. For a cubic box with isotropic voxels this is RELION's integer-radius binning.
- Sums run over the full spectrum (each rfft coefficient weighted by its multiplicity), so the
  FSC is that of the real maps.
- The masked FSC multiplies both half maps by the mask as given (values in [0, 1], binary or
  soft; no edge is added here, see :func:`soft_mask` for the optional one).
- The corrected FSC follows Chen et al. (2013) as RELION's postprocessing applies it: phases of
  both *unmasked* half maps are replaced by seeded random phases in the shells beyond the first
  shell where the unmasked FSC falls below 0.8; the randomised maps are masked and correlated
  (FSC_rand); from that shell + 2 on the corrected FSC is (FSC_masked − FSC_rand)/(1 − FSC_rand),
  FSC_masked before it (RELION 3.1 does not clip negative values, neither do we).
- A resolution is a :class:`Crossing`: where a curve first falls below a threshold, or, when it
  never does (or is already below at the first shell), an explicit bound, never a bare number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from resmap_core.spectrum import Shells, frequency_magnitude, make_shells, rfft_weights

#: RELION's default: randomise phases from the first shell where the unmasked FSC < 0.8.
RANDOMISE_BELOW = 0.8
#: RELION applies the correction from two shells beyond the randomisation shell.
CORRECTION_OFFSET_SHELLS = 2
THRESHOLDS = (0.143, 0.5)


@dataclass(frozen=True)
class FSCResult:
    """FSC curves on the shells of the input box (all arrays have one value per shell).

    ``frequency_invA`` are shell centres in Å⁻¹; ``shell_voxels`` counts Fourier coefficients of
    the full spectrum per shell. Masked, randomised and corrected curves are None without a mask;
    ``randomise_shell`` is the first shell whose phases were randomised (None without a mask).
    """

    frequency_invA: np.ndarray
    shell_voxels: np.ndarray
    unmasked: np.ndarray
    masked: np.ndarray | None = None
    randomised: np.ndarray | None = None
    corrected: np.ndarray | None = None
    randomise_shell: int | None = None

    @property
    def halfbit(self) -> np.ndarray:
        """The half-bit threshold curve (van Heel & Schatz 2005) for these shells."""
        return halfbit_curve(self.shell_voxels)


def fsc_from_transforms(f1: np.ndarray, f2: np.ndarray, shells: Shells) -> np.ndarray:
    """FSC per shell of two rfftn transforms on the grid of ``shells`` (NaN for empty shells)."""
    w = rfft_weights((*shells.index.shape[:2], shells.nx))
    cross = shells.sum(w * (f1.real * f2.real + f1.imag * f2.imag))
    p1 = shells.sum(w * (f1.real**2 + f1.imag**2))
    p2 = shells.sum(w * (f2.real**2 + f2.imag**2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return cross / np.sqrt(p1 * p2)


def fsc_curve(
    half1: np.ndarray,
    half2: np.ndarray,
    spacing_zyx_A: tuple[float, float, float],
    threads: int | None = None,
) -> np.ndarray:
    """FSC per shell (see :func:`resmap_core.spectrum.make_shells`) of two maps ``[z, y, x]``."""
    shells = make_shells(half1.shape, spacing_zyx_A)
    f1 = sfft.rfftn(np.asarray(half1, dtype=np.float64), workers=threads)
    f2 = sfft.rfftn(np.asarray(half2, dtype=np.float64), workers=threads)
    return fsc_from_transforms(f1, f2, shells)


def halfbit_curve(shell_voxels: np.ndarray) -> np.ndarray:
    """Half-bit threshold per shell; ``shell_voxels`` = Fourier coefficients per shell."""
    n = np.sqrt(np.maximum(np.asarray(shell_voxels, dtype=np.float64), 1.0))
    return (0.2071 + 1.9102 / n) / (1.2071 + 0.9102 / n)


def soft_mask(
    mask: np.ndarray, spacing_zyx_A: tuple[float, float, float], edge_A: float
) -> np.ndarray:
    """Binary mask with a raised-cosine edge (RELION style), float64 in [0, 1].

    Voxels inside keep 1; outside at distance d (Å, to the nearest inside voxel) get
    0.5 + 0.5·cos(π d / ``edge_A``) while d < ``edge_A``, and 0 beyond.
    """
    inside = np.asarray(mask, dtype=bool)
    if edge_A <= 0:
        return inside.astype(np.float64)
    dist = ndimage.distance_transform_edt(~inside, sampling=spacing_zyx_A)
    soft = np.where(dist < edge_A, 0.5 + 0.5 * np.cos(np.pi * dist / edge_A), 0.0)
    soft[inside] = 1.0
    return soft


def randomise_phases_beyond(
    transform: np.ndarray, radius_shells: np.ndarray, shell: int, rng: np.random.Generator
) -> np.ndarray:
    """Copy of an rfftn transform whose coefficients beyond ``shell`` get random phases.

    ``radius_shells`` is |k| in shell widths on the rfftn grid; coefficients with a radius
    strictly above ``shell`` (as RELION's randomisation, part of the next shell's lower half
    included) get phases uniform on [0, 2π) from ``rng``; amplitudes are kept. The inverse rfftn
    of the result is real (irfftn keeps the Hermitian part of the kx = 0 and Nyquist planes).
    """
    out = transform.copy()
    beyond = radius_shells > shell
    phases = rng.uniform(0.0, 2.0 * np.pi, size=int(beyond.sum()))
    out[beyond] = np.abs(transform[beyond]) * np.exp(1j * phases)
    return out


def first_shell_below(curve: np.ndarray, threshold: float, start: int = 1) -> int | None:
    """Index of the first shell ≥ ``start`` whose value is below ``threshold`` (None if none)."""
    below = np.flatnonzero(np.asarray(curve[start:]) < threshold)
    return int(below[0]) + start if below.size else None


#: How a threshold was met: None = the curve falls below it (a measured crossing);
#: "better_than" = it never falls below up to the last shell (the value is that shell's
#: resolution, Nyquist for a cubic box); "worse_than" = it is already below at the first shell
#: of non-zero frequency (the value is that shell's resolution).
Bound = Literal["better_than", "worse_than"]
BOUNDS: tuple[Bound, ...] = ("better_than", "worse_than")


@dataclass(frozen=True)
class Crossing:
    """Resolution at a threshold: a measured crossing, or a bound when the curve never crosses.

    ``value_A`` is in Å; None when nothing could be determined (no finite FSC value).
    ``bound`` is None for a measured crossing, else one of :data:`BOUNDS`. A bound is a limit of
    the measurement (the box or the sampling), never a resolution: print it with its words.
    """

    value_A: float | None
    bound: Bound | None = None

    def to_record(self) -> dict[str, float | str | None]:
        """``{"value_A": Å or null, "bound": null | "better_than" | "worse_than"}``."""
        return {"value_A": self.value_A, "bound": self.bound}

    @classmethod
    def from_record(cls, record: object) -> Crossing:
        """Read :meth:`to_record`'s form; a bare number (records before bounds) is a crossing.

        Anything else (null, text, a malformed object) reads as not determined.
        """
        if isinstance(record, dict):
            value, bound = _finite(record.get("value_A")), record.get("bound")
            return cls(value, bound if bound in BOUNDS and value is not None else None)
        return cls(_finite(record))


def _finite(value: object) -> float | None:
    """A finite float from a JSON value, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return None
    return float(value) if np.isfinite(value) else None


def threshold_crossing(
    frequency_invA: np.ndarray, curve: np.ndarray, threshold: float | np.ndarray
) -> Crossing:
    """Where ``curve`` first falls below ``threshold``, as a :class:`Crossing`.

    ``frequency_invA`` (Å⁻¹) and ``curve`` have one value per shell; ``threshold`` is a number or
    a curve (e.g. half-bit). Shells at frequency ≤ 0 (the mean) and non-finite values are
    skipped. The crossing frequency is interpolated linearly between the last shell at or above
    the threshold and the first one below. A curve below the threshold at its first shell is a
    "worse_than" bound at that shell's resolution; one that never falls below is a
    "better_than" bound at the last shell's resolution.
    """
    freq = np.asarray(frequency_invA, dtype=np.float64)
    thr = np.broadcast_to(np.asarray(threshold, dtype=np.float64), freq.shape)
    diff = np.asarray(curve, dtype=np.float64) - thr
    keep = np.flatnonzero((freq > 0) & np.isfinite(diff))
    if keep.size == 0:
        return Crossing(None)
    below = np.flatnonzero(diff[keep] < 0)
    if below.size == 0:
        return Crossing(float(1.0 / freq[keep[-1]]), "better_than")
    if below[0] == 0:
        return Crossing(float(1.0 / freq[keep[0]]), "worse_than")
    i0, i1 = keep[below[0] - 1], keep[below[0]]
    t = diff[i0] / (diff[i0] - diff[i1])
    return Crossing(float(1.0 / (freq[i0] + t * (freq[i1] - freq[i0]))))


def crossing_frequency(
    frequency_invA: np.ndarray, curve: np.ndarray, threshold: float | np.ndarray
) -> float | None:
    """Frequency (Å⁻¹) of a measured crossing (:func:`threshold_crossing`); None for a bound."""
    c = threshold_crossing(frequency_invA, curve, threshold)
    return None if c.bound is not None or c.value_A is None else 1.0 / c.value_A


def crossing_text(crossing: Crossing, nyquist_A: float | None = None) -> str:
    """``"3.91 Å"``, ``"better than 3.28 Å (Nyquist)"``, ``"worse than 96.00 Å (first shell)"``
    or ``"not determined"``: a bound is never written as a bare number.

    A "better_than" bound says "Nyquist" when its value is ``nyquist_A`` (to 0.1 %), else "last
    shell" (a non-cubic box's top shell may stop just short of Nyquist).
    """
    if crossing.value_A is None:
        return "not determined"
    number = f"{crossing.value_A:.2f} Å"
    if crossing.bound == "worse_than":
        return f"worse than {number} (first shell)"
    if crossing.bound == "better_than":
        at_nyquist = nyquist_A is not None and np.isclose(crossing.value_A, nyquist_A, rtol=1e-3)
        return f"better than {number} ({'Nyquist' if at_nyquist else 'last shell'})"
    return number


def correct_fsc(masked: np.ndarray, randomised: np.ndarray, randomise_shell: int) -> np.ndarray:
    """Chen et al. (2013) correction as RELION applies it (see the module docstring)."""
    start = randomise_shell + CORRECTION_OFFSET_SHELLS
    corrected = masked.astype(np.float64).copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        true = (masked - randomised) / (1.0 - randomised)
    corrected[start:] = true[start:]
    return corrected


def gold_standard_fsc(
    half1: np.ndarray,
    half2: np.ndarray,
    spacing_zyx_A: tuple[float, float, float],
    mask: np.ndarray | None = None,
    seed: int = 0,
    threads: int | None = None,
) -> FSCResult:
    """Unmasked, masked, phase-randomised and corrected FSC of two half maps ``[z, y, x]``.

    ``mask`` (same grid, values in [0, 1], binary or soft) multiplies both maps exactly as
    given; None gives the unmasked curve only. ``seed`` makes the phase randomisation
    reproducible.
    """
    shape = half1.shape
    shells = make_shells(shape, spacing_zyx_A)
    w = np.broadcast_to(rfft_weights(shape), shells.index.shape)
    counts = shells.sum(w)
    f1 = sfft.rfftn(np.asarray(half1, dtype=np.float64), workers=threads)
    f2 = sfft.rfftn(np.asarray(half2, dtype=np.float64), workers=threads)
    unmasked = fsc_from_transforms(f1, f2, shells)
    freq = shells.frequency_invA
    if mask is None:
        return FSCResult(freq, counts, unmasked)
    m = np.asarray(mask, dtype=np.float64)
    masked = fsc_curve(half1 * m, half2 * m, spacing_zyx_A, threads)
    start = first_shell_below(unmasked, RANDOMISE_BELOW)
    if start is None:  # never below 0.8: nothing to randomise, nothing to correct
        start = shells.count
    rng = np.random.default_rng(seed)
    radius = frequency_magnitude(shape, spacing_zyx_A) / shells.step_invA
    r1 = sfft.irfftn(randomise_phases_beyond(f1, radius, start, rng), shape, workers=threads)
    r2 = sfft.irfftn(randomise_phases_beyond(f2, radius, start, rng), shape, workers=threads)
    randomised = fsc_curve(r1 * m, r2 * m, spacing_zyx_A, threads)
    corrected = correct_fsc(masked, randomised, start)
    return FSCResult(freq, counts, unmasked, masked, randomised, corrected, start)


def nyquist_A(spacing_zyx_A: tuple[float, float, float]) -> float:
    """Nyquist resolution (Å) of the coarsest axis."""
    return 2.0 * max(spacing_zyx_A)
