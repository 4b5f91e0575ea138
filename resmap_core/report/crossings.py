"""Resolutions as the report prints them: FSC.json's crossings and WFSC.json's bounds.

A curve that never crosses a threshold gives a bound, never a bare number (docs/report.md,
"Resolutions that are bounds"); :class:`resmap_core.fsc.gold_standard.Crossing` carries it and
:func:`~resmap_core.fsc.gold_standard.crossing_text` writes it in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from resmap_core.fsc.gold_standard import Crossing, crossing_text, threshold_crossing
from resmap_core.io.mrc import MapGeometry
from resmap_core.io.records.fsc import CurveCrossings, FSCRecord
from resmap_core.io.records.wfsc import BoundShare, WFSCRecord
from resmap_core.report.records import finite_float
from resmap_core.report.spectra import Spectrum

FSC_KINDS = ("unmasked", "masked", "corrected")
THRESHOLDS = ("0.143", "0.5")


@dataclass(frozen=True)
class FSCSummary:
    """What the report shows of FSC.json: table rows, plotted curves, the headline crossings.

    ``rows``: one per curve, {"kind", "crossings": {"0.143"|"0.5": Crossing}, "text": {...}}.
    ``curves``: (label, frequency Å⁻¹, FSC) to plot. ``diag``: the unmasked curve for the
    diagnostics. ``main``: the curve the resolutions are quoted for (corrected, or unmasked
    without a mask). ``nyquist_A``: Nyquist of the half maps (from the record), to name a bound
    at the top shell.
    """

    rows: list[dict]
    curves: list[tuple[str, np.ndarray, np.ndarray]]
    diag: tuple[np.ndarray, np.ndarray] | None
    main: str | None
    nyquist_A: float | None

    def headline(self) -> dict[str, Crossing] | None:
        """The main curve's crossings at 0.143 and 0.5 (None without an FSC record)."""
        row = next((r for r in self.rows if r["kind"] == self.main), None)
        return None if row is None else row["crossings"]

    def text(self, crossing: Crossing) -> str:
        """A crossing in words (:func:`resmap_core.fsc.gold_standard.crossing_text`)."""
        return crossing_text(crossing, self.nyquist_A)


def _plot_curve(values: tuple[float | None, ...] | None, size: int) -> np.ndarray | None:
    """A curve of the record as float64 (null: NaN) when it has one value per shell, else None."""
    if values is None or len(values) != size:
        return None
    return np.asarray(values, dtype=np.float64)


def _curve_row(kind: str, crossings: CurveCrossings | None, nyquist: float | None) -> dict:
    """One table row: the curve's crossings at :data:`THRESHOLDS` and their words ("—" for a
    curve the record does not hold)."""
    found = crossings or {}
    row = {t: found.get(t, Crossing(None)) for t in THRESHOLDS}
    text = {t: crossing_text(c, nyquist) if crossings else "—" for t, c in row.items()}
    return {"kind": kind, "crossings": row, "text": text}


def fsc_summary(record: FSCRecord | None) -> FSCSummary:
    """Summary rows, plotted curves, the curve used by diagnostics and the headline curve.

    Crossings, bounds, the headline curve and Nyquist are the record's
    (:meth:`resmap_core.io.records.fsc.FSCCurves.from_json`).
    """
    if record is None:
        return FSCSummary([], [], None, None, None)
    c = record.curves
    f = np.asarray(c.frequency_invA, dtype=np.float64)
    rows = [_curve_row(kind, c.resolutions.get(kind), c.nyquist_A) for kind in FSC_KINDS]
    plotted = (
        ("unmasked", c.fsc_unmasked),
        ("masked", c.fsc_masked),
        ("corrected", c.fsc_corrected),
        ("phase-randomised", c.fsc_randomised),
    )
    curves = [(k, f, v) for k, values in plotted if (v := _plot_curve(values, f.size)) is not None]
    # An empty unmasked curve is no curve either.
    unmasked = _plot_curve(c.fsc_unmasked, f.size) if c.fsc_unmasked else None
    diag = (f, unmasked) if unmasked is not None else None
    return FSCSummary(rows, curves, diag, c.resolution_curve, c.nyquist_A)


def fsc_marks(fsc: FSCSummary) -> list[tuple[float, float | None, str | None]]:
    """(threshold, resolution Å or None, bound) of the headline curve at 0.143 and 0.5, for the
    FSC figure's markers (empty without an FSC record)."""
    head = fsc.headline() or {}
    return [(float(t), c.value_A, c.bound) for t, c in head.items()]


