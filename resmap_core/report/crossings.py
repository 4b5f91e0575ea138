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


def record_crossing(value: Any, frequency_invA: np.ndarray) -> Crossing:
    """A crossing from FSC.json; a bare number (records written before bounds existed) that
    equals the top shell's resolution was the old never-crossed fallback: a "better_than" bound.
    """
    crossing = Crossing.from_record(value)
    if isinstance(value, dict) or crossing.value_A is None or frequency_invA.size < 2:
        return crossing
    if frequency_invA[-1] > 0 and np.isclose(crossing.value_A, 1.0 / frequency_invA[-1]):
        return Crossing(crossing.value_A, "better_than")
    return crossing


def _record_nyquist(fsc_json: dict) -> float | None:
    """FSC.json's ``nyquist_A``, else twice its coarsest ``voxel_size_A`` (older records)."""
    nyquist = finite_float(fsc_json.get("nyquist_A"))
    if nyquist is None and isinstance(fsc_json.get("voxel_size_A"), list):
        sizes = [v for v in (finite_float(x) for x in fsc_json["voxel_size_A"]) if v is not None]
        nyquist = 2.0 * max(sizes) if sizes else None
    return nyquist


def _curve(fsc_json: dict, key: str, size: int) -> np.ndarray | None:
    """The curve ``key`` as float64 when it has one value per shell, else None."""
    values = fsc_json.get(key)
    if values is None or len(values) != size:
        return None
    return np.asarray(values, dtype=np.float64)


def fsc_summary(fsc_json: dict | None) -> FSCSummary:
    """Summary rows, plotted curves, the curve used by diagnostics and the headline curve."""
    if fsc_json is None:
        return FSCSummary([], [], None, None, None)
    f = np.asarray(fsc_json["frequency_invA"], dtype=np.float64)
    res = fsc_json.get("resolutions") or {}
    nyquist = _record_nyquist(fsc_json)
    rows, curves = [], []
    for kind in FSC_KINDS:
        r = res.get(kind) or {}
        crossings = {t: record_crossing(r.get(t), f) for t in THRESHOLDS}
        text = {t: crossing_text(c, nyquist) if r else "—" for t, c in crossings.items()}
        rows.append({"kind": kind, "crossings": crossings, "text": text})
        if (c := _curve(fsc_json, f"fsc_{kind}", f.size)) is not None:
            curves.append((kind, f, c))
    if (rnd := _curve(fsc_json, "fsc_randomised", f.size)) is not None:
        curves.append(("phase-randomised", f, rnd))
    # ``unmasked and``: an empty list is no curve either.
    unmasked = fsc_json.get("fsc_unmasked")
    diag = (f, np.asarray(unmasked, np.float64)) if unmasked and len(unmasked) == f.size else None
    main = fsc_json.get("resolution_curve")
    if main not in FSC_KINDS or not res.get(main):
        main = "corrected" if res.get("corrected") else "unmasked"
    return FSCSummary(rows, curves, diag, main, nyquist)


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


def _wfsc_bound_records(wfsc_json: dict | None) -> dict:
    """WFSC.json's ``bounds`` object, or {} when absent or malformed."""
    bounds = (wfsc_json or {}).get("bounds")
    return bounds if isinstance(bounds, dict) else {}


def wfsc_bound_notes(wfsc_json: dict | None, nyquist_A: float | None) -> list[str]:
    """Sentences on the windowed-FSC voxels whose box FSC did not cross the cutoff."""
    bounds = _wfsc_bound_records(wfsc_json)
    if not bounds:
        return []
    cutoff = finite_float((wfsc_json or {}).get("cutoff"))
    at = f" {cutoff:g}" if cutoff is not None else " the cutoff"
    what = {
        "better_than": f"never fell below{at} in its box",
        "worse_than": f"was already below{at} at the box's first shell",
    }
    out = []
    for kind, why in what.items():
        rec = bounds.get(kind) if isinstance(bounds.get(kind), dict) else {}
        fraction, value = finite_float(rec.get("fraction")), finite_float(rec.get("value_A"))
        if fraction and value is not None:
            limit = crossing_text(Crossing(value, kind), nyquist_A)  # type: ignore[arg-type]
            out.append(
                f"Windowed FSC: {100 * fraction:.1f} % of the mask is {limit}: the FSC {why}; "
                f"the map holds {value:.2f} Å there."
            )
    return out


def wfsc_crossing(value_A: float | None, wfsc_json: dict | None) -> Crossing:
    """A windowed-FSC statistic as a crossing: a value at a bound of ``WFSC.json`` is the bound.

    The map is float32, so "at the bound" allows 10⁻⁵ relative; any value above the first-shell
    bound is "worse than" it.
    """
    if value_A is None:
        return Crossing(None)
    bounds = _wfsc_bound_records(wfsc_json)
    better = finite_float((bounds.get("better_than") or {}).get("value_A"))
    worse = finite_float((bounds.get("worse_than") or {}).get("value_A"))
    if better is not None and np.isclose(value_A, better, rtol=1e-5):
        return Crossing(better, "better_than")
    if worse is not None and value_A > worse * (1 + 1e-5):
        return Crossing(worse, "worse_than")
    return Crossing(value_A)


def wfsc_stat_text(stats: dict | None, wfsc_json: dict | None, nyquist_A: float | None) -> dict:
    """Windowed-FSC median and quartiles in words: a value at a bound is printed as the bound."""
    if stats is None:
        return {}
    out = {}
    for key in ("median_A", "q25_A", "q75_A"):
        crossing = wfsc_crossing(finite_float(stats.get(key)), wfsc_json)
        out[key] = "—" if crossing.value_A is None else crossing_text(crossing, nyquist_A)
    return out
