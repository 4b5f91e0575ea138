"""The self-contained HTML report for one dataset, its ChimeraX scripts, and the run index.

``build_report`` reads the maps and JSON records of one dataset (contracts in docs/outputs.md),
computes the figure data with :mod:`resmap_core.report.figures`, renders ``report.html.j2`` with
autoescaping, and writes ``index.html`` (images as base64 PNG data URIs, CSS inline, no script,
no network), ``NAME_resmap.cxc``, ``NAME_wfsc.cxc`` and ``summary.json`` beside it, atomically.
Every optional input may be absent; the report then says what is missing.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import importlib.metadata
import json
import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from resmap_core import __version__
from resmap_core.errors import InputError
from resmap_core.fsc.gold_standard import Crossing, crossing_text, threshold_crossing
from resmap_core.io.atomic import write_json, write_text
from resmap_core.io.mrc import MapData, read_map, read_mask, sha256_file
from resmap_core.progress import Progress
from resmap_core.report import figures

TEMPLATES = Path(__file__).resolve().parent / "templates"
EMDB_URL = "https://www.ebi.ac.uk/emdb/EMD-{}"


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------


@dataclass
class ReportInputs:
    """Paths given to ``resmap report`` (None = not given)."""

    name: str
    out: Path
    map: Path
    local: Path
    mask: Path | None = None
    fsc: Path | None = None
    wfsc: Path | None = None
    meta: Path | None = None
    deposited_fsc: Path | None = None
    provenance: Path | None = None
    benchmarks: Path | None = None


@dataclass
class Loaded:
    """Everything read from disk, already validated."""

    density: MapData
    local: MapData
    mask: np.ndarray
    mask_note: str | None
    mask_source: str | None
    local_json: dict | None
    fsc_json: dict | None
    wfsc: MapData | None
    wfsc_json: dict | None
    meta: dict | None
    deposited: tuple[np.ndarray, np.ndarray] | None
    provenance: dict | None
    rule_seconds: dict[str, float]
    notes: list[str] = field(default_factory=list)


def sidecar_json(map_path: Path) -> Path:
    """``X.json`` beside ``X.mrc`` (also for ``.map``, ``.ccp4`` and ``.gz`` names)."""
    name = map_path.name
    for suffix in (".gz",):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    stem = re.sub(r"\.(mrc|map|ccp4|mrcs)$", "", name, flags=re.IGNORECASE)
    return map_path.with_name(stem + ".json")


def read_json(path: Path, what: str) -> dict:
    """Read a JSON object, or raise InputError naming the file."""
    if not path.is_file():
        raise InputError(f"{path}: no such file ({what}).")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({what}): {exc}.") from None
    if not isinstance(record, dict):
        raise InputError(f"{path}: expected a JSON object ({what}).")
    return record


def parse_deposited_fsc(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """EMDB FSC XML ``<fsc><coordinate><x>1/Å</x><y>FSC</y></coordinate>...</fsc>``.

    Documents with a DOCTYPE or entity declarations are refused (no entity expansion, as
    defusedxml does). Returns (frequency Å⁻¹, FSC) sorted by frequency.
    """
    raw = path.read_bytes()
    head = raw.upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise InputError(f"{path}: XML with a DOCTYPE/ENTITY declaration is refused.")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise InputError(f"{path}: not well-formed XML ({exc}).") from None
    xs, ys = [], []
    for coord in root.iter("coordinate"):
        x, y = coord.findtext("x"), coord.findtext("y")
        try:
            xs.append(float(x))  # type: ignore[arg-type]
            ys.append(float(y))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InputError(f"{path}: a <coordinate> lacks a numeric <x> or <y>.") from None
    if len(xs) < 2:
        raise InputError(f"{path}: fewer than two FSC points.")
    f = np.asarray(xs)
    order = np.argsort(f, kind="stable")
    return f[order], np.asarray(ys)[order]


def read_benchmarks(folder: Path) -> dict[str, float]:
    """Run time (s) per rule from Snakemake ``benchmark:`` TSV files under ``folder``.

    The rule name is the file's path below ``folder`` without ``.tsv``; the numeric values of
    the ``s`` column (one row per repeat) are averaged; files without one ("NA", "-", empty, or
    not a benchmark file) are skipped. A folder that does not exist (yet) gives no times.
    """
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: --benchmarks must be a folder of Snakemake .tsv files.")
    out: dict[str, float] = {}
    for tsv in sorted(folder.rglob("*.tsv")) if folder.is_dir() else []:
        with open(tsv, newline="", encoding="utf-8", errors="replace") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        secs = [v for v in (_num(r.get("s")) for r in rows) if v is not None]
        if secs:
            out[tsv.relative_to(folder).with_suffix("").as_posix()] = float(np.mean(secs))
    return out


def provenance_seconds(provenance: dict) -> dict[str, float]:
    """Per-rule seconds from a provenance record: ``rule_seconds`` {rule: s} and/or the
    workflow's ``benchmarks`` {job: {"seconds": s, ...}}."""
    out: dict[str, float] = {}
    rs = provenance.get("rule_seconds")
    if isinstance(rs, dict):
        out.update({str(k): v for k, v in ((k, _num(v)) for k, v in rs.items()) if v is not None})
    bm = provenance.get("benchmarks")
    if isinstance(bm, dict):
        for job, rec in bm.items():
            v = _num(rec.get("seconds")) if isinstance(rec, dict) else _num(rec)
            if v is not None:
                out[str(job)] = v
    return out


