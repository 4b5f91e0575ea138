"""Typed record of ``resmap fsc`` (FSC.json); WFSC.json is in :mod:`.wfsc`.

Frozen dataclasses whose :meth:`to_json` gives exactly the keys and values of the files
(docs/outputs.md; written with sorted keys, so key order does not matter) and whose
:meth:`from_json` also reads the older forms the report reads: bare numbers under
``resolutions``, no ``*_bound`` fields, no ``nyquist_A``, masks without ``binary``, and WFSC.json
files holding only a few fields. Resolutions are in Å, frequencies in Å⁻¹.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resmap_core.errors import InputError
from resmap_core.fsc.crossing import Crossing, nyquist_A
from resmap_core.io.records.common import (
    Flat,
    InputFile,
    as_list,
    inputs_of,
    integer,
    integers,
    number,
    numbers,
    of,
)

#: Curves of FSC.json that carry resolutions, in the order they are shown.
CURVES = ("unmasked", "masked", "corrected")

Curve = tuple[float | None, ...]
CurveCrossings = dict[str, Crossing]  # threshold ("0.143", "0.5", "halfbit") -> crossing


@dataclass(frozen=True)
class FSCMaskRecord(Flat):
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
            integer(record.get("voxels")),
            of(bool, record.get("binary")),
            number(record.get("soft_edge_A")),
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
    record = of(dict, record) or {}
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
            "shell_voxels": as_list(self.shell_voxels),
            "fsc_unmasked": as_list(self.fsc_unmasked),
            "fsc_masked": as_list(self.fsc_masked),
            "fsc_randomised": as_list(self.fsc_randomised),
            "fsc_corrected": as_list(self.fsc_corrected),
            "halfbit": as_list(self.halfbit),
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
        freq = numbers(record.get("frequency_invA"))
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
            shell_voxels=integers(record.get("shell_voxels")),
            fsc_unmasked=numbers(record.get("fsc_unmasked")),
            fsc_masked=numbers(record.get("fsc_masked")),
            fsc_randomised=numbers(record.get("fsc_randomised")),
            fsc_corrected=numbers(record.get("fsc_corrected")),
            halfbit=numbers(record.get("halfbit")),
            randomise_from_A=number(record.get("randomise_from_A")),
            nyquist_A=_record_nyquist(record),
            resolutions=resolutions,
            resolution_curve=main,
            resolution_0143=head.get("0.143") or _flat_crossing(record, "0143"),
            resolution_05=head.get("0.5") or _flat_crossing(record, "05"),
        )


def _record_nyquist(record: dict[str, Any]) -> float | None:
    """``nyquist_A`` of a record; older records: from their ``voxel_size_A``."""
    value = number(record.get("nyquist_A"))
    sizes = [v for v in numbers(record.get("voxel_size_A")) or () if v is not None]
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
            "voxel_size_A": as_list(self.voxel_size_A),
            "mask": None if self.mask is None else self.mask.to_json(),
            "inputs": [i.to_json() for i in self.inputs],
            "seed": self.seed,
            "versions": self.versions,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> FSCRecord:
        """Read FSC.json, current or older (:meth:`FSCCurves.from_json`)."""
        sizes = numbers(record.get("voxel_size_A"))
        return cls(
            curves=FSCCurves.from_json(record),
            voxel_size_A=None if sizes is None or None in sizes else sizes,  # type: ignore[arg-type]
            mask=FSCMaskRecord.from_json(record.get("mask")),
            inputs=inputs_of(record.get("inputs")),
            seed=integer(record.get("seed")),
            versions=of(dict, record.get("versions")),
            seconds=number(record.get("seconds")),
        )


# ----------------------------------------------------------------------------- WFSC.json
