"""Stage 3 of the scan: one pass per wavelength (:class:`PassResult`) and its PASS.npz store.

A pass computes the statistic of its estimator — ResMap-H2's LRS or the band energy
(:mod:`.band`) — at every testable mask voxel, whatever is already resolved, so passes can run
in any order or in parallel (the workflow's jobs) and give the numbers ``resmap local`` gets
in-process. PASS.npz holds ``lrs`` (float64, one value per mask voxel in C order, NaN = not
testable), ``null_weights`` (H2: 16 eigenvalues; band: the packed law of
:meth:`.band_null.BandNull.to_array`) and a JSON ``meta`` entry (estimator and constants too).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from resmap_core.errors import InputError
from resmap_core.io.atomic import atomic_path
from resmap_core.localres.band import band_model, band_noise_level, band_statistic
from resmap_core.localres.band_null import BandNull
from resmap_core.localres.basis import local_model, window_radius_vox
from resmap_core.localres.lrs import lrs_at_mask
from resmap_core.localres.noise import MIN_BLOCKS
from resmap_core.localres.null import NullLaw, WeightedChiSquare
from resmap_core.localres.prepared import Prepared

MIN_NOISE_VOXELS = 64
"""Band energy: fewer coarse noise voxels than this give no noise level (λ not tested)."""


@dataclass(frozen=True)
class PassResult:
    """One wavelength: the statistic at every mask voxel (C order; NaN = not testable), the
    noise level (σ² of the map, or of the coarse grid for band energy), and the null.

    ``noise_blocks`` counts σ² blocks (H2) or coarse noise voxels (band); ``radius_vox`` is the
    window half-width (z, y, x) on the grid the statistic was computed on; ``constants`` the
    estimator's (``Params.estimator_record``)."""

    wavelength_A: float
    radius_vox: tuple[int, int, int]
    sigma2: float
    noise_blocks: int
    null_weights: np.ndarray
    lrs: np.ndarray
    prepared_fingerprint: str
    seconds: float = 0.0
    estimator: str = "resmap"
    constants: dict | None = None

    @cached_property
    def null_law(self) -> NullLaw:
        """The statistic's null law (exact under white noise)."""
        if self.estimator == "band":
            return BandNull.from_array(self.null_weights)
        return WeightedChiSquare(self.null_weights)


def compute_pass(prep: Prepared, wavelength_A: float, threads: int | None = None) -> PassResult:
    """The statistic of ``prep.params.estimator`` at every mask voxel for one wavelength
    (independent of every other pass)."""
    if prep.params.estimator == "band":
        return compute_band_pass(prep, wavelength_A, threads)
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
        constants=prep.params.estimator_record(),
    )


def compute_band_pass(
    prep: Prepared, wavelength_A: float, threads: int | None = None
) -> PassResult:
    """Band energy Q (:mod:`.band`) at every mask voxel for one wavelength; the noise level
    from the noise source over the region H2's σ² blocks would use at this wavelength."""
    start = time.perf_counter()
    params = prep.params
    model = band_model(
        wavelength_A, prep.mask.shape, prep.spacing_zyx_A, params.band_width, params.band_window
    )
    region = prep.noise_region_at(window_radius_vox(wavelength_A, prep.spacing_zyx_A))
    level, count = band_noise_level(prep.spectrum("noise", threads), region, model, threads)
    del region
    if count < MIN_NOISE_VOXELS or not level > 0:
        stat, sigma2 = np.full(int(prep.mask.sum()), np.nan), float("nan")
    else:
        stat = band_statistic(prep.spectrum("signal", threads), prep.mask, model, level, threads)
        sigma2 = level / model.a0
    return PassResult(
        wavelength_A=float(wavelength_A),
        radius_vox=model.radius_vox,
        sigma2=sigma2,
        noise_blocks=count,
        null_weights=model.null.to_array(),
        lrs=stat,
        prepared_fingerprint=prep.fingerprint(),
        seconds=time.perf_counter() - start,
        estimator="band",
        constants=params.estimator_record(),
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
        "estimator": result.estimator,
        "constants": result.constants,
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
                estimator=meta.get("estimator", "resmap"),
                constants=meta.get("constants"),
            )
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: not a pass file from 'resmap pass' ({exc}).") from None