def _read_optional_map(
    path: Path | None, like: MapData, what: str, allow_nan: bool = False
) -> MapData | None:
    """Read an optional map on ``like``'s grid (a header without voxel size takes ``like``'s)."""
    if path is None:
        return None
    try:
        m = read_map(path, allow_nan=allow_nan)
    except InputError as exc:
        if "no voxel size" not in str(exc):
            raise
        m = read_map(path, voxel_size_A=like.geometry.voxel_size_A[0], allow_nan=allow_nan)
    if m.geometry.shape != like.geometry.shape:
        raise InputError(
            f"{path}: the {what} is {m.geometry.shape[::-1]} voxels but the local-resolution map "
            f"is {like.geometry.shape[::-1]}; both must be on the same grid."
        )
    return m


def load(inputs: ReportInputs) -> Loaded:
    """Read and validate every input; optional parts missing become notes in the report."""
    notes: list[str] = []
    local = read_map(inputs.local, allow_nan=True)
    density = _read_optional_map(inputs.map, local, "map")
    assert density is not None
    local_json_path = sidecar_json(inputs.local)
    local_json = read_json(local_json_path, "ResMap record") if local_json_path.is_file() else None
    if local_json is None:
        notes.append(
            f"No ResMap record ({local_json_path.name}) beside the local-resolution map: "
            "no per-wavelength table, spectra or parameters."
        )
    outside = _num((local_json or {}).get("outside_value", 100.0))
    mask_source = ((local_json or {}).get("mask") or {}).get("source")
    mask_note = None
    mask_path = inputs.mask
    if mask_path is None and local_json and (local_json.get("mask") or {}).get("path"):
        cand = Path(str(local_json["mask"]["path"]))
        if cand.is_file():
            mask_path = cand
    if mask_path is not None:
        mask = read_mask(mask_path, local.geometry, check_voxel_size=False)
    else:
        mask = figures.resolved_voxels(local.data, np.ones(local.geometry.shape, bool), outside)
        mask_note = (
            "No mask was given: statistics cover the resolved voxels only and the "
            "unresolved fraction comes from the ResMap record."
        )
        notes.append(mask_note)
    fsc_json = read_json(inputs.fsc, "FSC record") if inputs.fsc else None
    if fsc_json is not None:
        for key in ("frequency_invA",):
            if key not in fsc_json:
                raise InputError(f"{inputs.fsc}: the FSC record has no '{key}'.")
    mode = (local_json or {}).get("mode")
    if fsc_json is None:
        why = " (single-map mode has no half maps)" if mode == "single" else ""
        notes.append(f"No gold-standard FSC{why}.")
    wfsc = _read_optional_map(inputs.wfsc, local, "windowed-FSC map", allow_nan=True)
    wfsc_json = None
    if inputs.wfsc is not None:
        side = sidecar_json(inputs.wfsc)
        wfsc_json = read_json(side, "windowed-FSC record") if side.is_file() else None
    else:
        why = " (single-map mode has no half maps)" if mode == "single" else ""
        notes.append(f"No windowed-FSC map{why}: no comparison with ResMap.")
    meta = read_json(inputs.meta, "dataset metadata") if inputs.meta else None
    deposited = None
    if inputs.deposited_fsc is not None:
        try:
            if not inputs.deposited_fsc.is_file():
                raise InputError(f"{inputs.deposited_fsc}: no such file.")
            deposited = parse_deposited_fsc(inputs.deposited_fsc)
        except InputError as exc:
            # Third-party data: a broken deposited curve must not cost the whole report.
            notes.append(f"The deposited FSC could not be read: {exc}")
    else:
        notes.append("No deposited EMDB FSC curve.")
    provenance = read_json(inputs.provenance, "provenance") if inputs.provenance else None
    rule_seconds: dict[str, float] = {}
    if provenance:
        rule_seconds.update(provenance_seconds(provenance))
    if inputs.benchmarks is not None:
        rule_seconds.update(read_benchmarks(inputs.benchmarks))
    if not rule_seconds:
        notes.append("No per-rule run times (no --provenance rule_seconds or --benchmarks).")
    return Loaded(
        density,
        local,
        mask,
        mask_note,
        mask_source,
        local_json,
        fsc_json,
        wfsc,
        wfsc_json,
        meta,
        deposited,
        provenance,
        rule_seconds,
        notes,
    )


