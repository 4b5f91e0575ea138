"""Stage 3 of the scan: one pass per wavelength (:class:`PassResult`) and its PASS.npz store.

A pass computes the LRS at every testable mask voxel, whatever is already resolved, so passes
can run in any order or in parallel (the workflow's jobs) and give the numbers ``resmap local``
gets in-process. PASS.npz holds ``lrs`` (float64, one value per mask voxel in C order, NaN = not
testable), ``null_weights`` (16 eigenvalues) and a JSON ``meta`` entry.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from resmap_core.errors import InputError
from resmap_core.io.atomic import atomic_path
from resmap_core.localres.basis import local_model
from resmap_core.localres.lrs import lrs_at_mask
from resmap_core.localres.noise import MIN_BLOCKS
from resmap_core.localres.prepared import Prepared


@dataclass(frozen=True)
class PassResult:
    """One wavelength: LRS at every mask voxel (C order; NaN = not testable), σ², null weights."""

    wavelength_A: float
    radius_vox: tuple[int, int, int]
    sigma2: float
    noise_blocks: int
    null_weights: np.ndarray
    lrs: np.ndarray
    prepared_fingerprint: str
    seconds: float = 0.0


def compute_pass(prep: Prepared, wavelength_A: float, threads: int | None = None) -> PassResult:
    """LRS at every mask voxel for one wavelength (independent of every other pass)."""
    start = time.perf_counter()
    model = local_model(wavelength_A, prep.spacing_zyx_A, prep.params.kernel)
    est = prep.noise_estimate(model)
    if est.blocks < MIN_BLOCKS or not est.sigma2 > 0:
        lrs = np.full(int(prep.mask.sum()), np.nan)
    else:
        lrs = lrs_at_mask(prep.signal, prep.mask, model, est.sigma2, threads=threads)
    return PassResult(
        wavelength_A=float(wavelength_A),
        radius_vox=model.radius_vox,
        sigma2=est.sigma2,
        noise_blocks=est.blocks,
        null_weights=model.null_weights,
        lrs=lrs,
        prepared_fingerprint=prep.fingerprint(),
        seconds=time.perf_counter() - start,
    )


def save_pass(path: str, result: PassResult) -> None:
    """Write a :class:`PassResult` as ``.npz`` (atomically)."""
    meta = {
        "wavelength_A": result.wavelength_A,
        "radius_vox": list(result.radius_vox),
        "sigma2": result.sigma2,
        "noise_blocks": result.noise_blocks,
        "prepared_fingerprint": result.prepared_fingerprint,
        "seconds": result.seconds,
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            lrs=result.lrs,
            null_weights=result.null_weights,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        )


def pass_meta(path: str) -> dict:
    """The metadata of a pass file (wavelength_A, seconds, …), read without its LRS array."""
    try:
        with np.load(path) as npz:
            meta = json.loads(npz["meta"].tobytes().decode())
        float(meta["wavelength_A"]), float(meta["seconds"])
        return meta
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a pass file from 'resmap pass' ({exc}).") from None


def load_pass(path: str) -> PassResult:
    """Read a file written by :func:`save_pass`."""
    try:
        with np.load(path) as npz:
            meta = json.loads(npz["meta"].tobytes().decode())
            return PassResult(
                wavelength_A=float(meta["wavelength_A"]),
                radius_vox=tuple(meta["radius_vox"]),  # type: ignore[arg-type]
                sigma2=float(meta["sigma2"]),
                noise_blocks=int(meta["noise_blocks"]),
                null_weights=npz["null_weights"],
                lrs=npz["lrs"],
                prepared_fingerprint=meta["prepared_fingerprint"],
                seconds=float(meta["seconds"]),
            )
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: not a pass file from 'resmap pass' ({exc}).") from None
