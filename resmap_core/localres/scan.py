"""The ResMap-H2 scan as four stages shared by ``resmap local`` and the Snakemake workflow.

1. :func:`prepare_inputs` — analysed map, noise source, masks, low-pass resampling and
   pre-whitening (everything later stages need, saved with :func:`save_prepared`);
2. :func:`wavelength_grid` — the data-driven list of wavelengths;
3. :func:`compute_pass` — LRS at every mask voxel for one wavelength, its σ² and null weights
   (it never looks at which voxels are already resolved, so passes can run in any order or in
   parallel and give the same numbers);
4. :func:`assign_resolution` + :func:`finalize` — Benjamini–Yekutieli per wavelength over the
   still-unresolved voxels (or once over all voxel × wavelength tests) and the output map.

``resmap local`` runs them in-process, the workflow runs each as a job; both write the map with
the same code, so the maps are byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from resmap_core.errors import InputError
from resmap_core.io.atomic import atomic_path, write_json
from resmap_core.io.mrc import MapData, MapGeometry, check_half_maps, sha256_file, write_map
from resmap_core.io.summary import resolution_summary, versions
from resmap_core.localres.basis import KERNELS, LocalModel, local_model, window_radius_vox
from resmap_core.localres.fdr import benjamini_yekutieli
from resmap_core.localres.lrs import lrs_at_mask
from resmap_core.localres.noise import MIN_BLOCKS, NoiseEstimate, block_starts, estimate_sigma2
from resmap_core.localres.null import tail_quantile
from resmap_core.localres.prepare import (
    apply_prewhitening,
    auto_mask,
    background_weight,
    detect_lowpass,
    fourier_resample,
    lowpass_grid,
    noise_spectrum,
    prewhiten,
    prewhiten_shells,
    resample_labels_to_grid,
    shells_beyond_elbow,
)
from resmap_core.progress import Progress

DEFAULT_KERNEL = "paper"
FDR_MODES = ("per-wavelength", "global")
MAX_WINDOW_FRACTION = 0.25
"""Default max_res: the window edge (2r+1) may reach this fraction of the shortest box edge."""


@dataclass(frozen=True)
class Params:
    """Every choice of a local-resolution run. Lengths in Å."""

    p_value: float = 0.05
    min_res_A: float | None = None
    max_res_A: float | None = None
    step_res_A: float = 1.0
    kernel: str = DEFAULT_KERNEL
    prewhiten: bool = True
    lowpass_check: bool = True
    fdr_mode: str = "per-wavelength"
    outside: float = 100.0

    def check(self) -> None:
        """Refuse impossible values with an :class:`InputError`."""
        for name, value in (
            ("--min-res", self.min_res_A),
            ("--max-res", self.max_res_A),
            ("--step-res", self.step_res_A),
        ):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise InputError(f"{name} must be a finite length > 0 Å, got {value}.")
        if not 0.0 < self.p_value < 1.0:
            raise InputError(f"--p-value must lie in (0, 1), got {self.p_value}.")
        if not self.step_res_A > 0:
            raise InputError(f"--step-res must be > 0 Å, got {self.step_res_A}.")
        if self.kernel not in KERNELS:
            raise InputError(f"--kernel must be one of {', '.join(KERNELS)}, got {self.kernel!r}.")
        if self.fdr_mode not in FDR_MODES:
            raise InputError(f"--fdr-mode must be one of {', '.join(FDR_MODES)}.")
        if (
            self.min_res_A is not None
            and self.max_res_A is not None
            and self.max_res_A < self.min_res_A
        ):
            raise InputError(
                f"--max-res ({self.max_res_A} Å) is below --min-res ({self.min_res_A} Å)."
            )

    def record(self) -> dict:
        """JSON form (NaN outside value written as the string 'nan')."""
        rec = asdict(self)
        if math.isnan(self.outside):
            rec["outside"] = "nan"
        return rec

    @classmethod
    def from_record(cls, rec: dict) -> Params:
        """Inverse of :meth:`record`."""
        values = dict(rec)
        values["outside"] = float(values["outside"])
        return cls(**values)


@dataclass
class Prepared:
    """The analysed data on the analysis grid (the input grid unless low-pass resampled).

    ``signal`` [z, y, x] float32: the map (single) or half-map average (split), pre-whitened;
    ``noise``: the half-map difference (h1 − h2)/2 whitened alike (split) or None (single);
    ``mask``: voxels tested; ``noise_region``: where σ² blocks may lie; ``input_mask``: the
    mask on the input grid; ``record``: provenance (inputs, mask, low-pass, pre-whitening).
    """

    mode: str
    signal: np.ndarray
    noise: np.ndarray | None
    mask: np.ndarray
    noise_region: np.ndarray
    input_mask: np.ndarray
    spacing_zyx_A: tuple[float, float, float]
    input_geometry: MapGeometry
    params: Params
    record: dict = field(default_factory=dict)
    _fingerprint: str | None = field(default=None, repr=False, compare=False)
    _distance_to_mask: np.ndarray | None = field(default=None, repr=False, compare=False)
    _blocks: dict = field(default_factory=dict, repr=False, compare=False)
    _sigma2: dict = field(default_factory=dict, repr=False, compare=False)
    _noise_released: bool = field(default=False, repr=False, compare=False)

    def noise_region_at(self, radius_vox: tuple[int, ...]) -> np.ndarray:
        """Where σ² blocks may lie for a window of half-width ``radius_vox``.

        Single mode: the background region as prepared. Split mode: the particle mask grown by
        the window half-width, inside the box's inscribed ellipsoid, so that blocks straddle
        the particle instead of having to fit wholly inside a tight, convoluted mask (ResMap 1.1
        crashed there, B9); the difference map's noise is the same in and around the particle.
        """
        if self.mode != "split":
            return self.noise_region
        if self._distance_to_mask is None:
            # taxicab distance = what repeated 6-connected dilations would grow; uint16 keeps
            # it at half the map's size (windows are far narrower than 65535 voxels)
            distance = ndimage.distance_transform_cdt(~self.noise_region, metric="taxicab")
            far = np.iinfo(np.uint16).max
            np.minimum(distance, far, out=distance)
            distance[~_inscribed_ellipsoid(self.noise_region.shape)] = far  # blocks stay inside
            self._distance_to_mask = distance.astype(np.uint16)
        return self._distance_to_mask <= max(radius_vox)

    def noise_blocks(self, radius_vox: tuple[int, ...]) -> np.ndarray:
        """Start indices (n, 3) of the σ² blocks for a window of half-width ``radius_vox``."""
        key = tuple(int(r) for r in radius_vox)
        if key not in self._blocks:
            edges = tuple(2 * r + 1 for r in key)
            blocks = block_starts(self.noise_region_at(key), edges)  # type: ignore[arg-type]
            if self.mode == "split" and len(blocks) < MIN_BLOCKS:
                # a mask too small to hold blocks: the difference map is noise everywhere, so
                # measure it over the whole inscribed ellipsoid rather than give up
                whole = _inscribed_ellipsoid(self.noise_region.shape)
                blocks = block_starts(whole, edges)  # type: ignore[arg-type]
            self._blocks[key] = blocks
        return self._blocks[key]

    @property
    def noise_source(self) -> np.ndarray:
        """The map whose blocks give σ²: the difference map (split) or the map itself."""
        if self._noise_released:
            raise RuntimeError("the noise map was released after estimating the listed σ²")
        return self.noise if self.noise is not None else self.signal

    def noise_estimate(self, model: LocalModel) -> NoiseEstimate:
        """σ² at ``model``'s wavelength from the noise blocks (cached per wavelength)."""
        key = float(model.wavelength_A)
        if key not in self._sigma2:
            blocks = self.noise_blocks(model.radius_vox)
            self._sigma2[key] = estimate_sigma2(self.noise_source, blocks, model)
        return self._sigma2[key]

    def estimate_noise_and_release(self, wavelengths: Iterable[float]) -> None:
        """σ² for every wavelength now, then drop what only σ² needed.

        The difference map (split mode) and the block search's distance map are released, so
        the passes of a large map run with two full-size arrays fewer in memory. Later passes
        can only use the wavelengths listed here.
        """
        for lam in wavelengths:
            self.noise_estimate(local_model(lam, self.spacing_zyx_A, self.params.kernel))
        self.fingerprint()  # it covers the difference map: compute it while we have it
        self._noise_released = True
        self.noise = None
        self._distance_to_mask = None
        self._blocks.clear()

    def fingerprint(self) -> str:
        """Short digest tying pass files to the prepared data they came from (cached)."""
        if self._fingerprint is None:
            self._fingerprint = self._digest()
        return self._fingerprint

    def _digest(self) -> str:
        h = hashlib.sha256()
        for arr in (self.signal, self.mask, self.noise_region):
            h.update(np.ascontiguousarray(arr).view(np.uint8))  # no copy of the bytes
        if self.noise is not None:
            h.update(np.ascontiguousarray(self.noise).view(np.uint8))
        # Only what changes the passes: fdr-stage parameters may be overridden later.
        h.update(json.dumps([self.params.kernel, list(self.spacing_zyx_A)]).encode())
        return h.hexdigest()[:16]


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