@dataclass(frozen=True)
class FSCTexts:
    """The headline FSC resolutions in words, where the report prints them.

    ``lines``: threshold → (Å or None, words) for the histogram lines; ``notes``: the FSC
    figure's box and alt text; ``headline``: the page header's (None without FSC.json);
    ``deposited``: the deposited curve's 0.143 resolution (None without that curve).
    """

    lines: dict[str, tuple[float | None, str]]
    notes: list[str]
    headline: dict[str, str | None] | None
    deposited: str | None


def fsc_texts(fsc: FSCSummary, deposited: Spectrum | None) -> FSCTexts:
    """The headline crossings and the deposited curve's 0.143 resolution in words."""
    head = fsc.headline()
    lines: dict[str, tuple[float | None, str]] = {}
    headline = None
    if head is not None:
        lines = {t: (c.value_A, fsc.text(c)) for t, c in head.items()}
        headline = {"curve": fsc.main, "0.143": lines["0.143"][1], "0.5": lines["0.5"][1]}
    notes = [f"{fsc.main} FSC {t}: {text}" for t, (_, text) in lines.items()]
    deposited_text = None
    if deposited is not None:
        # The deposited curve's top point is wherever its authors stopped: "last shell".
        deposited_text = crossing_text(threshold_crossing(*deposited, 0.143))
        notes.append(f"deposited FSC 0.143: {deposited_text}")
    return FSCTexts(lines, notes, headline, deposited_text)


def nyquist_of(geometry: MapGeometry) -> float:
    """Nyquist resolution (Å) of the coarsest axis of a map's grid."""
    return 2.0 * max(geometry.voxel_size_A)


def summary_crossings(fsc: FSCSummary, nyquist_A: float) -> dict[str, Any]:
    """The FSC part of summary.json: the headline curve's values with their bounds, and the
    Nyquist resolution (of the FSC record, else ``nyquist_A`` of the map) to name a bound."""
    head = fsc.headline()
    nyquist = fsc.nyquist_A if fsc.nyquist_A is not None else nyquist_A
    out: dict[str, Any] = {"fsc_curve": fsc.main if head else None, "nyquist_A": nyquist}
    for t, key in (("0.143", "fsc_0143"), ("0.5", "fsc_05")):
        c = head[t] if head else Crossing(None)
        out[f"{key}_A"] = c.value_A
        out[f"{key}_bound"] = c.bound
    return out


def _wfsc_bounds(record: WFSCRecord | None) -> dict[str, BoundShare]:
    """WFSC.json's ``bounds`` (:meth:`WFSCSummary.from_json`), or {} when absent or malformed."""
    return (record.summary.bounds if record is not None else None) or {}


def wfsc_bound_notes(record: WFSCRecord | None, nyquist_A: float | None) -> list[str]:
    """Sentences on the windowed-FSC voxels whose box FSC did not cross the cutoff."""
    bounds = _wfsc_bounds(record)
    if not bounds:
        return []
    cutoff = record.cutoff if record is not None else None
    at = f" {cutoff:g}" if cutoff is not None else " the cutoff"
    what = {
        "better_than": f"never fell below{at} in its box",
        "worse_than": f"was already below{at} at the box's first shell",
    }
    out = []
    for kind, why in what.items():
        share = bounds.get(kind, BoundShare(None, None))
        fraction, value = share.fraction, share.value_A
        if fraction and value is not None:
            limit = crossing_text(Crossing(value, kind), nyquist_A)  # type: ignore[arg-type]
            out.append(
                f"Windowed FSC: {100 * fraction:.1f} % of the mask is {limit}: the FSC {why}; "
                f"the map holds {value:.2f} Å there."
            )
    return out


def wfsc_crossing(value_A: float | None, record: WFSCRecord | None) -> Crossing:
    """A windowed-FSC statistic as a crossing: a value at a bound of ``WFSC.json`` is the bound.

    The map is float32, so "at the bound" allows 10⁻⁵ relative; any value above the first-shell
    bound is "worse than" it.
    """
    if value_A is None:
        return Crossing(None)
    bounds = _wfsc_bounds(record)
    better = bounds["better_than"].value_A if "better_than" in bounds else None
    worse = bounds["worse_than"].value_A if "worse_than" in bounds else None
    if better is not None and np.isclose(value_A, better, rtol=1e-5):
        return Crossing(better, "better_than")
    if worse is not None and value_A > worse * (1 + 1e-5):
        return Crossing(worse, "worse_than")
    return Crossing(value_A)


def wfsc_stat_text(stats: dict | None, record: WFSCRecord | None, nyquist_A: float | None) -> dict:
    """Windowed-FSC median and quartiles in words: a value at a bound is printed as the bound."""
    if stats is None:
        return {}
    out = {}
    for key in ("median_A", "q25_A", "q75_A"):
        crossing = wfsc_crossing(finite_float(stats.get(key)), record)
        out[key] = "—" if crossing.value_A is None else crossing_text(crossing, nyquist_A)
    return out
