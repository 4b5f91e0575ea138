"""Reading and validating a report's inputs: maps, LOCAL.json, FSC.json, WFSC.json, the
band-energy map and its record, the dataset metadata, the deposited EMDB FSC curve and the run's
provenance and benchmark times.

``load`` assembles named parts (:class:`MaskChoice`, :class:`WindowedFSC`, :class:`BandEnergy`,
:class:`RunRecord`) into :class:`Loaded`. Optional inputs that are absent become sentences in
``Loaded.notes`` (shown under "Not in this report"); inconsistent ones raise
:class:`InputError`.
"""

from __future__ import annotations

import gzip
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import mrcfile
import numpy as np

from resmap_core.errors import InputError
from resmap_core.io.mrc import MapData, read_map, read_mask
from resmap_core.io.records.fsc import FSCRecord
from resmap_core.io.records.wfsc import WFSCRecord
from resmap_core.report.records import finite_float, read_json, sidecar_json
from resmap_core.report.runtimes import provenance_seconds, read_benchmarks
from resmap_core.report.statistics import resolved_voxels

_SINGLE_MODE = " (single-map mode has no half maps)"


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
    band: Path | None = None
    meta: Path | None = None
    deposited_fsc: Path | None = None
    provenance: Path | None = None
    benchmarks: Path | None = None
    model: Path | None = None
    atoms: Path | None = None


@dataclass(frozen=True)
class ModelFile:
    """A fitted model for the 3D view: the file's text (gzip undone), Mol*'s format name
    (``"mmcif"`` or ``"pdb"``) and the file's name. The page parses it; the report does not."""

    text: bytes
    format: str
    name: str


@dataclass(frozen=True)
class MaskChoice:
    """The voxels statistics cover: bool ``[z, y, x]`` on the local-resolution map's grid.

    ``note`` is set when no mask was found: ``voxels`` are then the resolved voxels and the
    unresolved fraction must come from LOCAL.json. ``source`` is LOCAL.json's ``mask.source``.
    """

    voxels: np.ndarray
    note: str | None
    source: str | None


@dataclass(frozen=True)
class WindowedFSC:
    """The windowed-FSC map (Å, ``[z, y, x]``) and its WFSC.json (None when absent): ``typed``
    read by :meth:`WFSCRecord.from_json`; ``record`` the object as written, for the provenance
    tables that list its keys verbatim."""

    map: MapData
    record: dict | None
    typed: WFSCRecord | None = None


@dataclass(frozen=True)
class BandEnergy:
    """The band-energy map (Å, ``[z, y, x]``; ``resmap fdr --estimator band``) and its LOCAL.json
    as written; ``width`` and ``window`` are the estimator's constants from the record's
    ``estimator`` (shell sd in units of 1/λ, window sd in units of λ; None when not numbers)."""

    map: MapData
    record: dict
    width: float | None
    window: float | None


@dataclass(frozen=True)
class RunRecord:
    """The workflow's provenance record (None when not given) and run time (s) per rule."""

    provenance: dict | None
    rule_seconds: dict[str, float]


@dataclass
class Loaded:
    """Everything read from disk, already validated; ``notes`` say which parts are absent."""

    density: MapData
    local: MapData
    local_json: dict | None
    mask: MaskChoice
    fsc_json: dict | None
    fsc: FSCRecord | None
    wfsc: WindowedFSC | None
    meta: dict | None
    deposited: tuple[np.ndarray, np.ndarray] | None
    run: RunRecord
    notes: list[str] = field(default_factory=list)
    model: ModelFile | None = None
    labels: list[tuple[str, str]] = field(default_factory=list)
    band: BandEnergy | None = None

    @property
    def wfsc_json(self) -> dict | None:
        """WFSC.json (None without a windowed-FSC map or without its record)."""
        return self.wfsc.record if self.wfsc is not None else None

    @property
    def wfsc_record(self) -> WFSCRecord | None:
        """WFSC.json read by :meth:`WFSCRecord.from_json` (None where :attr:`wfsc_json` is)."""
        return self.wfsc.typed if self.wfsc is not None else None


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


