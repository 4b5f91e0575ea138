"""Where an FSC curve crosses a threshold: a measured resolution, or a bound when it never does.

A resolution is a :class:`Crossing`: where a curve first falls below a threshold, or, when it
never does (or is already below at the first shell), an explicit bound, never a bare number.
Shared by the gold-standard FSC, the windowed FSC, their records and the report (docs/fsc.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

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


def nyquist_A(spacing_A: tuple[float, ...]) -> float:
    """Nyquist resolution (Å) of the coarsest axis: twice the largest voxel spacing (any order)."""
    return 2.0 * max(spacing_A)


def first_shell_below(curve: np.ndarray, threshold: float, start: int = 1) -> int | None:
    """Index of the first shell ≥ ``start`` whose value is below ``threshold`` (None if none)."""
    below = np.flatnonzero(np.asarray(curve[start:]) < threshold)
    return int(below[0]) + start if below.size else None


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
