"""Memory (MB) and run time (minutes) that the workflow requests for each job, from a model
fitted to measured peaks.

``benchmarks/bench_resources.py`` runs every workflow stage's ``resmap`` command on synthetic
maps (boxes 64³–384³, cubic and not, split and single mode, masks of ~3 %, 15 % and ~30 %, one
and two threads), records each process's peak RSS and CPU time, and fits per stage a linear
upper envelope of the measurements: peak MB and CPU seconds as sums of coefficient × feature
(:func:`features`), every coefficient ≥ 0, the model at or above every measurement.
:data:`MODELS` is its output; :meth:`StageModel.request` turns it into a request: memory =
:data:`MEMORY_MARGIN` × the model (never below :data:`MEMORY_FLOOR_MB`), run time =
:data:`RUNTIME_FACTOR` × the model (never below :data:`RUNTIME_FLOOR_MIN`), both × the retry
attempt. docs/performance.md ("Cluster requests") compares the requests with measurements
and with the workflow's own benchmark files.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import mrcfile

MEMORY_MARGIN = 1.2
"""Request / modelled peak. The model lies at or above every measured peak and at most 1.25×
it where the request exceeds the floor, so the first attempt asks for 1.2–1.5× the peak."""
MEMORY_FLOOR_MB = 300
"""Least memory requested (jobs whose peak is below 200 MB): the interpreter with NumPy and
SciPy takes 60–90 MB here (more with other BLAS builds), Matplotlib adds ~100 MB to the
report, and the windowed FSC's thread pool holds up to 100 MB whatever the box."""
RUNTIME_FACTOR = 4.0
"""Request / modelled CPU time: cluster nodes may be slower than the machine measured, files
slower to read, and a job killed for time is costly (the limit only matters to backfill)."""
RUNTIME_FLOOR_MIN = 10
"""Least run time requested, minutes."""
THREAD_SLAB_VOXELS = (2**23, 2**26)
"""Per-thread work arrays grow with the box between these sizes (voxels) and no further: the
slab budget of ``localres/lrs.py`` (a quarter of the float32 map, 8–64 MiB per worker)."""
DEFAULT_VOXELS = 256**3
"""Box assumed before a job's input exists (Snakemake evaluates resources again before the job
runs, with its inputs present)."""


@dataclass(frozen=True)
class JobSize:
    """What a job's cost depends on.

    ``voxels``: the box the job works on; ``mask_voxels``: voxels of the mask (passes, FDR and
    windowed FSC; ignored by the other models); ``split``: two half maps (else one map);
    ``threads``: worker threads of the job.
    """

    voxels: int
    mask_voxels: int = 0
    split: bool = True
    threads: int = 1


def features(size: JobSize) -> dict[str, float]:
    """The model's inputs for ``size``: a constant, millions of voxels (all, split mode only,
    mask), extra threads, and threads × the millions of voxels of each one's slab."""
    threads = max(size.threads, 1)
    low, high = THREAD_SLAB_VOXELS
    slab = min(max(size.voxels, low), high)
    return {
        "base": 1.0,
        "Mvoxels": size.voxels / 1e6,
        "Mvoxels_split": size.voxels / 1e6 if size.split else 0.0,
        "Mmask_voxels": size.mask_voxels / 1e6,
        "extra_threads": float(threads - 1),
        "thread_slab_Mvoxels": threads * slab / 1e6,
    }