def read_on_grid(path: Path, like: MapData, what: str, allow_nan: bool = False) -> MapData:
    """Read a map that must lie on ``like``'s grid (same shape, in voxels).

    Every spacing the report uses is ``like``'s, so the map is read with ``like``'s voxel size:
    a header without one (CELLA zero) is then no error, and no other header field is used.
    """
    m = read_map(path, voxel_size_A=like.geometry.voxel_size_A[0], allow_nan=allow_nan)
    if m.geometry.shape != like.geometry.shape:
        raise InputError(
            f"{path}: the {what} is {m.geometry.shape[::-1]} voxels but the local-resolution map "
            f"is {like.geometry.shape[::-1]}; both must be on the same grid."
        )
    return m


def _local_record(local_path: Path, notes: list[str]) -> dict | None:
    """LOCAL.json beside the local-resolution map, or None (and a note) when there is none."""
    path = sidecar_json(local_path)
    if path.is_file():
        return read_json(path, "ResMap record")
    notes.append(
        f"No ResMap record ({path.name}) beside the local-resolution map: "
        "no per-wavelength table, spectra or parameters."
    )
    return None


def _choose_mask(
    given: Path | None, local: MapData, local_json: dict | None, notes: list[str]
) -> MaskChoice:
    """The ``--mask``, else the mask file LOCAL.json names (if it still exists), else the
    resolved voxels of the local-resolution map (with a note)."""
    record = (local_json or {}).get("mask") or {}
    path = given
    if path is None and record.get("path") and Path(str(record["path"])).is_file():
        path = Path(str(record["path"]))
    if path is not None:
        voxels = read_mask(path, local.geometry, check_voxel_size=False)
        return MaskChoice(voxels, None, record.get("source"))
    outside = finite_float((local_json or {}).get("outside_value", 100.0))
    voxels = resolved_voxels(local.data, np.ones(local.geometry.shape, bool), outside)
    note = (
        "No mask was given: statistics cover the resolved voxels only and the "
        "unresolved fraction comes from the ResMap record."
    )
    notes.append(note)
    return MaskChoice(voxels, note, record.get("source"))


def _fsc_record(
    path: Path | None, mode: str | None, notes: list[str]
) -> tuple[dict | None, FSCRecord | None]:
    """FSC.json as written and read by :meth:`FSCRecord.from_json` (which needs
    ``frequency_invA``), or (None, None) with a note."""
    if path is None:
        notes.append(f"No gold-standard FSC{_SINGLE_MODE if mode == 'single' else ''}.")
        return None, None
    record = read_json(path, "FSC record")
    try:
        return record, FSCRecord.from_json(record)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def map_with_record(path: Path, local: MapData, what: str) -> tuple[MapData, dict | None]:
    """A map of ``what`` on the local-resolution map's grid (NaN allowed) and the JSON record
    beside it (``X.mrc`` → ``X.json``; None when there is none)."""
    values = read_on_grid(path, local, f"{what} map", allow_nan=True)
    side = sidecar_json(path)
    return values, read_json(side, f"{what} record") if side.is_file() else None


def _windowed_fsc(
    path: Path | None, local: MapData, mode: str | None, notes: list[str]
) -> WindowedFSC | None:
    """The windowed-FSC map and the WFSC.json beside it, or None with a note."""
    if path is None:
        why = _SINGLE_MODE if mode == "single" else ""
        notes.append(f"No windowed-FSC map{why}: no comparison with ResMap.")
        return None
    wfsc, record = map_with_record(path, local, "windowed-FSC")
    if record is None:
        return WindowedFSC(wfsc, None)
    return WindowedFSC(wfsc, record, WFSCRecord.from_json(record))


def _band_energy(path: Path | None, local: MapData, notes: list[str]) -> BandEnergy | None:
    """The band-energy map and the record beside it, or None with a note. The record is
    required and must be the band estimator's: it names the constants the page shows."""
    if path is None:
        notes.append("No band-energy map (the second estimator, docs/band-energy.md).")
        return None
    band, record = map_with_record(path, local, "band-energy")
    side = sidecar_json(path)
    if record is None:
        raise InputError(
            f"{path}: no record {side.name} beside the band-energy map; it names the estimator "
            "and its constants."
        )
    estimator = record.get("estimator")
    if not isinstance(estimator, dict) or estimator.get("name") != "band":
        name = estimator.get("name") if isinstance(estimator, dict) else None
        raise InputError(
            f"{side}: the record is of the estimator {name or 'resmap'!r}, not band energy "
            "(resmap fdr --estimator band)."
        )
    width, window = (finite_float(estimator.get(k)) for k in ("band_width", "band_window"))
    return BandEnergy(band, record, width, window)


