"""Typed record of ``resmap wfsc`` (WFSC.json): frozen dataclasses whose :meth:`to_json` gives
exactly the file's keys and values (docs/outputs.md) and whose :meth:`from_json` also reads
files holding only a few fields. Resolutions in Å."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from resmap_core.fsc.crossing import BOUNDS
from resmap_core.io.records.common import (
    Flat,
    InputFile,
    as_list,
    inputs_of,
    integer,
    number,
    numbers,
    of,
)


@dataclass(frozen=True)
class BoundShare(Flat):
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
            "quartiles_A": as_list(self.quartiles_A),
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
        record = of(dict, record) or {}
        quartiles = numbers(record.get("quartiles_A"))
        bounds = of(dict, record.get("bounds"))
        return cls(
            median_A=number(record.get("median_A")),
            mean_A=number(record.get("mean_A")),
            quartiles_A=None if quartiles is None or None in quartiles else quartiles,
            min_A=number(record.get("min_A")),
            max_A=number(record.get("max_A")),
            unresolved_fraction=number(record.get("unresolved_fraction")),
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
        entry = of(dict, record.get(kind)) or {}
        out[kind] = BoundShare(number(entry.get("value_A")), number(entry.get("fraction")))
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
        path = of(str, record.get("path"))
        return cls(number(record.get("cutoff")), path, WFSCSummary.from_json(record))


@dataclass(frozen=True)
class WFSCMask(Flat):
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
    return math.nan if value == "nan" else number(value)


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
            "voxel_size_A": as_list(self.voxel_size_A),
            "other_cutoff": None if self.other_cutoff is None else self.other_cutoff.to_json(),
            "inputs": [i.to_json() for i in self.inputs],
            "versions": self.versions,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> WFSCRecord:
        """Read WFSC.json, current or older (any field may be missing: None)."""
        sizes = numbers(record.get("voxel_size_A"))
        return cls(
            summary=WFSCSummary.from_json(record),
            box_vox=integer(record.get("box_vox")),
            step_vox=integer(record.get("step_vox")),
            cutoff=number(record.get("cutoff")),
            corrected=of(bool, record.get("corrected")),
            seed=integer(record.get("seed")),
            outside_value=_outside_read(record.get("outside_value")),
            mask_voxels=integer(record.get("mask_voxels")),
            mask=WFSCMask.from_json(record.get("mask")),
            voxel_size_A=None if sizes is None or None in sizes else sizes,  # type: ignore[arg-type]
            other_cutoff=OtherCutoff.from_json(record.get("other_cutoff")),
            inputs=inputs_of(record.get("inputs")),
            versions=of(dict, record.get("versions")),
            seconds=number(record.get("seconds")),
        )