# ----------------------------------------------------------------------------------------------
# Context
# ----------------------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    """A finite float, or None."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _data_uri(png: bytes) -> str:
    """``data:image/png;base64,...``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def emdb_link(emdb_id: Any) -> tuple[str | None, str | None]:
    """(display id ``EMD-N``, URL) for a well-formed EMDB id, else (None, None).

    Only the digits reach the URL, so no input text can become markup or a foreign link.
    """
    if emdb_id is None:
        return None, None
    m = re.fullmatch(r"(?:EMD[-_]?)?(\d{4,6})", str(emdb_id).strip(), flags=re.IGNORECASE)
    if not m:
        return None, None
    return f"EMD-{m.group(1)}", EMDB_URL.format(m.group(1))


def _versions_here() -> dict[str, str]:
    """Versions of the packages that built the report."""
    out = {"resmap_core": __version__}
    for pkg in ("numpy", "scipy", "matplotlib", "jinja2", "snakemake"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _run_date(inputs: ReportInputs, provenance: dict | None) -> str:
    """Run date: provenance ``run_date``, else SOURCE_DATE_EPOCH, else LOCAL.mrc's mtime (UTC).

    Never the wall clock, so rebuilding the report from the same files gives the same bytes.
    """
    if provenance and provenance.get("run_date"):
        return str(provenance["run_date"])
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    ts = float(epoch) if epoch and epoch.isdigit() else inputs.local.stat().st_mtime
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    """Flatten nested parameters into (dotted key, JSON text) rows."""
    if isinstance(value, dict):
        for k in sorted(value, key=str):
            _flatten(f"{prefix}.{k}" if prefix else str(k), value[k], out)
    else:
        out.append((prefix, json.dumps(value, sort_keys=True, default=str)))


def _masked_layer(values: np.ndarray, resolved: np.ndarray) -> np.ndarray:
    """float32 map with NaN where not resolved (drawn grey)."""
    layer = np.full(values.shape, np.nan, dtype=np.float32)
    layer[resolved] = values[resolved]
    return layer


@dataclass(frozen=True)
class FSCSummary:
    """What the report shows of FSC.json: table rows, plotted curves, the headline crossings.

    ``rows``: one per curve, {"kind", "crossings": {"0.143"|"0.5": Crossing}, "text": {...}}.
    ``main``: the curve the resolutions are quoted for (corrected, or unmasked without a mask).
    ``nyquist_A``: Nyquist of the half maps (from the record), to name a bound at the top shell.
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
        """A crossing in words (:func:`resmap_core.fsc.crossing_text`)."""
        return crossing_text(crossing, self.nyquist_A)


def _record_crossing(value: Any, frequency_invA: np.ndarray) -> Crossing:
    """A crossing from FSC.json; a bare number (records written before bounds existed) that
    equals the top shell's resolution was the old never-crossed fallback: a "better_than" bound.
    """
    crossing = Crossing.from_record(value)
    if isinstance(value, dict) or crossing.value_A is None or frequency_invA.size < 2:
        return crossing
    if frequency_invA[-1] > 0 and np.isclose(crossing.value_A, 1.0 / frequency_invA[-1]):
        return Crossing(crossing.value_A, "better_than")
    return crossing