# ---------------------------------------------------------------------------------------------
# Stage 1: preparation


def _inscribed_ellipsoid(shape: tuple[int, int, int]) -> np.ndarray:
    """Voxels inside the ellipsoid inscribed in the box (background blocks must lie there)."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    r2 = sum(((g - (n - 1) / 2.0) / (n / 2.0)) ** 2 for g, n in zip(grids, shape, strict=True))
    return r2 < 1.0


def _min_res_default(spacing: tuple[float, float, float]) -> float:
    """2.2 × the coarsest voxel size, rounded up to 0.1 Å (method.md §6)."""
    return math.ceil(round(2.2 * max(spacing) * 10.0, 6)) / 10.0


#: Fewer mask voxels than one window at the smallest half-width (5³) cannot be analysed.
MIN_MASK_VOXELS = 125
#: Single mode: more than this fraction of background voxels holding one exact value means the
#: solvent was flattened (a masked deposition): there is no noise to measure.
FLAT_BACKGROUND_FRACTION = 0.25


def _check_inputs(maps: list[MapData], params: Params) -> None:
    """Refuse impossible combinations of maps and parameters (:class:`InputError`)."""
    params.check()
    if len(maps) not in (1, 2):
        raise InputError("give one map (single mode) or two half maps (split mode).")
    if len(maps) == 2:
        check_half_maps(*maps)
    geometry = maps[0].geometry
    spacing = geometry.spacing_zyx_A
    if min(geometry.shape) < 8:
        raise InputError(f"{maps[0].path}: the box {geometry.shape[::-1]} is too small to analyse.")
    nyquist_A = 2.0 * max(spacing)
    if params.min_res_A is not None and params.min_res_A < nyquist_A - 1e-9:
        raise InputError(
            f"--min-res {params.min_res_A} Å is below Nyquist ({nyquist_A:.3f} Å for voxels of "
            f"{max(spacing):.3f} Å); choose at least {nyquist_A:.2f} Å."
        )
    for m in maps:
        if not np.isfinite(m.data).all():
            raise InputError(f"{m.path}: the map holds NaN or infinite values.")


def _signal_and_noise(maps: list[MapData]) -> tuple[np.ndarray, np.ndarray | None]:
    """(analysed map, noise map): half-map average and difference (h1 − h2)/2 in split mode,
    the mean-removed map and None in single mode (float32 [z, y, x])."""
    if len(maps) == 1:
        signal = maps[0].data.astype(np.float32)
        signal -= np.float32(signal.mean(dtype=np.float64))
        return signal, None
    # float32 and in place: large boxes hold no extra copies (every later step that needs
    # double precision works in slabs or on spectra)
    signal = maps[0].data.astype(np.float32)
    signal += maps[1].data
    signal *= 0.5
    noise = maps[0].data.astype(np.float32)
    noise -= maps[1].data
    noise *= 0.5
    if not np.any(noise):
        raise InputError(
            f"{maps[1].path}: the half maps are identical, so there is no noise estimate; "
            "give independent half maps or run on one map (single mode)."
        )
    return signal, noise


def _checked_mask(mask: np.ndarray, source: str, path: str | None) -> dict:
    """The mask record {source, path, voxels}; refuses an empty or tiny mask (InputError)."""
    voxels = int(np.count_nonzero(mask))
    if source == "auto":
        where, advice = "the automatic mask", "give a mask with --mask"
        if voxels == 0:
            raise InputError(
                "the automatic mask is empty (no density stands out of the background); "
                "give a mask with --mask."
            )
    else:
        where, advice = f"{path}: the mask", "give a larger mask"
    if voxels < MIN_MASK_VOXELS:
        raise InputError(
            f"{where} holds {voxels} voxels; at least {MIN_MASK_VOXELS} (one 5×5×5 window) are "
            f"needed to measure local resolution: {advice}."
        )
    return {"source": source, "path": path, "voxels": voxels}


def _given_mask(mask: np.ndarray, geometry: MapGeometry, path: str | None) -> np.ndarray:
    """A user's mask as booleans on the map's grid."""
    if mask.shape != geometry.shape:
        raise InputError(f"{path}: the mask is not on the map's grid.")
    return mask.astype(bool, copy=False)


def _single_mode_background(
    signal: np.ndarray, mask: np.ndarray, spacing: tuple[float, float, float], path: str
) -> tuple[np.ndarray, np.ndarray]:
    """(noise region, soft background weight) of single mode; refuses flattened solvent.

    The noise region lies inside the box's inscribed ellipsoid, outside the mask grown by 2
    voxels (the faint edge of the density stays out). A deposition whose solvent was masked to
    one constant value has no background noise: its σ² would be ~0 and every voxel would
    resolve at the first wavelength, so it is refused with a pointer to split mode.
    """
    grown = ndimage.binary_dilation(mask, iterations=2)
    region = _inscribed_ellipsoid(mask.shape) & ~grown
    values = signal[region]
    if values.size:
        centre = np.partition(values, values.size // 2)[values.size // 2]
        flat = float(np.count_nonzero(values == centre)) / values.size
        if flat > FLAT_BACKGROUND_FRACTION:
            raise InputError(
                f"{path}: {100 * flat:.0f} % of the background voxels hold exactly the same "
                "value (flattened or masked solvent), so there is no background noise to measure "
                "in single-map mode; give the two unmasked half maps (split mode)."
            )
    return region, background_weight(mask, spacing)


def _lowpass_resampled(
    signal: np.ndarray,
    noise: np.ndarray | None,
    weight: np.ndarray | None,
    masks: list[np.ndarray],
    spacing: tuple[float, float, float],
    progress: Progress,
) -> tuple[np.ndarray, np.ndarray | None, list[np.ndarray], tuple[float, float, float], dict]:
    """Low-pass test on the noise (difference map, or background through ``weight``) and, when
    the noise spectrum collapses, the maps and ``masks`` on a coarser grid with Nyquist at the
    collapse. Returns (signal, noise, masks, spacing, record)."""
    lp = detect_lowpass(signal if noise is None else noise, spacing, weight)
    record = lp.record() | {"noise_source": "background" if noise is None else "difference"}
    if not lp.detected:
        return signal, noise, masks, spacing, record
    new_shape, new_spacing = lowpass_grid(signal.shape, spacing, lp.grid_cutoff_invA)
    if tuple(new_shape) == signal.shape:
        return signal, noise, masks, spacing, record
    progress.say(
        f"the noise spectrum collapses beyond {lp.cutoff_A:.2f} Å (low-pass filtered input): "
        f"analysing on a {tuple(new_shape)[::-1]} grid of {max(new_spacing):.3f} Å voxels"
    )
    signal = fourier_resample(signal, tuple(new_shape))
    if noise is not None:
        noise = fourier_resample(noise, tuple(new_shape))
    coarse = [
        resample_labels_to_grid(m.astype(np.float32), m.shape, spacing, new_shape, new_spacing)
        > 0.5
        for m in masks
    ]
    return signal, noise, coarse, tuple(float(d) for d in new_spacing), record  # type: ignore[return-value]


#: Fewer whitening shells than this between the elbow and Nyquist: pre-whitening is skipped.
MIN_WHITENING_SHELLS = 4


def _whitened(
    signal: np.ndarray,
    noise: np.ndarray | None,
    weight: np.ndarray | None,
    spacing: tuple[float, float, float],
    threads: int | None,
    progress: Progress,
) -> tuple[np.ndarray, np.ndarray | None, dict | None]:
    """Pre-whitened (signal, noise) and the filter's record: shell by shell from the difference
    map in split mode, a quadratic fit on the background in single mode. A grid with fewer than
    ``MIN_WHITENING_SHELLS`` shells beyond the elbow (a map filtered at 10–20 Å and resampled) is
    left as it is: over so narrow a band the noise colour does not matter."""
    beyond = shells_beyond_elbow(signal.shape, spacing)
    if beyond < MIN_WHITENING_SHELLS:
        progress.say(f"pre-whitening skipped: only {beyond} frequency shells beyond the elbow")
        return signal, noise, None
    if noise is not None:
        pw, noise = prewhiten_shells(noise, spacing, threads=threads)
        signal = apply_prewhitening(signal, pw, threads=threads)
    else:
        pw, signal = prewhiten(signal, spacing, weight=weight, threads=threads)
    progress.say(f"pre-whitened beyond {pw.elbow_A:.1f} Å ({pw.method})")
    return signal, noise, pw.record()


def _on_input_grid(
    mask: np.ndarray, spacing: tuple[float, float, float], geometry: MapGeometry
) -> np.ndarray:
    """A mask of the analysis grid transferred (nearest neighbour) to the input grid."""
    if mask.shape == tuple(geometry.shape):
        return mask
    coarse = mask.astype(np.float32)
    fine = resample_labels_to_grid(
        coarse, mask.shape, spacing, geometry.shape, geometry.spacing_zyx_A
    )
    return fine > 0.5


def prepare_inputs(
    maps: list[MapData],
    mask: np.ndarray | None,
    params: Params,
    mask_path: str | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> Prepared:
    """Stage 1: check inputs and build the analysed data (see :class:`Prepared`).

    Single mode needs the mask first (the background is where the noise is measured). Split
    mode tests and whitens on the difference map alone, then draws an automatic mask on the
    whitened average, so that one radial filter on both half maps cannot change the mask.
    """
    progress = progress or Progress(quiet=True)
    _check_inputs(maps, params)
    geometry = maps[0].geometry
    spacing = geometry.spacing_zyx_A
    mode = "split" if len(maps) == 2 else "single"
    signal, noise = _signal_and_noise(maps)
    given = None if mask is None else _given_mask(mask, geometry, mask_path)
    mask_record = None
    weight = noise_region = None
    if given is None and mode == "single":
        given = auto_mask(signal, spacing)
        mask_record = _checked_mask(given, "auto", None)
    elif given is not None:
        mask_record = _checked_mask(given, "given", mask_path)
    if mode == "single":
        noise_region, weight = _single_mode_background(signal, given, spacing, maps[0].path)
    lowpass_rec: dict = {"detected": False, "cutoff_A": None, "resample_factor": 1.0}
    masks = [] if given is None else [given]
    if params.lowpass_check:
        signal, noise, masks, new_spacing, lowpass_rec = _lowpass_resampled(
            signal, noise, weight, masks, spacing, progress
        )
        if new_spacing != spacing and mode == "single":
            noise_region, weight = _single_mode_background(
                signal, masks[0], new_spacing, maps[0].path
            )
        spacing = new_spacing
    pw_record = None
    if params.prewhiten:
        signal, noise, pw_record = _whitened(signal, noise, weight, spacing, threads, progress)
    if pw_record is not None:
        # the spectrum the whitening was fitted on: the noise as it came in
        spectrum = {
            "frequency_invA": pw_record["frequency_invA"],
            "power": pw_record["spectrum_before"],
        }
    else:
        spectrum = noise_spectrum(signal if noise is None else noise, spacing, weight)
    del weight
    if given is None:  # split mode, automatic mask on the whitened average
        masks = [auto_mask(signal, spacing)]
        mask_record = _checked_mask(masks[0], "auto", None)
        given = _on_input_grid(masks[0], spacing, geometry)
    analysis_mask = masks[0]
    if mode == "split":
        noise_region = analysis_mask  # read only: shared, not copied
    progress.say(f"{mode} mode, box {geometry.shape[::-1]}, mask {mask_record['voxels']} voxels")
    record = {
        "mode": mode,
        "input_geometry": geometry.to_record(),
        "analysis_spacing_zyx_A": list(spacing),
        "mask": mask_record,
        "lowpass": lowpass_rec,
        "prewhitening": pw_record,
        "noise_spectrum": spectrum,
        "inputs": [
            {"path": m.path, "sha256": sha256_file(m.path) if m.path else None} for m in maps
        ],
    }
    return Prepared(
        mode=mode,
        signal=signal.astype(np.float32, copy=False),
        noise=None if noise is None else noise.astype(np.float32, copy=False),
        mask=analysis_mask,
        noise_region=noise_region,
        input_mask=given,
        spacing_zyx_A=tuple(float(s) for s in spacing),  # type: ignore[arg-type]
        input_geometry=geometry,
        params=params,
        record=record,
    )


def save_prepared(path: str, prep: Prepared) -> None:
    """Write a :class:`Prepared` as ``.npz`` (atomically)."""
    meta = {
        "mode": prep.mode,
        "spacing_zyx_A": list(prep.spacing_zyx_A),
        "input_geometry": prep.input_geometry.to_record(),
        "params": prep.params.record(),
        "record": prep.record,
    }
    arrays = {
        "signal": prep.signal,
        "mask": prep.mask,
        "noise_region": prep.noise_region,
        "input_mask": prep.input_mask,
        "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    }
    if prep.noise is not None:
        arrays["noise"] = prep.noise
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def load_prepared(path: str) -> Prepared:
    """Read a file written by :func:`save_prepared`."""
    try:
        with np.load(path) as npz:
            meta = json.loads(npz["meta"].tobytes().decode())
            noise = npz["noise"] if "noise" in npz.files else None
            return Prepared(
                mode=meta["mode"],
                signal=npz["signal"],
                noise=noise,
                mask=npz["mask"],
                noise_region=npz["noise_region"],
                input_mask=npz["input_mask"],
                spacing_zyx_A=tuple(meta["spacing_zyx_A"]),  # type: ignore[arg-type]
                input_geometry=MapGeometry.from_record(meta["input_geometry"]),
                params=Params.from_record(meta["params"]),
                record=meta["record"],
            )
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(
            f"{path}: not a prepared-data file from 'resmap prepare' ({exc})."
        ) from None


# ---------------------------------------------------------------------------------------------
# Stage 2: the wavelength grid


def wavelength_grid(prep: Prepared) -> list[float]:
    """Wavelengths (Å) from min_res in steps of step_res up to max_res.

    Defaults: min_res = 2.2 × the input's coarsest voxel (rounded up to 0.1 Å); on a grid
    resampled for a low-pass filter the scan starts at the first min_res + i·step at or above
    2.2 × the coarse voxel, so that the wavelengths are those of the unfiltered map's scan (a
    gentle filter on both half maps must not shift every answer). max_res, when not given,
    is data-driven: the largest wavelength at which (a) the noise region still holds
    ``MIN_BLOCKS`` whole blocks for the variance estimate and (b) the window edge stays within a
    quarter of the shortest box edge. Raises :class:`InputError` when even the first wavelength
    has no variance estimate.
    """
    params = prep.params
    spacing = prep.spacing_zyx_A
    input_spacing = prep.input_geometry.spacing_zyx_A
    min_res = params.min_res_A if params.min_res_A is not None else _min_res_default(input_spacing)
    # A map resampled for its low-pass filter holds nothing finer than the coarse grid's
    # Nyquist: the scan starts at the first step above it.
    resampled = tuple(spacing) != tuple(input_spacing)
    floor = _min_res_default(spacing) if resampled else 0.0
    step = params.step_res_A
    limit = params.max_res_A
    grid: list[float] = []
    shortest = min(prep.signal.shape)
    for i in range(100000):
        lam = round(min_res + i * step, 6)
        if limit is not None and lam > limit + 1e-9:
            break
        if lam < floor - 1e-9:
            continue
        radius = window_radius_vox(lam, spacing)
        edges = tuple(2 * r + 1 for r in radius)
        blocks = len(prep.noise_blocks(radius))
        if blocks < MIN_BLOCKS:
            if not grid:
                where = (
                    "within the window half-width of the mask, on the difference map"
                    if prep.mode == "split"
                    else ("in the background (inside the box's inscribed sphere, outside the mask)")
                )
                raise InputError(
                    f"too little {'particle' if prep.mode == 'split' else 'background'} for the "
                    f"noise variance at {lam} Å: fewer than {MIN_BLOCKS} blocks of {edges[::-1]} "
                    f"voxels fit {where}. "
                    + (
                        "Use a larger mask."
                        if prep.mode == "split"
                        else "Use a tighter mask, a larger box, or half maps (split mode)."
                    )
                )
            break
        if limit is None and max(edges) > max(2 * 2 + 1, MAX_WINDOW_FRACTION * shortest) and grid:
            break
        grid.append(lam)
    if not grid:
        top = "∞" if limit is None else f"{limit:g}"
        raise InputError(
            f"no wavelength to test: the scan would start at {max(min_res, floor):.2f} Å "
            f"(2.2 × the {max(spacing):.3f} Å analysis voxel) but --max-res is {top} Å; "
            "raise --max-res or lower --min-res."
        )
    return grid


# ---------------------------------------------------------------------------------------------
# Stage 3: one pass per wavelength


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


# ---------------------------------------------------------------------------------------------
# Stage 4: FDR and the output map


def _wavelength_record(result: PassResult, p_value: float) -> dict:
    testable = bool(np.isfinite(result.sigma2))
    return {
        "lambda_A": result.wavelength_A,
        "window_radius_vox": list(result.radius_vox[::-1]),
        "sigma2": result.sigma2 if testable else None,
        "noise_blocks": result.noise_blocks,
        "null_weights": [float(v) for v in result.null_weights],
        "threshold_uncorrected": float(tail_quantile(p_value, result.null_weights)),
        "threshold_fdr": None,
        "tested": 0,
        "assigned": 0,
    }


def assign_resolution(
    prep: Prepared, passes: Iterable[PassResult], progress: Progress | None = None
) -> tuple[np.ndarray, list[dict]]:
    """Resolution (Å, NaN = unresolved) at each mask voxel (C order) and per-wavelength records.

    Per-wavelength mode (default, as ResMap): at each λ in increasing order, BY at level p over
    the mask voxels still unresolved (and testable); those rejected get λ. Passes are consumed
    lazily and the scan stops once every voxel is resolved. Global mode: one BY family over every
    voxel × wavelength test; each voxel gets the smallest λ at which it is rejected.
    """
    progress = progress or Progress(quiet=True)
    params = prep.params
    n = int(prep.mask.sum())
    resolution = np.full(n, np.nan, dtype=np.float32)  # the output map is float32 anyway
    records: list[dict] = []
    fingerprint = prep.fingerprint()

    def checked(results: Iterable[PassResult]) -> Iterator[PassResult]:
        for res in results:
            if res.prepared_fingerprint != fingerprint or res.lrs.shape != (n,):
                raise InputError(
                    f"the pass at {res.wavelength_A} Å was computed from different prepared data; "
                    "rerun 'resmap pass' on this PREP.npz."
                )
            yield res
            del res  # hold no pass while the next one is computed

    if params.fdr_mode == "global":
        results = list(checked(passes))
        by = benjamini_yekutieli(
            [r.lrs for r in results], [r.null_weights for r in results], params.p_value
        )
        for res, rejected, thr in zip(results, by.rejected, by.stat_thresholds, strict=True):
            rec = _wavelength_record(res, params.p_value)
            new = rejected & np.isnan(resolution)
            resolution[new] = res.wavelength_A
            rec.update(
                tested=int(np.isfinite(res.lrs).sum()),
                assigned=int(new.sum()),
                threshold_fdr=None if not np.isfinite(thr) else float(thr),
            )
            records.append(rec)
        return resolution, records

    for res in checked(passes):
        unresolved = np.isnan(resolution)
        if not unresolved.any():
            break
        rec = _wavelength_record(res, params.p_value)
        stats = np.where(unresolved, res.lrs, np.nan)  # the family: unresolved, testable voxels
        del unresolved
        tested = int(np.count_nonzero(~np.isnan(stats)))
        if tested:
            by = benjamini_yekutieli([stats], [res.null_weights], params.p_value)
            hit = by.rejected[0]
            resolution[hit] = res.wavelength_A
            thr = by.stat_thresholds[0]
            rec.update(
                tested=tested,
                assigned=int(np.count_nonzero(hit)),
                threshold_fdr=None if not np.isfinite(thr) else float(thr),
            )
            del by, hit
        del stats
        records.append(rec)
        left = int(np.isnan(resolution).sum())
        progress.say(
            f"λ = {res.wavelength_A:5.2f} Å  σ² = {res.sigma2:.4g}  tested {rec['tested']}  "
            f"assigned {rec['assigned']}  voxels left {left}"
        )
        del res  # drop this pass before the next one is computed (memory of large maps)
    return resolution, records


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


#: More of the mask than this left unresolved is said in words in the record.
UNRESOLVED_WARN_FRACTION = 0.3


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


def finalize(
    prep: Prepared, resolution: np.ndarray, records: list[dict]
) -> tuple[np.ndarray, dict]:
    """The output map on the input grid (float32, Å) and the summary record of docs/outputs.md."""
    params = prep.params
    analysis = np.full(prep.mask.shape, np.nan, dtype=np.float32)
    analysis[prep.mask] = resolution
    geometry = prep.input_geometry
    if analysis.shape != tuple(geometry.shape):
        analysis = _to_input_grid(prep, analysis)
    inside = analysis[prep.input_mask]
    summary = resolution_summary(inside)
    lambdas, counts = np.unique(inside[np.isfinite(inside)], return_counts=True)
    del inside
    # in place: outside the mask and unresolved voxels get the outside value
    outside = ~prep.input_mask
    outside |= np.isnan(analysis)
    analysis[outside] = np.float32(params.outside)
    del outside
    record = {
        "warnings": _outcome_warnings(prep, records, summary),
        "mode": prep.mode,
        "voxel_size_A": list(geometry.voxel_size_A),
        "analysis_voxel_size_A": list(prep.spacing_zyx_A[::-1]),
        "p_value": params.p_value,
        "kernel": params.kernel,
        "fdr_mode": params.fdr_mode,
        "outside_value": params.record()["outside"],
        "mask_voxels": int(prep.input_mask.sum()),
        "histogram": {
            "lambda_A": [float(v) for v in lambdas],
            "count": [int(v) for v in counts],
        },
        "wavelengths": records,
        "prewhitening": prep.record.get("prewhitening"),
        "noise_spectrum": prep.record.get("noise_spectrum"),
        "lowpass": prep.record.get("lowpass"),
        "mask": prep.record.get("mask"),
        "inputs": prep.record.get("inputs"),
        "parameters": params.record(),
        "versions": versions(),
        **summary,
    }
    return analysis, record


def write_result(
    path: str, volume: np.ndarray, record: dict, geometry: MapGeometry, seconds: float
) -> None:
    """Write OUT.mrc and OUT.json beside it (both atomically; the JSON last)."""
    write_map(path, volume, geometry, label="local resolution (A)")
    json_path = Path(path).with_suffix(".json")
    write_json(json_path, {**record, "seconds": round(seconds, 3)})


def run_local(
    maps: list[MapData],
    mask: np.ndarray | None,
    params: Params,
    mask_path: str | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, dict]:
    """All four stages in-process: the Python API of ``resmap local``.

    ``maps`` holds one map (single mode) or two half maps (split mode), each with its voxel
    size; returns the local-resolution map on the input grid (Å, float32) and its record.
    """
    progress = progress or Progress(quiet=True)
    prep = prepare_inputs(maps, mask, params, mask_path, threads, progress)
    grid = wavelength_grid(prep)
    progress.say(f"{len(grid)} wavelengths: {grid[0]:.2f} .. {grid[-1]:.2f} Å")
    prep.estimate_noise_and_release(grid)
    passes = (compute_pass(prep, lam, threads) for lam in grid)
    resolution, records = assign_resolution(prep, passes, progress)
    volume, record = finalize(prep, resolution, records)
    for warning in record["warnings"]:
        progress.say(f"warning: {warning}")
    return volume, record
