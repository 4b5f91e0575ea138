"""The ResMap-H2 scan as four stages shared by ``resmap local`` and the Snakemake workflow.

1. :func:`prepare_inputs` (:mod:`.prepare`) — analysed map, noise source, masks, low-pass
   resampling and pre-whitening (everything later stages need, saved with
   :func:`save_prepared`, :mod:`.prepared`);
2. :func:`wavelength_grid` (:mod:`.wavelengths`) — the data-driven list of wavelengths;
3. :func:`compute_pass` (:mod:`.passes`) — LRS at every mask voxel for one wavelength, its σ²
   and null weights (it never looks at which voxels are already resolved, so passes can run in
   any order or in parallel and give the same numbers);
4. :func:`assign_resolution` (:mod:`.assignment`) + :func:`finalize` (:mod:`.result`) —
   Benjamini–Yekutieli per wavelength over the still-unresolved voxels (or once over all
   voxel × wavelength tests) and the output map with its LOCAL.json record.

``resmap local`` runs them in-process (:func:`compute_local`), the workflow runs each as a job;
both write the map with the same code, so the maps are byte-identical. This module is also the
stage API's one import point: every name of ``__all__`` is importable from here.
"""

from __future__ import annotations

import numpy as np

from resmap_core.io.mrc import MapData
from resmap_core.io.records.local import LocalRecord
from resmap_core.localres.assignment import assign_resolution, scan_finished
from resmap_core.localres.params import DEFAULT_KERNEL, FDR_MODES, Params
from resmap_core.localres.passes import PassResult, compute_pass, load_pass, pass_meta, save_pass
from resmap_core.localres.prepare import prepare_inputs
from resmap_core.localres.prepared import Prepared, load_prepared, save_prepared
from resmap_core.localres.result import finalize, write_result
from resmap_core.localres.wavelengths import MAX_WINDOW_FRACTION, wavelength_grid, wavelengths
from resmap_core.progress import Progress

__all__ = [
    "DEFAULT_KERNEL",
    "FDR_MODES",
    "MAX_WINDOW_FRACTION",
    "LocalRecord",
    "Params",
    "PassResult",
    "Prepared",
    "assign_resolution",
    "compute_local",
    "compute_pass",
    "finalize",
    "load_pass",
    "load_prepared",
    "pass_meta",
    "prepare_inputs",
    "run_local",
    "save_pass",
    "save_prepared",
    "scan_finished",
    "wavelength_grid",
    "wavelengths",
    "write_result",
]


def compute_local(
    maps: list[MapData],
    mask: np.ndarray | None,
    params: Params,
    mask_path: str | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, LocalRecord]:
    """All four stages in-process: the local-resolution map (Å, float32, input grid) and its
    record. ``maps`` holds one map (single mode) or two half maps (split mode)."""
    progress = progress or Progress(quiet=True)
    prep = prepare_inputs(maps, mask, params, mask_path, threads, progress)
    # lazily: the scan stops once nothing is left to resolve, so the wavelengths (and σ²
    # estimates) it never reaches cost nothing; the workflow lists them all (wavelength_grid)
    passes = (compute_pass(prep, lam, threads) for lam in wavelengths(prep))
    resolution, records = assign_resolution(prep, passes, progress)
    prep.release_maps()
    volume, record = finalize(prep, resolution, records)
    for warning in record.warnings:
        progress.say(f"warning: {warning}")
    return volume, record


def run_local(
    maps: list[MapData],
    mask: np.ndarray | None,
    params: Params,
    mask_path: str | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, dict]:
    """The Python API of ``resmap local``: :func:`compute_local` with the record as the JSON
    dict of LOCAL.json (without ``seconds``).

    ``maps`` holds one map (single mode) or two half maps (split mode), each with its voxel
    size; returns the local-resolution map on the input grid (Å, float32) and its record.
    """
    volume, record = compute_local(maps, mask, params, mask_path, threads, progress)
    return volume, record.to_json()
