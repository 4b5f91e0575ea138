"""Gold-standard Fourier shell correlation between half maps, with RELION-style mask correction.

Conventions (docs/fsc.md):

- Shells are those of :func:`resmap_core.spectrum.make_shells`: width 1/(longest box edge in Å),
  shell i holds the coefficients with round(|k| / width) = i, up to the coarsest Nyquist
  frequency. For a cubic box with isotropic voxels this is RELION's integer-radius binning.
- Sums run over the full spectrum (each rfft coefficient weighted by its multiplicity), so the
  FSC is that of the real maps.
- The masked FSC multiplies both half maps by the mask as given (values in [0, 1], binary or
  soft; no edge is added here, see :mod:`resmap_core.fsc.masks` for the optional one).
- The corrected FSC follows Chen et al. (2013) as RELION's postprocessing applies it: phases of
  both *unmasked* half maps are replaced by seeded random phases in the shells beyond the first
  shell where the unmasked FSC falls below 0.8; the randomised maps are masked and correlated
  (FSC_rand); from that shell + 2 on the corrected FSC is (FSC_masked − FSC_rand)/(1 − FSC_rand),
  FSC_masked before it (RELION 3.1 does not clip negative values, neither do we).
- A resolution is a :class:`~resmap_core.fsc.crossing.Crossing`: where a curve first falls below
  a threshold, or an explicit bound when it never does (or is already below at the first shell).
- The phase randomisation here is the only one: the windowed FSC's correction uses it too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from resmap_core.errors import InputError

# Crossing, crossing_text and threshold_crossing are also read from here (resmap_core.report).
from resmap_core.fsc.crossing import (
    Crossing,
    crossing_text,
    first_shell_below,
    threshold_crossing,
)
from resmap_core.io.records.fsc import FSCCurves
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


def randomisation_shell(unmasked: np.ndarray, count: int) -> int:
    """First shell ≥ 1 where the ``unmasked`` FSC is below :data:`RANDOMISE_BELOW` (RELION);
    ``count`` (one past the last shell: nothing randomised, nothing corrected) when none is."""
    start = first_shell_below(unmasked, RANDOMISE_BELOW)
    return count if start is None else start


def phase_randomised_halves(
    f1: np.ndarray,
    f2: np.ndarray,
    shells: Shells,
    spacing_zyx_A: tuple[float, float, float],
    shell: int,
    seed: int,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Both half maps, float64 ``[z, y, x]``, from their rfftn transforms ``f1``/``f2`` (on the
    grid of ``shells``) with random phases beyond ``shell`` (:func:`randomise_phases_beyond`).

    One generator seeded with ``seed`` (an integer ≥ 0) draws half 1's phases, then half 2's:
    the same seed gives the same bytes whatever ``threads``.
    """
    if seed < 0:
        raise InputError(f"seed {seed}: a random seed must be an integer >= 0.")
    shape = (*shells.index.shape[:2], shells.nx)
    rng = np.random.default_rng(seed)
    radius = frequency_magnitude(shape, spacing_zyx_A) / shells.step_invA
    r1 = sfft.irfftn(randomise_phases_beyond(f1, radius, shell, rng), shape, workers=threads)
    r2 = sfft.irfftn(randomise_phases_beyond(f2, radius, shell, rng), shape, workers=threads)
    return r1, r2


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
    check_grids(half1, half2, mask)
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
    start = randomisation_shell(unmasked, shells.count)
    r1, r2 = phase_randomised_halves(f1, f2, shells, spacing_zyx_A, start, seed, threads)
    randomised = fsc_curve(r1 * m, r2 * m, spacing_zyx_A, threads)
    corrected = correct_fsc(masked, randomised, start)
    return FSCResult(freq, counts, unmasked, masked, randomised, corrected, start)


def check_grids(half1: np.ndarray, half2: np.ndarray, mask: np.ndarray | None) -> None:
    """Refuse half maps (and a mask) that are not 3-D arrays on one grid."""
    shapes = [np.shape(half1), np.shape(half2)] + ([] if mask is None else [np.shape(mask)])
    if len(shapes[0]) != 3 or any(s != shapes[0] for s in shapes):
        what = "half maps and mask" if mask is not None else "half maps"
        raise InputError(f"the {what} must be 3-D arrays of one shape; got {shapes}.")


def curve_crossings(result: FSCResult) -> dict[str, dict[str, Crossing] | None]:
    """Crossings of 0.143, 0.5 and the half-bit curve for each curve (None: curve absent)."""
    freq = result.frequency_invA
    out: dict[str, dict[str, Crossing] | None] = {}
    for name in ("unmasked", "masked", "corrected"):
        curve = getattr(result, name)
        out[name] = (
            None
            if curve is None
            else {str(t): threshold_crossing(freq, curve, t) for t in THRESHOLDS}
            | {"halfbit": threshold_crossing(freq, curve, result.halfbit)}
        )
    return out


def _curve(values: np.ndarray | None) -> tuple[float | None, ...] | None:
    """A curve as record values: floats, None where not finite (None: no curve)."""
    if values is None:
        return None
    return tuple(float(v) if np.isfinite(v) else None for v in values)


def curves_record(result: FSCResult, nyquist_A: float | None = None) -> FSCCurves:
    """The curves and resolutions of FSC.json (docs/outputs.md) for ``result``.

    The resolutions quoted are those of the corrected curve, or of the unmasked one without a
    mask. ``nyquist_A`` (Å, of the coarsest axis) is recorded so that readers can name a bound
    at the top shell.
    """
    freq = result.frequency_invA
    crossings = curve_crossings(result)
    main = "corrected" if result.corrected is not None else "unmasked"
    headline = crossings[main]
    assert headline is not None  # the unmasked curve always exists
    shell = result.randomise_shell
    return FSCCurves(
        frequency_invA=tuple(float(f) for f in freq),
        shell_voxels=tuple(int(n) for n in result.shell_voxels),
        fsc_unmasked=_curve(result.unmasked),
        fsc_masked=_curve(result.masked),
        fsc_randomised=_curve(result.randomised),
        fsc_corrected=_curve(result.corrected),
        halfbit=_curve(result.halfbit),
        randomise_from_A=(
            None if shell is None or shell >= len(freq) else float(1.0 / freq[shell])
        ),
        nyquist_A=nyquist_A,
        resolutions=crossings,
        resolution_curve=main,
        resolution_0143=headline["0.143"],
        resolution_05=headline["0.5"],
    )


def headline_text(curves: FSCCurves) -> str:
    """``"FSC 0.143: 3.91 Å, 0.5: better than 3.28 Å (Nyquist) (corrected)"``: the quoted
    curve's resolutions in words (:func:`~resmap_core.fsc.crossing.crossing_text`)."""
    text = [
        crossing_text(c, curves.nyquist_A) for c in (curves.resolution_0143, curves.resolution_05)
    ]
    return f"FSC 0.143: {text[0]}, 0.5: {text[1]} ({curves.resolution_curve})"