@dataclass(frozen=True)
class StageModel:
    """Peak RSS (MB) and CPU time (s) of one stage: coefficient per :func:`features` name."""

    memory_MB: dict[str, float]
    seconds: dict[str, float]

    def peak_MB(self, size: JobSize) -> float:
        """Modelled peak resident memory, MB (2²⁰ bytes)."""
        return _linear(self.memory_MB, size)

    def cpu_s(self, size: JobSize) -> float:
        """Modelled CPU time (user + system), seconds, on the machine measured."""
        return _linear(self.seconds, size)

    def request(self, size: JobSize, attempt: int = 1) -> dict[str, int]:
        """``{"mem_mb": MB, "runtime": minutes}``: :data:`MEMORY_MARGIN` × the modelled peak, at
        least :data:`MEMORY_FLOOR_MB`; :data:`RUNTIME_FACTOR` × the modelled CPU time, at least
        :data:`RUNTIME_FLOOR_MIN`; both × ``attempt`` (Snakemake's retry counter, 1 on the
        first try), so a job killed for memory or time is resubmitted with twice as much."""
        mem_mb = max(MEMORY_FLOOR_MB, math.ceil(MEMORY_MARGIN * self.peak_MB(size)))
        runtime = max(RUNTIME_FLOOR_MIN, math.ceil(RUNTIME_FACTOR * self.cpu_s(size) / 60.0))
        scale = max(int(attempt), 1)
        return {"mem_mb": int(mem_mb * scale), "runtime": int(runtime * scale)}


def _linear(coefficients: dict[str, float], size: JobSize) -> float:
    """Σ coefficient × feature over the coefficients given."""
    values = features(size)
    return sum(c * values[name] for name, c in coefficients.items())


# Fitted on 2026-12-02 by `python3 benchmarks/bench_resources.py --save
# benchmarks/resource_measurements.tsv` (then --boxes 320 and 384 --particles lobes) on the
# 2-core AMD EPYC machine with 24 GB (Python 3.11.7, NumPy 2.4.6): 397 jobs, boxes 64³–384³.
# Memory: MB per feature unit, the model ≥ every measured peak and, where the request exceeds
# the floor, ≤ 1.25× it (request = MEMORY_MARGIN 1.2 × model: 1.2–1.5× the peak). Seconds: CPU
# seconds, the model ≥ every measurement (request = RUNTIME_FACTOR 4 × model). Keys are rule
# names. The 320³ and 384³ rows were first predicted from the ≤ 256³ fit: model/peak 0.96–1.18.
MODELS: dict[str, StageModel] = {
    "prepare": StageModel(
        memory_MB={
            "base": 93.303,
            "Mvoxels": 27.144,
            "Mvoxels_split": 3.586,
            "extra_threads": 0.1,
        },
        seconds={
            "base": 1.689,
            "Mvoxels": 0.327,
            "Mvoxels_split": 0.048,
        },
    ),
    "wavelengths": StageModel(
        memory_MB={
            "base": 65.224,
            "Mvoxels": 6.74,
            "Mvoxels_split": 16.138,
        },
        seconds={
            "base": 1.429,
            "Mvoxels": 0.008,
            "Mvoxels_split": 0.089,
        },
    ),
    "lrs_pass": StageModel(
        memory_MB={
            "base": 75.096,
            "Mvoxels": 7.323,
            "Mvoxels_split": 13.413,
            "thread_slab_Mvoxels": 2,
        },
        seconds={
            "base": 1.568,
            "Mvoxels_split": 0.132,
            "Mmask_voxels": 0.984,
        },
    ),
    # band-energy passes (`--stages band_pass`, same cases): no wavelength feature, so the
    # model is set by the first, uncropped wavelengths and over-asks up to 2× at long ones
    "band_pass": StageModel(
        memory_MB={
            "base": 71.074,
            "Mvoxels": 22.817,
            "Mvoxels_split": 9.31,
            "Mmask_voxels": 6.331,
            "extra_threads": 0.1,
        },
        seconds={
            "base": 1.674,
            "Mvoxels": 0.126,
            "Mvoxels_split": 0.027,
            "Mmask_voxels": 0.103,
        },
    ),
    "fdr": StageModel(
        memory_MB={
            "base": 69.652,
            "Mvoxels": 17.876,
            "Mvoxels_split": 4.962,
            "Mmask_voxels": 4.056,
        },
        seconds={
            "base": 1.577,
            "Mvoxels": 0.051,
            "Mvoxels_split": 0.051,
            "Mmask_voxels": 0.135,
        },
    ),
    "fsc": StageModel(
        memory_MB={
            "base": 60.85,
            "Mvoxels": 88.898,
            "thread_slab_Mvoxels": 0.048,
        },
        seconds={
            "base": 1.068,
            "Mvoxels": 1.003,
        },
    ),
    "wfsc": StageModel(
        memory_MB={
            "base": 96.776,
            "Mvoxels": 41.413,
            "Mmask_voxels": 30.135,
            "extra_threads": 63.65,
        },
        seconds={
            "base": 1.895,
            "Mvoxels": 0.011,
            "Mmask_voxels": 24.233,
        },
    ),
    "dataset_report": StageModel(
        memory_MB={
            "base": 194.182,
            "Mvoxels": 24.302,
            "Mvoxels_split": 11.318,
        },
        seconds={
            "base": 12.919,
            "Mvoxels_split": 0.211,
        },
    ),
    "report_index": StageModel(
        memory_MB={
            "base": 57.7,
        },
        seconds={
            "base": 1.24,
        },
    ),
}


