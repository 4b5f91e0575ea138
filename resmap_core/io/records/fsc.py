"""Typed records of ``resmap fsc`` (FSC.json) and ``resmap wfsc`` (WFSC.json).

Frozen dataclasses whose :meth:`to_json` gives exactly the keys and values of the files
(docs/outputs.md; written with sorted keys, so key order does not matter) and whose
:meth:`from_json` also reads the older forms the report reads: bare numbers under
``resolutions``, no ``*_bound`` fields, no ``nyquist_A``, masks without ``binary``, and WFSC.json
files holding only a few fields. Resolutions are in Å, frequencies in Å⁻¹.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from resmap_core.errors import InputError
from resmap_core.fsc.crossing import BOUNDS, Crossing, nyquist_A
from resmap_core.io.mrc import sha256_file

#: Curves of FSC.json that carry resolutions, in the order they are shown.
CURVES = ("unmasked", "masked", "corrected")

Curve = tuple[float | None, ...]
CurveCrossings = dict[str, Crossing]  # threshold ("0.143", "0.5", "halfbit") -> crossing


def _number(value: Any) -> float | None:
    """A finite float from a JSON value, else None (bools are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _numbers(values: Any) -> tuple[float | None, ...] | None:
    """A JSON list of numbers (null entries kept as None); None when it is not a list."""
    return tuple(_number(v) for v in values) if isinstance(values, list) else None


def _integer(value: Any) -> int | None:
    """An int from a JSON value (bools are not), else None."""
    return _of(int, value)


def _integers(values: Any) -> tuple[int, ...] | None:
    """A JSON list of integers; None when it is not one."""
    if not isinstance(values, list):
        return None
    out = tuple(_integer(v) for v in values)
    return None if None in out else out  # type: ignore[return-value]


def _list(values: tuple | None) -> list | None:
    """A tuple field as its JSON list (None stays null)."""
    return None if values is None else list(values)


def _of(kind: type, value: Any) -> Any:
    """``value`` when it is a ``kind`` (a bool is not an int here), else None."""
    ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    return value if ok else None


class _Flat:
    """``to_json`` of a record whose fields are JSON scalars named as their keys."""

    def to_json(self) -> dict[str, Any]:
        """``{field: value}`` in field order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class InputFile(_Flat):
    """One input map: its path as given and the SHA-256 of its bytes."""

    path: str
    sha256: str | None

    @classmethod
    def hashed(cls, path: str) -> InputFile:
        """The file at ``path`` with its checksum (reads the file)."""
        return cls(path, sha256_file(path))

    @classmethod
    def from_json(cls, record: Any) -> InputFile:
        """Read :meth:`to_json`'s form (missing fields: None)."""
        record = _of(dict, record) or {}
        return cls(str(record.get("path", "")), record.get("sha256"))


def _inputs(records: Any) -> tuple[InputFile, ...]:
    """The ``inputs`` list of a record (anything else: none)."""
    return tuple(InputFile.from_json(r) for r in records) if isinstance(records, list) else ()


@dataclass(frozen=True)
class FSCMaskRecord(_Flat):
    """The ``mask`` entry of FSC.json.

    ``source`` "given" | "auto"; ``voxels``: count above 0.5; ``binary``: whether the mask was
    binary before any edge was added (None in records written before masks were used as given);
    ``soft_edge_A``: the raised-cosine edge added (Å), None when used as it came.
    """

    source: str | None
    path: str | None
    voxels: int | None
    binary: bool | None
    soft_edge_A: float | None

    @classmethod
    def from_json(cls, record: Any) -> FSCMaskRecord | None:
        """Read :meth:`to_json`'s form or an older one (missing fields: None)."""
        if not isinstance(record, dict):
            return None
        return cls(
            record.get("source"),
            record.get("path"),
            _integer(record.get("voxels")),
            _of(bool, record.get("binary")),
            _number(record.get("soft_edge_A")),
        )


def _read_crossing(value: Any, top_A: float | None) -> Crossing:
    """A crossing of FSC.json; a bare number (records before bounds existed) that equals the top
    shell's resolution ``top_A`` was the old never-crossed fallback: a "better_than" bound."""
    crossing = Crossing.from_record(value)
    if isinstance(value, dict) or crossing.value_A is None or top_A is None:
        return crossing
    # numpy.isclose's default tolerances, as the report has always compared them
    if abs(crossing.value_A - top_A) <= 1e-8 + 1e-5 * abs(top_A):
        return Crossing(crossing.value_A, "better_than")
    return crossing


def _read_resolutions(record: Any, top_A: float | None) -> dict[str, CurveCrossings | None]:
    """``resolutions`` of FSC.json: per curve, its crossings (a curve absent: None)."""
    record = _of(dict, record) or {}
    out: dict[str, CurveCrossings | None] = {}
    for name in CURVES:
        by_threshold = record.get(name)
        out[name] = (
            {str(t): _read_crossing(v, top_A) for t, v in by_threshold.items()}
            if isinstance(by_threshold, dict) and by_threshold
            else None
        )
    return out


@dataclass(frozen=True)
class FSCCurves:
    """The curves and resolutions of FSC.json (one value per shell in every curve).

    ``resolutions``: per curve of :data:`CURVES`, {"0.143"|"0.5"|"halfbit": Crossing}, None for a
    curve absent for lack of a mask. ``resolution_curve``: the curve quoted by the headline
    ``resolution_0143``/``resolution_05`` (written flat as ``resolution_0143_A`` and
    ``resolution_0143_bound``). ``nyquist_A``: of the coarsest axis, to name a bound at the top.
    """

    frequency_invA: tuple[float, ...]
    shell_voxels: tuple[int, ...] | None
    fsc_unmasked: Curve | None
    fsc_masked: Curve | None
    fsc_randomised: Curve | None
    fsc_corrected: Curve | None
    halfbit: Curve | None
    randomise_from_A: float | None
    nyquist_A: float | None
    resolutions: dict[str, CurveCrossings | None]
    resolution_curve: str
    resolution_0143: Crossing
    resolution_05: Crossing

    def to_json(self) -> dict[str, Any]:
        """The curve and resolution keys of FSC.json."""
        return {
            "frequency_invA": list(self.frequency_invA),
            "shell_voxels": _list(self.shell_voxels),
            "fsc_unmasked": _list(self.fsc_unmasked),
            "fsc_masked": _list(self.fsc_masked),
            "fsc_randomised": _list(self.fsc_randomised),
            "fsc_corrected": _list(self.fsc_corrected),
            "halfbit": _list(self.halfbit),
            "randomise_from_A": self.randomise_from_A,
            "nyquist_A": self.nyquist_A,
            "resolutions": {
                name: None if c is None else {t: x.to_record() for t, x in c.items()}
                for name, c in self.resolutions.items()
            },
            "resolution_curve": self.resolution_curve,
            "resolution_0143_A": self.resolution_0143.value_A,
            "resolution_0143_bound": self.resolution_0143.bound,
            "resolution_05_A": self.resolution_05.value_A,
            "resolution_05_bound": self.resolution_05.bound,
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> FSCCurves:
        """Read the curve part of FSC.json, current or older; needs ``frequency_invA``."""
        freq = _numbers(record.get("frequency_invA"))
        if freq is None:
            raise InputError("the FSC record has no 'frequency_invA'.")
        top = freq[-1] if len(freq) > 1 else None
        top_A = 1.0 / top if top is not None and top > 0 else None
        resolutions = _read_resolutions(record.get("resolutions"), top_A)
        main = record.get("resolution_curve")
        if main not in CURVES or resolutions.get(main) is None:
            main = "corrected" if resolutions["corrected"] else "unmasked"
        head = resolutions.get(main) or {}
        return cls(
            frequency_invA=tuple(0.0 if f is None else f for f in freq),
            shell_voxels=_integers(record.get("shell_voxels")),
            fsc_unmasked=_numbers(record.get("fsc_unmasked")),
            fsc_masked=_numbers(record.get("fsc_masked")),
            fsc_randomised=_numbers(record.get("fsc_randomised")),
            fsc_corrected=_numbers(record.get("fsc_corrected")),
            halfbit=_numbers(record.get("halfbit")),
            randomise_from_A=_number(record.get("randomise_from_A")),
            nyquist_A=_record_nyquist(record),
            resolutions=resolutions,
            resolution_curve=main,
            resolution_0143=head.get("0.143") or _flat_crossing(record, "0143"),
            resolution_05=head.get("0.5") or _flat_crossing(record, "05"),
        )


def _record_nyquist(record: dict[str, Any]) -> float | None:
    """``nyquist_A`` of a record; older records: from their ``voxel_size_A``."""
    value = _number(record.get("nyquist_A"))
    sizes = [v for v in _numbers(record.get("voxel_size_A")) or () if v is not None]
    return value if value is not None or not sizes else nyquist_A(tuple(sizes))


def _flat_crossing(record: dict[str, Any], tag: str) -> Crossing:
    """The headline ``resolution_{tag}_A``/``_bound`` pair, for records without resolutions."""
    bound = record.get(f"resolution_{tag}_bound")
    return Crossing.from_record({"value_A": record.get(f"resolution_{tag}_A"), "bound": bound})


@dataclass(frozen=True)
class FSCRecord:
    """FSC.json: the curves and resolutions, and how they were measured (docs/outputs.md)."""

    curves: FSCCurves
    voxel_size_A: tuple[float, ...] | None
    mask: FSCMaskRecord | None
    inputs: tuple[InputFile, ...]
    seed: int | None
    versions: dict[str, str] | None
    seconds: float | None

    def to_json(self) -> dict[str, Any]:
        """Every key of FSC.json."""
        return self.curves.to_json() | {
            "voxel_size_A": _list(self.voxel_size_A),
            "mask": None if self.mask is None else self.mask.to_json(),
            "inputs": [i.to_json() for i in self.inputs],
            "seed": self.seed,
            "versions": self.versions,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> FSCRecord:
        """Read FSC.json, current or older (:meth:`FSCCurves.from_json`)."""
        sizes = _numbers(record.get("voxel_size_A"))
        return cls(
            curves=FSCCurves.from_json(record),
            voxel_size_A=None if sizes is None or None in sizes else sizes,  # type: ignore[arg-type]
            mask=FSCMaskRecord.from_json(record.get("mask")),
            inputs=_inputs(record.get("inputs")),
            seed=_integer(record.get("seed")),
            versions=_of(dict, record.get("versions")),
            seconds=_number(record.get("seconds")),
        )


# ----------------------------------------------------------------------------- WFSC.json


@dataclass(frozen=True)
class BoundShare(_Flat):
    """Voxels of the mask whose box FSC did not cross the cutoff: the bound's value (Å) and the
    fraction of the mask voxels at it."""

    value_A: float | None
    fraction: float | None


@dataclass(frozen=True)
class WFSCSummary:
    """Statistics (Å) of a windowed-FSC map inside the mask, and its bounds.

    ``bounds``: {"better_than"|"worse_than": BoundShare}; ``median_bound``: whether the median
    itself sits at one of them (None: a measured value).
    """

    median_A: float | None
    mean_A: float | None
    quartiles_A: tuple[float, ...] | None
    min_A: float | None
    max_A: float | None
    unresolved_fraction: float | None
    bounds: dict[str, BoundShare] | None
    median_bound: str | None

    def to_json(self) -> dict[str, Any]:
        """The summary keys of WFSC.json (also those of its ``other_cutoff``)."""
        return {
            "median_A": self.median_A,
            "mean_A": self.mean_A,
            "quartiles_A": _list(self.quartiles_A),
            "min_A": self.min_A,
            "max_A": self.max_A,
            "unresolved_fraction": self.unresolved_fraction,
            "bounds": None
            if self.bounds is None
            else {k: b.to_json() for k, b in self.bounds.items()},
            "median_bound": self.median_bound,
        }

    @classmethod
    def from_json(cls, record: Any) -> WFSCSummary:
        """Read :meth:`to_json`'s form; missing fields (older records) are None."""
        record = _of(dict, record) or {}
        quartiles = _numbers(record.get("quartiles_A"))
        bounds = _of(dict, record.get("bounds"))
        return cls(
            median_A=_number(record.get("median_A")),
            mean_A=_number(record.get("mean_A")),
            quartiles_A=None if quartiles is None or None in quartiles else quartiles,
            min_A=_number(record.get("min_A")),
            max_A=_number(record.get("max_A")),
            unresolved_fraction=_number(record.get("unresolved_fraction")),
            bounds=None if bounds is None else _read_bounds(bounds),
            median_bound=_bound(record.get("median_bound")),
        )


def _bound(value: Any) -> str | None:
    """One of :data:`BOUNDS`, else None."""
    return value if value in BOUNDS else None


def _read_bounds(record: dict[str, Any]) -> dict[str, BoundShare]:
    """``bounds`` of WFSC.json (a malformed entry reads as unknown values)."""
    out = {}
    for kind in BOUNDS:
        entry = _of(dict, record.get(kind)) or {}
        out[kind] = BoundShare(_number(entry.get("value_A")), _number(entry.get("fraction")))
    return out


@dataclass(frozen=True)
class OtherCutoff:
    """The map at the second cutoff, written beside the main one: its cutoff, file name and
    summary (``other_cutoff`` of WFSC.json)."""

    cutoff: float | None
    path: str | None
    summary: WFSCSummary

    def to_json(self) -> dict[str, Any]:
        """``{cutoff, path, <summary keys>}``."""
        return {"cutoff": self.cutoff, "path": self.path, **self.summary.to_json()}

    @classmethod
    def from_json(cls, record: Any) -> OtherCutoff | None:
        """Read :meth:`to_json`'s form (None when absent)."""
        if not isinstance(record, dict):
            return None
        path = _of(str, record.get("path"))
        return cls(_number(record.get("cutoff")), path, WFSCSummary.from_json(record))


@dataclass(frozen=True)
class WFSCMask(_Flat):
    """The ``mask`` entry of WFSC.json: "given" (``path``) or "auto" (no path). It only chose
    the box centres (voxels above 0.5); it never multiplied the maps."""

    source: str | None
    path: str | None

    @classmethod
    def from_json(cls, record: Any) -> WFSCMask | None:
        """Read :meth:`to_json`'s form (None when absent)."""
        if not isinstance(record, dict):
            return None
        return cls(record.get("source"), record.get("path"))


def _outside_json(value: float | None) -> float | str | None:
    """``outside_value`` as written: "nan" for NaN, else the value (Å)."""
    return "nan" if value is not None and math.isnan(value) else value


def _outside_read(value: Any) -> float | None:
    """``outside_value`` from a record ("nan" or a number)."""
    return math.nan if value == "nan" else _number(value)


@dataclass(frozen=True)
class WFSCRecord:
    """WFSC.json (docs/outputs.md): the summary at ``cutoff``, the options used, and the map at
    the other cutoff. ``mask`` is {"source", "path"}; ``outside_value`` in Å (NaN: "nan")."""

    summary: WFSCSummary
    box_vox: int | None
    step_vox: int | None
    cutoff: float | None
    corrected: bool | None
    seed: int | None
    outside_value: float | None
    mask_voxels: int | None
    mask: WFSCMask | None
    voxel_size_A: tuple[float, ...] | None
    other_cutoff: OtherCutoff | None
    inputs: tuple[InputFile, ...]
    versions: dict[str, str] | None
    seconds: float | None

    def to_json(self) -> dict[str, Any]:
        """Every key of WFSC.json."""
        return self.summary.to_json() | {
            "box_vox": self.box_vox,
            "step_vox": self.step_vox,
            "cutoff": self.cutoff,
            "corrected": self.corrected,
            "seed": self.seed,
            "outside_value": _outside_json(self.outside_value),
            "mask_voxels": self.mask_voxels,
            "mask": None if self.mask is None else self.mask.to_json(),
            "voxel_size_A": _list(self.voxel_size_A),
            "other_cutoff": None if self.other_cutoff is None else self.other_cutoff.to_json(),
            "inputs": [i.to_json() for i in self.inputs],
            "versions": self.versions,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> WFSCRecord:
        """Read WFSC.json, current or older (any field may be missing: None)."""
        sizes = _numbers(record.get("voxel_size_A"))
        return cls(
            summary=WFSCSummary.from_json(record),
            box_vox=_integer(record.get("box_vox")),
            step_vox=_integer(record.get("step_vox")),
            cutoff=_number(record.get("cutoff")),
            corrected=_of(bool, record.get("corrected")),
            seed=_integer(record.get("seed")),
            outside_value=_outside_read(record.get("outside_value")),
            mask_voxels=_integer(record.get("mask_voxels")),
            mask=WFSCMask.from_json(record.get("mask")),
            voxel_size_A=None if sizes is None or None in sizes else sizes,  # type: ignore[arg-type]
            other_cutoff=OtherCutoff.from_json(record.get("other_cutoff")),
            inputs=_inputs(record.get("inputs")),
            versions=_of(dict, record.get("versions")),
            seconds=_number(record.get("seconds")),
        )