def _deposited_curve(path: Path | None, notes: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """The deposited FSC curve, or None with a note (also when it cannot be read)."""
    if path is None:
        notes.append("No deposited EMDB FSC curve.")
        return None
    try:
        if not path.is_file():
            raise InputError(f"{path}: no such file.")
        return parse_deposited_fsc(path)
    except InputError as exc:
        # Third-party data: a broken deposited curve must not cost the whole report.
        notes.append(f"The deposited FSC could not be read: {exc}")
        return None


def _run_record(inputs: ReportInputs, notes: list[str]) -> RunRecord:
    """The provenance record and per-rule seconds (benchmarks override the record)."""
    provenance = read_json(inputs.provenance, "provenance") if inputs.provenance else None
    rule_seconds: dict[str, float] = {}
    if provenance:
        rule_seconds.update(provenance_seconds(provenance))
    if inputs.benchmarks is not None:
        rule_seconds.update(read_benchmarks(inputs.benchmarks))
    if not rule_seconds:
        notes.append("No per-rule run times (no --provenance rule_seconds or --benchmarks).")
    return RunRecord(provenance, rule_seconds)


def read_model_file(path: Path) -> ModelFile:
    """The model file for the 3D view: mmCIF or PDB by name (``.cif``, ``.mmcif``, ``.pdb``,
    ``.ent``, optionally ``.gz``), gzip undone; InputError naming the file otherwise."""
    from resmap_core.io.model import model_format  # gemmi only when a model is given

    fmt = model_format(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file (fitted model).")
    raw = path.read_bytes()
    try:
        text = gzip.decompress(raw) if path.name.lower().endswith(".gz") else raw
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable gzip file ({exc}).") from None
    return ModelFile(text, fmt, path.name)


def map_labels(local_json: dict | None) -> list[tuple[str, str]]:
    """(file name, label) of every header label of the maps LOCAL.json lists as inputs (the
    half maps or the map), e.g. "SIMULATED half map 1 ..." of the demo. Files that no longer
    exist where the record says, or cannot be read, are skipped: labels are context only."""
    out: list[tuple[str, str]] = []
    for item in (local_json or {}).get("inputs") or []:
        path = Path(str(item.get("path", ""))) if isinstance(item, dict) else None
        if path is None or not path.is_file():
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with mrcfile.open(path, header_only=True, permissive=True) as mrc:
                    count = min(int(mrc.header.nlabl), 10)
                    raw = [bytes(mrc.header.label[i]) for i in range(count)]
        except (ValueError, OSError, EOFError):
            continue
        for label in raw:
            text = label.decode("ascii", errors="replace").strip().strip("\x00").strip()
            if text:
                out.append((path.name, text))
    return out


def load(inputs: ReportInputs) -> Loaded:
    """Read and validate every input; optional parts missing become notes in the report.

    The steps run in the order the notes are listed in the report.
    """
    notes: list[str] = []
    local = read_map(inputs.local, allow_nan=True)
    density = read_on_grid(inputs.map, local, "map")
    local_json = _local_record(inputs.local, notes)
    mode = (local_json or {}).get("mode")
    fsc_json, fsc = _fsc_record(inputs.fsc, mode, notes)
    return Loaded(
        density=density,
        local=local,
        local_json=local_json,
        mask=_choose_mask(inputs.mask, local, local_json, notes),
        fsc_json=fsc_json,
        fsc=fsc,
        wfsc=_windowed_fsc(inputs.wfsc, local, mode, notes),
        band=_band_energy(inputs.band, local, notes),
        meta=read_json(inputs.meta, "dataset metadata") if inputs.meta else None,
        deposited=_deposited_curve(inputs.deposited_fsc, notes),
        run=_run_record(inputs, notes),
        notes=notes,
        model=read_model_file(inputs.model) if inputs.model is not None else None,
        labels=map_labels(local_json),
    )