def job_request(stage: str, size: JobSize, attempt: int = 1) -> dict[str, int]:
    """``{"mem_mb": MB, "runtime": minutes}`` for a job of the rule ``stage``
    (:meth:`StageModel.request` of its model in :data:`MODELS`)."""
    return MODELS[stage].request(size, attempt)


def _read_json(path: str | Path) -> dict | None:
    """A JSON record if the file exists yet, else None."""
    p = Path(path)
    return json.loads(p.read_text()) if p.is_file() else None


def read_shape(meta_json: str | Path) -> list[int] | None:
    """``shape_zyx`` from a ``meta.json`` if the file exists yet (None before the fetch)."""
    meta = _read_json(meta_json)
    return meta.get("shape_zyx") if meta else None


def dataset_size(
    meta_json: str | Path,
    grid_json: str | Path | None = None,
    threads: int = 1,
    analysed_grid: bool = False,
) -> JobSize:
    """A dataset job's size from its ``meta.json`` (box, mode) and, once the wavelength
    checkpoint has run, ``wavelengths.json`` (mask voxels of the analysed grid).

    With ``analysed_grid`` the box and mask are the analysed grid's (smaller than the input's
    when low-pass resampled: the passes); else the input grid's, the mask voxels scaled to it.
    Files not written yet give :data:`DEFAULT_VOXELS`, split mode and a mask filling the box.
    """
    meta = _read_json(meta_json) or {}
    grid = _read_json(grid_json) if grid_json is not None else None
    shape = meta.get("shape_zyx")
    voxels = math.prod(shape) if shape else DEFAULT_VOXELS
    split = meta.get("mode", "split") == "split"
    if grid is None:
        return JobSize(voxels=voxels, mask_voxels=voxels, split=split, threads=threads)
    analysed = math.prod(grid["shape_zyx"])
    mask = int(grid["voxels"])
    if analysed_grid:
        voxels = analysed
    elif analysed != voxels:
        mask = min(voxels, math.ceil(mask * voxels / analysed))
    split = grid.get("mode", "split" if split else "single") == "split"
    return JobSize(voxels=voxels, mask_voxels=mask, split=split, threads=threads)


def map_voxels(mrc_path: str | Path | None) -> int:
    """Voxels of an MRC map (plain or gzip) from its header alone; :data:`DEFAULT_VOXELS` when
    the file does not exist yet or is not readable (the job itself then reports the error)."""
    if mrc_path is None or not Path(mrc_path).is_file():
        return DEFAULT_VOXELS
    try:
        with mrcfile.open(mrc_path, header_only=True, permissive=True) as mrc:
            header = mrc.header
            voxels = int(header.nx) * int(header.ny) * int(header.nz)
    except (ValueError, OSError, EOFError):
        return DEFAULT_VOXELS
    return voxels if voxels > 0 else DEFAULT_VOXELS