def _fsc_block(fsc_json: dict | None) -> FSCSummary:
    """Summary rows, plotted curves, the curve used by diagnostics and the headline curve."""
    if fsc_json is None:
        return FSCSummary([], [], None, None, None)
    f = np.asarray(fsc_json["frequency_invA"], dtype=np.float64)
    res = fsc_json.get("resolutions") or {}
    nyquist = _num(fsc_json.get("nyquist_A"))
    if nyquist is None and isinstance(fsc_json.get("voxel_size_A"), list):
        sizes = [v for v in (_num(x) for x in fsc_json["voxel_size_A"]) if v is not None]
        nyquist = 2.0 * max(sizes) if sizes else None
    rows, curves = [], []
    for kind in ("unmasked", "masked", "corrected"):
        r = res.get(kind) or {}
        crossings = {t: _record_crossing(r.get(t), f) for t in ("0.143", "0.5")}
        text = {t: crossing_text(c, nyquist) for t, c in crossings.items()}
        if not r:
            text = {t: "—" for t in crossings}
        rows.append({"kind": kind, "crossings": crossings, "text": text})
        c = fsc_json.get(f"fsc_{kind}")
        if c is not None and len(c) == f.size:
            curves.append((kind, f, np.asarray(c, dtype=np.float64)))
    rnd = fsc_json.get("fsc_randomised")
    if rnd is not None and len(rnd) == f.size:
        curves.append(("phase-randomised", f, np.asarray(rnd, dtype=np.float64)))
    unmasked = fsc_json.get("fsc_unmasked")
    diag = (f, np.asarray(unmasked, np.float64)) if unmasked and len(unmasked) == f.size else None
    main = fsc_json.get("resolution_curve")
    if main not in ("unmasked", "masked", "corrected") or not res.get(main):
        main = "corrected" if res.get("corrected") else "unmasked"
    return FSCSummary(rows, curves, diag, main, nyquist)


def _wfsc_bounds(wfsc_json: dict | None, nyquist_A: float | None) -> list[str]:
    """Sentences on the windowed-FSC voxels whose box FSC did not cross the cutoff."""
    bounds = (wfsc_json or {}).get("bounds")
    if not isinstance(bounds, dict):
        return []
    cutoff = _num((wfsc_json or {}).get("cutoff"))
    at = f" {cutoff:g}" if cutoff is not None else " the cutoff"
    what = {
        "better_than": f"never fell below{at} in its box",
        "worse_than": f"was already below{at} at the box's first shell",
    }
    out = []
    for kind, why in what.items():
        rec = bounds.get(kind) if isinstance(bounds.get(kind), dict) else {}
        fraction, value = _num(rec.get("fraction")), _num(rec.get("value_A"))
        if fraction and value is not None:
            limit = crossing_text(Crossing(value, kind), nyquist_A)  # type: ignore[arg-type]
            out.append(
                f"Windowed FSC: {100 * fraction:.1f} % of the mask is {limit}: the FSC {why}; "
                f"the map holds {value:.2f} Å there."
            )
    return out


def _wfsc_crossing(value_A: float | None, wfsc_json: dict | None) -> Crossing:
    """A windowed-FSC statistic as a crossing: a value at a bound of ``WFSC.json`` is the bound.

    The map is float32, so "at the bound" allows 10⁻⁵ relative; any value above the first-shell
    bound is "worse than" it.
    """
    if value_A is None:
        return Crossing(None)
    bounds = (wfsc_json or {}).get("bounds")
    bounds = bounds if isinstance(bounds, dict) else {}
    better = _num((bounds.get("better_than") or {}).get("value_A"))
    worse = _num((bounds.get("worse_than") or {}).get("value_A"))
    if better is not None and np.isclose(value_A, better, rtol=1e-5):
        return Crossing(better, "better_than")
    if worse is not None and value_A > worse * (1 + 1e-5):
        return Crossing(worse, "worse_than")
    return Crossing(value_A)


def _wfsc_stat_text(stats: dict | None, wfsc_json: dict | None, nyquist_A: float | None) -> dict:
    """Windowed-FSC median and quartiles in words: a value at a bound is printed as the bound."""
    if stats is None:
        return {}
    out = {}
    for key in ("median_A", "q25_A", "q75_A"):
        crossing = _wfsc_crossing(_num(stats.get(key)), wfsc_json)
        out[key] = "—" if crossing.value_A is None else crossing_text(crossing, nyquist_A)
    return out


def _nyquist(geometry: Any) -> float:
    """Nyquist resolution (Å) of the coarsest axis of a map's grid."""
    return 2.0 * max(geometry.voxel_size_A)


def _summary_crossings(fsc: FSCSummary, nyquist_A: float) -> dict[str, Any]:
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


