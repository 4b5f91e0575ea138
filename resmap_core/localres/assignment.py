"""Stage 4a of the scan: Benjamini–Yekutieli over the passes, a resolution (Å) per mask voxel.

Per-wavelength mode (default, as ResMap): at each λ in increasing order, BY at level p over the
mask voxels still unresolved and testable; those rejected get λ. Global mode: one BY family over
every voxel × wavelength test; each voxel gets the smallest λ at which it is rejected.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from resmap_core.errors import InputError
from resmap_core.localres.fdr import benjamini_yekutieli
from resmap_core.localres.passes import PassResult
from resmap_core.localres.prepared import Prepared
from resmap_core.progress import Progress


def _null_record(result: PassResult) -> dict:
    """The null of LOCAL.json's per-wavelength entry: H2's 16 weights, or the band-energy
    law's record (kept weights and the moments of the rest)."""
    if result.estimator == "band":
        return {"null": result.null_law.to_record()}  # type: ignore[attr-defined]
    return {"null_weights": [float(v) for v in result.null_weights]}


def _wavelength_record(result: PassResult, p_value: float) -> dict:
    """The per-wavelength entry of LOCAL.json before testing (tested = assigned = 0)."""
    testable = bool(np.isfinite(result.sigma2))
    return {
        "lambda_A": result.wavelength_A,
        "window_radius_vox": list(result.radius_vox[::-1]),
        "sigma2": result.sigma2 if testable else None,
        "noise_blocks": result.noise_blocks,
        **_null_record(result),
        "threshold_uncorrected": float(result.null_law.tail_quantile(p_value)),
        "threshold_fdr": None,
        "tested": 0,
        "assigned": 0,
    }


def _finite_or_none(value: float) -> float | None:
    """``value`` as a float, None when it is not finite (no FDR threshold: nothing rejected)."""
    return None if not np.isfinite(value) else float(value)


def _checked(passes: Iterable[PassResult], prep: Prepared, n: int) -> Iterator[PassResult]:
    """``passes`` one by one, refusing any not computed from this prepared data (n mask voxels)
    or by another estimator or constants than ``prep.params`` name."""
    fingerprint, wanted = prep.fingerprint(), prep.params.estimator_record()
    for res in passes:
        if res.prepared_fingerprint != fingerprint or res.lrs.shape != (n,):
            raise InputError(
                f"the pass at {res.wavelength_A} Å was computed from different prepared data; "
                "rerun 'resmap pass' on this PREP.npz."
            )
        if res.estimator != wanted["name"] or (res.estimator == "band" and res.constants != wanted):
            raise InputError(
                f"the pass at {res.wavelength_A} Å ran the estimator {res.constants}, not "
                f"{wanted}; give the same --estimator (and band constants) to every stage."
            )
        yield res
        del res  # hold no pass while the next one is computed


def _assign_global(
    passes: Iterable[PassResult], resolution: np.ndarray, p_value: float
) -> list[dict]:
    """One BY family over every voxel × wavelength test; fills ``resolution`` (Å, in place)
    with the smallest rejected λ per voxel and returns the per-wavelength records."""
    results = list(passes)
    by = benjamini_yekutieli([r.lrs for r in results], [r.null_law for r in results], p_value)
    records = []
    for res, rejected, thr in zip(results, by.rejected, by.stat_thresholds, strict=True):
        rec = _wavelength_record(res, p_value)
        new = rejected & np.isnan(resolution)
        resolution[new] = res.wavelength_A
        rec.update(
            tested=int(np.isfinite(res.lrs).sum()),
            assigned=int(new.sum()),
            threshold_fdr=_finite_or_none(thr),
        )
        records.append(rec)
    return records


def _assign_unresolved(res: PassResult, resolution: np.ndarray, p_value: float) -> dict:
    """BY at one wavelength over the still-unresolved, testable voxels; those rejected get λ
    in ``resolution`` (Å, in place). Returns the wavelength's record."""
    rec = _wavelength_record(res, p_value)
    stats = np.where(np.isnan(resolution), res.lrs, np.nan)  # the family
    tested = int(np.count_nonzero(~np.isnan(stats)))
    if tested:
        by = benjamini_yekutieli([stats], [res.null_law], p_value)
        hit = by.rejected[0]
        resolution[hit] = res.wavelength_A
        rec.update(
            tested=tested,
            assigned=int(np.count_nonzero(hit)),
            threshold_fdr=_finite_or_none(by.stat_thresholds[0]),
        )
    return rec


def _nothing_left(left: int, rec: dict, sigma2: float) -> bool:
    """Whether a per-wavelength scan is over after a wavelength's record ``rec``: every voxel
    resolved, or none of the ``left`` unresolved ones testable with a valid σ² — a voxel whose
    window leaves the box at λ does so at every longer wavelength (windows only widen)."""
    return not left or (not rec["tested"] and bool(np.isfinite(sigma2)))


def _assign_per_wavelength(
    passes: Iterable[PassResult], resolution: np.ndarray, p_value: float, progress: Progress
) -> tuple[list[dict], bool]:
    """BY per wavelength in increasing order over the voxels left; fills ``resolution`` in
    place. Returns the records and whether the scan finished (:func:`_nothing_left`) — then it
    consumed no further pass, since none could assign anything."""
    records = []
    for res in passes:
        rec = _assign_unresolved(res, resolution, p_value)
        records.append(rec)
        left = int(np.isnan(resolution).sum())
        progress.say(
            f"λ = {res.wavelength_A:5.2f} Å  σ² = {res.sigma2:.4g}  tested {rec['tested']}  "
            f"assigned {rec['assigned']}  voxels left {left}"
        )
        if _nothing_left(left, rec, res.sigma2):
            if left:
                progress.say(
                    f"the {left} voxels left lie too close to the box edge for the windows of "
                    "longer wavelengths: scan stopped"
                )
            return records, True
        del res  # drop this pass before the next one is computed (memory of large maps)
    return records, False


def scan_finished(prep: Prepared, passes: Iterable[PassResult]) -> bool:
    """Whether per-wavelength BY over ``passes`` (increasing λ, a prefix of the grid) already
    decides every voxel, so that longer wavelengths cannot change the map. Global mode: never
    (its one BY family takes every wavelength)."""
    if prep.params.fdr_mode == "global":
        return False
    resolution = np.full(int(prep.mask.sum()), np.nan, dtype=np.float32)
    checked = _checked(passes, prep, resolution.size)
    return _assign_per_wavelength(checked, resolution, prep.params.p_value, Progress(True))[1]


def assign_resolution(
    prep: Prepared, passes: Iterable[PassResult], progress: Progress | None = None
) -> tuple[np.ndarray, list[dict]]:
    """Resolution (Å, NaN = unresolved) at each mask voxel (C order) and per-wavelength records.

    Per-wavelength mode (default, as ResMap): at each λ in increasing order, BY at level p over
    the mask voxels still unresolved (and testable); those rejected get λ. Passes are consumed
    lazily and the scan stops once every voxel is resolved or none left can be tested. Global
    mode: one BY family over every voxel × wavelength test; each voxel gets the smallest λ at
    which it is rejected.
    """
    progress = progress or Progress(quiet=True)
    params = prep.params
    n = int(prep.mask.sum())
    resolution = np.full(n, np.nan, dtype=np.float32)  # the output map is float32 anyway
    checked = _checked(passes, prep, n)
    if params.fdr_mode == "global":
        records = _assign_global(checked, resolution, params.p_value)
    else:
        records, _ = _assign_per_wavelength(checked, resolution, params.p_value, progress)
    return resolution, records
