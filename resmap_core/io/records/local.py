"""LOCAL.json, the record of ``resmap local`` / ``resmap fdr``, as one typed value.

:class:`LocalRecord` holds every top-level key of docs/outputs.md (“OUT.json”); nested records
(per-wavelength entries, pre-whitening, noise spectrum, low-pass, mask, inputs, parameters,
versions) stay the JSON dicts their producers wrote. :meth:`LocalRecord.to_json` gives exactly
the dict written to the file; :meth:`LocalRecord.from_json` reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

#: Fields stored as tuples here and written as JSON lists (None stays None).
_SEQUENCES = ("voxel_size_A", "analysis_voxel_size_A", "quartiles_A", "wavelengths", "inputs")


@dataclass(frozen=True)
class LocalRecord:
    """The summary of one local-resolution map. Lengths in Å, voxel sizes as (x, y, z).

    Statistics (``median_A`` … ``unresolved_fraction``) are over the mask voxels of the input
    grid; they are None (and the fraction 1.0) when no voxel resolved. ``outside_value`` is a
    number, or the string "nan". ``histogram`` is {"lambda_A": [...], "count": [...]};
    ``wavelengths`` one dict per wavelength tested; ``seconds`` is set when the record is
    written (:func:`resmap_core.localres.result.write_result`) and left out of the JSON while
    None.
    """

    mode: str
    voxel_size_A: tuple[float, float, float]
    analysis_voxel_size_A: tuple[float, float, float]
    p_value: float
    kernel: str
    fdr_mode: str
    outside_value: float | str
    median_A: float | None
    mean_A: float | None
    quartiles_A: tuple[float, ...] | None
    min_A: float | None
    max_A: float | None
    unresolved_fraction: float
    mask_voxels: int
    histogram: dict[str, list]
    wavelengths: tuple[dict, ...]
    prewhitening: dict | None
    noise_spectrum: dict | None
    lowpass: dict | None
    mask: dict | None
    inputs: tuple[dict, ...] | None
    parameters: dict
    versions: dict
    estimator: dict | None = None
    warnings: tuple[str, ...] = ()
    seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of LOCAL.json (tuples as lists; nested dicts shared, not copied)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "seconds" and value is None:
                continue
            if isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LocalRecord:
        """Inverse of :meth:`to_json`; ValueError on missing or unknown keys.

        Records written before ``warnings`` existed read with no warnings; before
        ``estimator`` (which estimator ran and its constants), with None: ResMap-H2.
        """
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        optional = ("warnings", "seconds", "estimator")
        missing = sorted(n for n in names - set(data) if n not in optional)
        if unknown or missing:
            raise ValueError(f"not a LOCAL.json record: missing {missing}, unknown {unknown}")
        values = dict(data)
        for name in _SEQUENCES:
            if values[name] is not None:
                values[name] = tuple(values[name])
        values["warnings"] = tuple(values.get("warnings", ()))
        return cls(**values)