def build_context(inputs: ReportInputs, data: Loaded, progress: Progress) -> dict[str, Any]:
    """All numbers, tables and images the template shows."""
    lj = data.local_json or {}
    meta = data.meta or {}
    geom = data.local.geometry
    spacing = geom.spacing_zyx_A
    mask = data.mask
    n_mask = int(mask.sum())
    outside = _num(lj.get("outside_value", 100.0))
    loc_ok = figures.resolved_voxels(data.local.data, mask, outside)
    loc_vals = data.local.data[loc_ok]
    loc_stats = figures.resolution_stats(loc_vals, n_mask)
    if data.mask_note is not None:
        loc_stats["unresolved_fraction"] = _num(lj.get("unresolved_fraction"))
    wf_ok = wf_vals = wf_stats = None
    if data.wfsc is not None:
        wf_out = _num((data.wfsc_json or {}).get("outside_value", 100.0))
        wf_ok = figures.resolved_voxels(data.wfsc.data, mask, wf_out)
        wf_vals = data.wfsc.data[wf_ok]
        wf_stats = figures.resolution_stats(wf_vals, n_mask)
    fsc = _fsc_block(data.fsc_json)
    fsc_curves, fsc_diag = fsc.curves, fsc.diag
    head = fsc.headline()
    fsc_lines: dict[str, tuple[float | None, str]] = {}
    headline = None
    if head is not None:
        fsc_lines = {t: (c.value_A, fsc.text(c)) for t, c in head.items()}
        headline = {
            "curve": fsc.main,
            "0.143": fsc.text(head["0.143"]),
            "0.5": fsc.text(head["0.5"]),
        }
    deposited_text = None
    if data.deposited is not None:
        # The deposited curve's top point is wherever its authors stopped: "last shell".
        deposited_text = crossing_text(threshold_crossing(*data.deposited, 0.143))
    wf_text = _wfsc_stat_text(wf_stats, data.wfsc_json, _nyquist(geom))
    wf_notes = _wfsc_bounds(data.wfsc_json, _nyquist(geom))

    progress.say("figures: FSC, slices, histograms")
    images: dict[str, str] = {}
    fsc_notes = [f"{fsc.main} FSC {t}: {text}" for t, (_, text) in fsc_lines.items()]
    if deposited_text is not None:
        fsc_notes.append(f"deposited FSC 0.143: {deposited_text}")
    if fsc_curves or data.deposited is not None:
        images["fsc"] = _data_uri(figures.plot_fsc(fsc_curves, data.deposited, fsc_notes))
    vrange = figures.shared_range(loc_vals, *([wf_vals] if wf_vals is not None else []))
    layers = [("ResMap", _masked_layer(data.local.data, loc_ok))]
    if data.wfsc is not None:
        layers.append(("windowed FSC", _masked_layer(data.wfsc.data, wf_ok)))
    nz, ny, nx = geom.shape
    sections = [
        (f"XY z={nz // 2}", "xy", nz // 2),
        (f"XZ y={ny // 2}", "xz", ny // 2),
        (f"YZ x={nx // 2}", "yz", nx // 2),
    ]
    images["slices"] = _data_uri(
        figures.plot_slices(data.density.data, layers, spacing, vrange, sections)
    )
    gal = figures.gallery_indices(nz, 6, within=mask.any(axis=(1, 2)))
    images["gallery"] = _data_uri(
        figures.plot_slices(
            data.density.data,
            layers,
            spacing,
            vrange,
            [(f"z={i}", "xy", i) for i in gal],
            sections_as_columns=True,
        )
    )
    span = figures.value_span(loc_vals, *([wf_vals] if wf_vals is not None else []))
    edges = figures.histogram_edges(*span, bins=40)
    hists = [("ResMap", figures.local_histogram(loc_vals, n_mask, edges))]
    agree = None
    if wf_vals is not None and wf_ok is not None:
        hists.append(("windowed FSC", figures.local_histogram(wf_vals, n_mask, edges)))
        both = loc_ok & wf_ok
        a, b = data.local.data[both], data.wfsc.data[both]  # type: ignore[union-attr]
        agree = figures.agreement(a, b)
        joint = figures.joint_histogram(a, b, edges)
        images["joint"] = _data_uri(
            figures.plot_joint(joint, edges, "ResMap (Å)", "windowed FSC (Å)")
        )
    images["histograms"] = _data_uri(figures.plot_histograms(hists, fsc_lines))

    wl_rows = []
    waves = lj.get("wavelengths") or []
    for w in waves:
        wl_rows.append(
            {
                "lambda_A": _num(w.get("lambda_A")),
                "sigma2": _num(w.get("sigma2")),
                "radius": w.get("window_radius_vox"),
                "t_unc": _num(w.get("threshold_uncorrected")),
                "t_fdr": _num(w.get("threshold_fdr")),
                "tested": w.get("tested"),
                "assigned": w.get("assigned"),
            }
        )
    if wl_rows:
        images["wavelengths"] = _data_uri(
            figures.plot_wavelengths(
                np.array([r["lambda_A"] or np.nan for r in wl_rows]),
                np.array([r["sigma2"] or np.nan for r in wl_rows]),
                np.array([r["tested"] or 0 for r in wl_rows]),
                np.array([r["assigned"] or 0 for r in wl_rows]),
            )
        )

    progress.say("diagnostics: spectra and mask fit")
    map_spec = figures.radial_power(data.density.data, spacing)
    panels = [("map power spectrum", [("map", *map_spec)])]
    pw = lj.get("prewhitening")
    if isinstance(pw, dict) and pw.get("frequency_invA"):
        panels.append(
            (
                "pre-whitening",
                [
                    ("before", pw["frequency_invA"], pw["spectrum_before"]),
                    ("after", pw["frequency_invA"], pw["spectrum_after"]),
                ],
            )
        )
    ns = lj.get("noise_spectrum")
    noise = None
    if isinstance(ns, dict) and ns.get("frequency_invA"):
        noise = (np.asarray(ns["frequency_invA"], float), np.asarray(ns["power"], float))
        panels.append(("noise spectrum", [("noise", *noise)]))
    images["spectra"] = _data_uri(figures.plot_spectra(panels))
    fit = figures.mask_fit(data.density.data, mask) if data.mask_note is None else None
    findings = figures.diagnose(
        lowpass=lj.get("lowpass"),
        map_spectrum=map_spec,
        noise_spectrum=noise,
        prewhitened=isinstance(pw, dict),
        mask_fit_record=fit,
        mask_source=data.mask_source,
        fsc_curve=fsc_diag,
        unresolved_fraction=loc_stats["unresolved_fraction"],
    )

    emdb_id, emdb_url = emdb_link(meta.get("emdb_id"))
    absent = list(data.notes)
    if data.local_json is not None and not isinstance(pw, dict):
        absent.append("No pre-whitening was applied (or no record of it).")
    if data.local_json is not None and noise is None:
        absent.append("No noise spectrum in the ResMap record.")
    contour = fit["threshold"] if fit and fit["threshold"] is not None else None
    if contour is None:
        d = data.density.data
        contour = float(d.mean(dtype=np.float64) + 3.0 * d.std(dtype=np.float64))

    prov = data.provenance or {}
    inputs_rows = _input_rows(inputs, prov, lj)
    params: list[tuple[str, str]] = []
    _flatten("workflow", prov.get("parameters") or {}, params)
    for key in ("source", "wavelengths_A", "code_fingerprint", "code_fingerprint_params"):
        if key in prov:
            _flatten(f"workflow.{key}", prov[key], params)
    _flatten("local", lj.get("parameters") or {}, params)
    for key in ("seed", "randomise_from_A"):
        if data.fsc_json and key in data.fsc_json:
            _flatten(f"fsc.{key}", data.fsc_json[key], params)
    for key in ("box_vox", "step_vox", "cutoff"):
        if data.wfsc_json and key in data.wfsc_json:
            _flatten(f"wfsc.{key}", data.wfsc_json[key], params)
    versions = [("report", k, v) for k, v in _versions_here().items()]
    for src, rec in (
        ("workflow", prov.get("versions")),
        ("ResMap map", lj.get("versions")),
        ("FSC", (data.fsc_json or {}).get("versions")),
        ("windowed FSC", (data.wfsc_json or {}).get("versions")),
    ):
        if isinstance(rec, dict):
            versions += [(src, str(k), str(v)) for k, v in sorted(rec.items())]

    vox = geom.voxel_size_A
    return {
        "name": inputs.name,
        "title": meta.get("title"),
        "emdb_id": emdb_id,
        "emdb_url": emdb_url,
        "author_resolution_A": _num(meta.get("author_resolution_A")),
        "box": "×".join(str(s) for s in geom.shape[::-1]),
        "voxel_size": "×".join(f"{v:.4g}" for v in vox),
        "mode": lj.get("mode") or ("split" if data.fsc_json else "unknown"),
        "run_date": _run_date(inputs, data.provenance),
        "mask_voxels": n_mask,
        "mask_source": data.mask_source,
        "fsc_rows": fsc.rows,
        "fsc_headline": headline,
        "fsc_notes": fsc_notes,
        "fsc_summary": _summary_crossings(fsc, _nyquist(geom)),
        "deposited_text": deposited_text,
        "wf_text": wf_text,
        "wf_median_bound": _wfsc_crossing((wf_stats or {}).get("median_A"), data.wfsc_json).bound,
        "wf_notes": wf_notes,
        "loc": loc_stats,
        "wf": wf_stats,
        "agree": agree,
        "vrange": vrange,
        "palette": figures.PALETTE,
        "images": images,
        "wavelengths": wl_rows,
        "lowpass": lj.get("lowpass"),
        "findings": findings,
        "absent": absent,
        "inputs": inputs_rows,
        "params": params,
        "versions": versions,
        "rule_seconds": sorted(data.rule_seconds.items()),
        "total_seconds": sum(data.rule_seconds.values()) if data.rule_seconds else None,
        "contour": contour,
        "cxc": {"resmap": f"{inputs.name}_resmap.cxc", "wfsc": f"{inputs.name}_wfsc.cxc"},
    }


def _input_rows(inputs: ReportInputs, prov: dict, lj: dict) -> list[dict[str, str]]:
    """(role, path, sha256) of every input: the report's own files, the workflow's, ResMap's."""
    rows = []
    for role in ("map", "local", "mask", "fsc", "wfsc", "meta", "deposited_fsc", "provenance"):
        p = getattr(inputs, role)
        if p is not None and Path(p).is_file():
            rows.append({"role": f"report: {role}", "path": str(p), "sha256": sha256_file(p)})
    for src, rec in (("workflow", prov.get("inputs")), ("ResMap", lj.get("inputs"))):
        for item in rec or []:
            if isinstance(item, dict):
                rows.append(
                    {
                        "role": f"{src}: {item['role']}" if item.get("role") else src,
                        "path": str(item.get("path", "")),
                        "sha256": str(item.get("sha256", "")),
                    }
                )
    return rows


# ----------------------------------------------------------------------------------------------
# Rendering and writing
# ----------------------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 2, unit: str = "") -> str:
    """Number with ``digits`` decimals (and unit), or an em dash when absent."""
    v = _num(value)
    if v is None:
        return "—"
    return f"{v:.{digits}f}{(' ' + unit) if unit else ''}"


def _pct(value: Any) -> str:
    """Fraction as a percentage, or an em dash."""
    v = _num(value)
    return "—" if v is None else f"{100 * v:.1f} %"


def _crossing_filter(value: Any, bound: Any = None, nyquist_A: Any = None) -> str:
    """A resolution with its bound in words (summary.json fields), or an em dash when absent."""
    crossing = Crossing.from_record({"value_A": value, "bound": bound})
    return "—" if crossing.value_A is None else crossing_text(crossing, _num(nyquist_A))


def environment() -> jinja2.Environment:
    """Jinja2 environment over the package templates: autoescape always on, strict undefined."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["crossing"] = _crossing_filter
    env.filters["pct"] = _pct
    return env


def render_report(context: dict[str, Any]) -> str:
    """The report page as HTML text."""
    return environment().get_template("report.html.j2").render(**context)


_UNSAFE_CXC = re.compile(r'["\n\r;#]')


def _cxc_path(target: Path, report_dir: Path) -> str:
    """Path of ``target`` relative to the report folder, POSIX style, checked for quoting."""
    rel = Path(os.path.relpath(target.resolve(), report_dir.resolve())).as_posix()
    if _UNSAFE_CXC.search(rel):
        raise InputError(
            f'{target}: the path holds a character (" ; # or newline) that a '
            "ChimeraX script cannot quote; rename the file."
        )
    return rel


def chimerax_script(
    map_rel: str,
    values_rel: str | None,
    what: str,
    vrange_A: tuple[float, float],
    contour: float,
) -> str:
    """A ChimeraX ``.cxc`` that shows the map's surface coloured by a local-resolution map.

    Paths are relative to the script's folder (ChimeraX runs a ``.cxc`` from its own folder).
    """
    lines = [
        f"# ChimeraX: surface of the map coloured by {what} (Å), palette {figures.PALETTE}",
        f"# range {vrange_A[0]:.2f}-{vrange_A[1]:.2f} Å, the same as in the HTML report.",
        "# Paths are relative to this script's folder; open it with: open THIS_FILE.cxc",
        f'open "{map_rel}" format mrc',
        f"volume #1 style surface level {contour:.6g} step 1",
    ]
    if values_rel is None:
        lines.append(f"# No {what} map was given to the report; only the map is shown.")
        return "\n".join(lines) + "\n"
    stops = figures.palette_stops(*vrange_A)
    palette = ":".join(f"{v:.2f},{c}" for v, c in stops)
    key = " ".join(f"{c}:{v:.1f}" for v, c in stops)
    lines += [
        f'open "{values_rel}" format mrc',
        "volume #2 hide",
        f"color sample #1 map #2 palette {palette}",
        f"key {key} pos 0.78,0.08 size 0.2,0.03",
        "2dlabels text 'local resolution (Å)' xpos 0.78 ypos 0.12 size 16",
        "view",
    ]
    return "\n".join(lines) + "\n"


def summary_record(context: dict[str, Any]) -> dict[str, Any]:
    """The small record ``summary.json`` that the run index reads."""
    return {
        "name": context["name"],
        "title": context["title"],
        "emdb_id": context["emdb_id"],
        "mode": context["mode"],
        "author_resolution_A": context["author_resolution_A"],
        **context["fsc_summary"],
        "resmap_median_A": context["loc"]["median_A"],
        "unresolved_fraction": context["loc"]["unresolved_fraction"],
        "wfsc_median_A": context["wf"]["median_A"] if context["wf"] else None,
        "wfsc_median_bound": context["wf_median_bound"],
        "spearman": context["agree"]["spearman"] if context["agree"] else None,
        "warnings": [f.code for f in context["findings"]],
        "report": "index.html",
    }


def build_report(inputs: ReportInputs, quiet: bool = False) -> dict[str, Any]:
    """Write index.html, the two ChimeraX scripts and summary.json; return the summary."""
    progress = Progress(quiet, prefix="resmap report")
    progress.say(f"reading inputs of {inputs.name}")
    data = load(inputs)
    context = build_context(inputs, data, progress)
    out_dir = inputs.out.parent
    map_rel = _cxc_path(inputs.map, out_dir)
    scripts = {
        context["cxc"]["resmap"]: chimerax_script(
            map_rel,
            _cxc_path(inputs.local, out_dir),
            "ResMap local resolution",
            context["vrange"],
            context["contour"],
        ),
        context["cxc"]["wfsc"]: chimerax_script(
            map_rel,
            _cxc_path(inputs.wfsc, out_dir) if inputs.wfsc else None,
            "windowed-FSC local resolution",
            context["vrange"],
            context["contour"],
        ),
    }
    html = render_report(context)
    summary = summary_record(context)
    for name, text in scripts.items():
        write_text(out_dir / name, text)
    write_json(out_dir / "summary.json", summary)
    write_text(inputs.out, html)
    progress.say(f"wrote {inputs.out}")
    return summary


_SUMMARY_KEYS = (
    "name",
    "title",
    "emdb_id",
    "mode",
    "author_resolution_A",
    "fsc_curve",
    "fsc_0143_A",
    "fsc_0143_bound",
    "fsc_05_A",
    "fsc_05_bound",
    "nyquist_A",
    "resmap_median_A",
    "unresolved_fraction",
    "wfsc_median_A",
    "wfsc_median_bound",
    "spearman",
    "warnings",
)


def build_index(out: Path, sources: list[Path], quiet: bool = False) -> None:
    """Index page of a run: one row per dataset, from each report's ``summary.json``."""
    progress = Progress(quiet, prefix="resmap report-index")
    rows = []
    for src in sources:
        path = src / "summary.json" if src.is_dir() else src
        rec = read_json(path, "report summary")
        if "name" not in rec:
            raise InputError(f"{path}: not a report summary (no 'name').")
        rec = {k: rec.get(k) for k in _SUMMARY_KEYS}
        if not isinstance(rec["warnings"], list):
            rec["warnings"] = []
        # The link is built from the summary's own location only, never from its text.
        target = path.parent / "index.html"
        rel = Path(os.path.relpath(target.resolve(), out.parent.resolve())).as_posix()
        rec["href"] = rel if rel.startswith("../") else "./" + rel
        rows.append(rec)
    rows.sort(key=lambda r: str(r["name"]))
    html = environment().get_template("index.html.j2").render(rows=rows)
    write_text(out, html)
    progress.say(f"wrote {out} ({len(rows)} datasets)")
