"""Stage 4b of the scan: the local-resolution map on the input grid and its LOCAL.json record.

The map is float32 [z, y, x] in Å on the input grid; voxels outside the mask and unresolved
voxels hold the outside value. The record is a :class:`~resmap_core.io.records.local.LocalRecord`
(docs/outputs.md); :func:`write_result` writes both files.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from resmap_core.io.atomic import write_json
from resmap_core.io.mrc import MapGeometry, write_map
from resmap_core.io.records.local import LocalRecord
from resmap_core.io.summary import resolution_summary, versions
from resmap_core.localres.prepared import Prepared
from resmap_core.localres.resample import resample_labels_to_grid

#: More of the mask than this left unresolved is said in words in the record.
UNRESOLVED_WARN_FRACTION = 0.3


def _to_input_grid(prep: Prepared, analysis: np.ndarray) -> np.ndarray:
    """Nearest-neighbour resampling of a coarse-grid result onto the input grid.

    Input mask voxels whose nearest coarse voxel lies just outside the coarse mask take the value
    of the nearest coarse mask voxel, so resampling invents no unresolved voxels at the border.
    """
    coded = analysis.copy()
    coded[prep.mask & np.isnan(analysis)] = np.inf  # unresolved, as opposed to outside
    nearest = ndimage.distance_transform_edt(
        ~prep.mask, sampling=prep.spacing_zyx_A, return_distances=False, return_indices=True
    )
    coded = coded[tuple(nearest)]
    geometry = prep.input_geometry
    fine = resample_labels_to_grid(
        coded, coded.shape, prep.spacing_zyx_A, geometry.shape, geometry.spacing_zyx_A
    )
    fine[np.isinf(fine)] = np.nan
    return fine.astype(np.float32, copy=False)


def _outcome_warnings(prep: Prepared, records: list[dict], summary: dict) -> list[str]:
    """Plain-language warnings about a result that needs care (empty when none)."""
    warnings = []
    unresolved = summary.get("unresolved_fraction")
    if unresolved is not None and unresolved > UNRESOLVED_WARN_FRACTION and records:
        last = records[-1]["lambda_A"]
        limit = prep.params.max_res_A
        if limit is not None and last + prep.params.step_res_A > limit:
            why = "--max-res"
            advice = "raise --max-res"
        elif prep.mode == "single":
            why = "the room for noise blocks in the background or the window limit"
            advice = "use a tighter mask, a larger box, or half maps (split mode)"
        else:
            why = "the room for noise blocks near the mask or the window limit"
            advice = "use a larger mask or set --max-res"
        warnings.append(
            f"{100 * unresolved:.0f} % of the mask is unresolved: the scan stopped at {last:g} Å, "
            f"set by {why}; {advice}."
        )
    return warnings


def _on_input_grid(prep: Prepared, resolution: np.ndarray) -> np.ndarray:
    """Per-mask-voxel resolutions (Å, NaN = unresolved, C order) as a float32 map on the input
    grid, NaN outside the mask."""
    analysis = np.full(prep.mask.shape, np.nan, dtype=np.float32)
    analysis[prep.mask] = resolution
    if analysis.shape != tuple(prep.input_geometry.shape):
        analysis = _to_input_grid(prep, analysis)
    return analysis


def _histogram(inside: np.ndarray) -> dict[str, list]:
    """{"lambda_A", "count"}: voxels assigned per wavelength among the resolved ``inside``."""
    lambdas, counts = np.unique(inside[np.isfinite(inside)], return_counts=True)
    return {"lambda_A": [float(v) for v in lambdas], "count": [int(v) for v in counts]}


def _local_record(
    prep: Prepared, records: list[dict], summary: dict, histogram: dict[str, list]
) -> LocalRecord:
    """The LOCAL.json record of a finished scan (``seconds`` is added when written)."""
    params = prep.params
    quartiles = summary["quartiles_A"]
    return LocalRecord(
        warnings=tuple(_outcome_warnings(prep, records, summary)),
        mode=prep.mode,
        voxel_size_A=tuple(prep.input_geometry.voxel_size_A),  # type: ignore[arg-type]
        analysis_voxel_size_A=tuple(prep.spacing_zyx_A[::-1]),  # type: ignore[arg-type]
        p_value=params.p_value,
        kernel=params.kernel,
        fdr_mode=params.fdr_mode,
        outside_value=params.record()["outside"],
        median_A=summary["median_A"],
        mean_A=summary["mean_A"],
        quartiles_A=None if quartiles is None else tuple(quartiles),
        min_A=summary["min_A"],
        max_A=summary["max_A"],
        unresolved_fraction=summary["unresolved_fraction"],
        mask_voxels=int(prep.input_mask.sum()),
        histogram=histogram,
        wavelengths=tuple(records),
        prewhitening=prep.record.get("prewhitening"),
        noise_spectrum=prep.record.get("noise_spectrum"),
        lowpass=prep.record.get("lowpass"),
        mask=prep.record.get("mask"),
        inputs=None if prep.record.get("inputs") is None else tuple(prep.record["inputs"]),
        parameters=params.record(),
        versions=versions(),
        estimator=params.estimator_record(),
    )


def finalize(
    prep: Prepared, resolution: np.ndarray, records: list[dict]
) -> tuple[np.ndarray, LocalRecord]:
    """The output map on the input grid (float32, Å) and its LOCAL.json record.

    ``resolution`` holds one value per analysis-grid mask voxel (C order, NaN = unresolved),
    ``records`` the per-wavelength entries of :func:`.assignment.assign_resolution`.
    """
    analysis = _on_input_grid(prep, resolution)
    inside = analysis[prep.input_mask]
    summary = resolution_summary(inside)
    histogram = _histogram(inside)
    del inside
    # in place: outside the mask and unresolved voxels get the outside value
    outside = ~prep.input_mask
    outside |= np.isnan(analysis)
    analysis[outside] = np.float32(prep.params.outside)
    del outside
    return analysis, _local_record(prep, records, summary, histogram)


def write_result(
    path: str, volume: np.ndarray, record: LocalRecord, geometry: MapGeometry, seconds: float
) -> None:
    """Write OUT.mrc and OUT.json beside it (both atomically; the JSON last), ``seconds`` the
    run's wall time (s, rounded to ms in the record)."""
    write_map(path, volume, geometry, label="local resolution (A)")
    json_path = Path(path).with_suffix(".json")
    write_json(json_path, replace(record, seconds=round(seconds, 3)).to_json())
