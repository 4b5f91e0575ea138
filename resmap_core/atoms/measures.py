"""The local-resolution maps sampled at a model ("measures"), each under a label.

A map is given as ``PATH`` or ``LABEL=PATH``. The label names the measure everywhere it
appears: the CSV column, the ChimeraX attribute, the mmCIF item, the JSON key. Labels are
ChimeraX attribute names: a letter, then letters, digits or underscores. Without one, the
label is the file name without its suffixes, with other characters replaced by ``_``.

A voxel holds a value of a measure when it lies inside the mask (if one is given) and holds a
resolution: finite, > 0 and not 100 Å, the values ``--outside`` writes outside the analysis
mask and for unresolved voxels (the test of :func:`resmap_core.report.statistics.resolved_voxels`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resmap_core.errors import InputError
from resmap_core.io.model import grid_origin_A
from resmap_core.io.mrc import MapGeometry, read_map, read_mask
from resmap_core.report.statistics import resolved_voxels

_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Measure:
    """One local-resolution map: ``values_A[z, y, x]`` (float32, Å) and ``resolved`` (bool,
    the voxels that hold a value inside the mask), on ``geometry``."""

    label: str
    path: str
    values_A: np.ndarray
    resolved: np.ndarray
    geometry: MapGeometry


def default_label(path: str) -> str:
    """A label from a file name: ``wfsc_0143.mrc.gz`` → ``wfsc_0143``, ``3-x.mrc`` → ``m3_x``."""
    stem = Path(path).name.split(".")[0]
    label = re.sub(r"[^A-Za-z0-9_]", "_", stem) or "map"
    return label if label[0].isalpha() else f"m{label}"


def split_label(spec: str) -> tuple[str, str]:
    """``"LABEL=PATH"`` → (LABEL, PATH); a plain path gets :func:`default_label`."""
    label, sep, path = spec.partition("=")
    if sep and _LABEL.match(label):
        return label, path
    if sep and not Path(spec).exists():
        raise InputError(
            f"{spec!r}: {label!r} is not a valid label (a letter, then letters, digits or _)."
        )
    return default_label(spec), spec


def check_labels(labels: list[str]) -> None:
    """Refuse repeated labels (two maps would fill one column)."""
    seen = {label for label in labels if labels.count(label) > 1}
    if seen:
        raise InputError(
            f"the label {sorted(seen)[0]!r} names two maps; name them LABEL=PATH, e.g. "
            "resmap=local.mrc wfsc_05=wfsc.mrc."
        )


def same_frame(first: MapGeometry, other: MapGeometry, path: str, first_path: str) -> None:
    """Refuse a map that does not share the first map's grid and position."""
    if not first.same_grid(other) or not np.allclose(
        grid_origin_A(first), grid_origin_A(other), atol=1e-3
    ):
        raise InputError(
            f"{path}: not on the grid of {first_path} (box, voxel size or origin differ); "
            "every local-resolution map must lie on one grid."
        )


def read_measures(specs: list[str], mask_path: str | None) -> tuple[list[Measure], np.ndarray]:
    """Read the labelled maps and the optional mask; returns the measures and the mask
    (bool ``[z, y, x]``; all True without a mask)."""
    labelled = [split_label(spec) for spec in specs]
    check_labels([label for label, _ in labelled])
    maps = [read_map(path, allow_nan=True) for _, path in labelled]
    first = maps[0]
    for (_, path), m in zip(labelled[1:], maps[1:], strict=True):
        same_frame(first.geometry, m.geometry, path, labelled[0][1])
    if mask_path is None:
        mask = np.ones(first.geometry.shape, dtype=bool)
    else:
        mask = read_mask(mask_path, first.geometry)
    measures = [
        Measure(label, path, m.data, resolved_voxels(m.data, mask), m.geometry)
        for (label, path), m in zip(labelled, maps, strict=True)
    ]
    return measures, mask
