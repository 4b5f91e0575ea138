"""Stage 1 of the scan: from the input maps to the analysed data (:class:`.prepared.Prepared`).

:func:`prepare_inputs` runs named steps on a draft: check the inputs, form the signal and noise
maps, take the mask (given, or automatic in single mode) and single mode's background, test the
noise for a low-pass filter and move to a coarser grid if it has one, pre-whiten, record the
noise spectrum, and (split mode without a mask) draw the automatic mask on the whitened average.
The numerics of each step live in :mod:`.mask`, :mod:`.lowpass`, :mod:`.resample` and
:mod:`.whitening`; docs/preparation.md describes them and the refusals made here (§4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from resmap_core.errors import InputError
from resmap_core.io.mrc import MapData, MapGeometry, check_half_maps, sha256_file
from resmap_core.localres.lowpass import detect_lowpass, lowpass_grid
from resmap_core.localres.mask import Spacing, auto_mask, background_weight, inscribed_ellipsoid
from resmap_core.localres.params import Params
from resmap_core.localres.prepared import Prepared
from resmap_core.localres.resample import fourier_resample, resample_labels_to_grid
from resmap_core.localres.spectra import noise_spectrum
from resmap_core.localres.whitening import (
    apply_prewhitening,
    prewhiten,
    prewhiten_shells,
    shells_beyond_elbow,
)
from resmap_core.progress import Progress

#: Fewer mask voxels than one window at the smallest half-width (5³) cannot be analysed.
MIN_MASK_VOXELS = 125
#: Single mode: more than this fraction of background voxels holding one exact value means the
#: solvent was flattened (a masked deposition): there is no noise to measure.
FLAT_BACKGROUND_FRACTION = 0.25
#: Fewer whitening shells than this between the elbow and Nyquist: pre-whitening is skipped.
MIN_WHITENING_SHELLS = 4


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
    signal: np.ndarray, mask: np.ndarray, spacing: Spacing, path: str
) -> tuple[np.ndarray, np.ndarray]:
    """(noise region, soft background weight) of single mode; refuses flattened solvent.

    The noise region lies inside the box's inscribed ellipsoid, outside the mask grown by 2
    voxels (the faint edge of the density stays out). A deposition whose solvent was masked to
    one constant value has no background noise: its σ² would be ~0 and every voxel would
    resolve at the first wavelength, so it is refused with a pointer to split mode.
    """
    grown = ndimage.binary_dilation(mask, iterations=2)
    region = inscribed_ellipsoid(mask.shape) & ~grown
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


def _on_input_grid(mask: np.ndarray, spacing: Spacing, geometry: MapGeometry) -> np.ndarray:
    """A mask of the analysis grid transferred (nearest neighbour) to the input grid."""
    if mask.shape == tuple(geometry.shape):
        return mask
    coarse = mask.astype(np.float32)
    fine = resample_labels_to_grid(
        coarse, mask.shape, spacing, geometry.shape, geometry.spacing_zyx_A
    )
    return fine > 0.5


@dataclass
class _Draft:
    """The analysed data while :func:`prepare_inputs` builds it, one step at a time.

    Arrays are [z, y, x] on the current analysis grid (voxel sizes ``spacing``, Å); each step
    replaces the arrays it changes, so no old copy stays alive. ``mask`` is the analysis-grid
    mask (None until split mode draws its automatic one) and ``input_mask`` the same mask on the
    input grid; ``weight`` is single mode's soft background weight; ``lowpass`` and
    ``prewhitening`` are the records of docs/outputs.md.
    """

    mode: str
    path: str
    signal: np.ndarray
    noise: np.ndarray | None
    spacing: Spacing
    mask: np.ndarray | None = None
    input_mask: np.ndarray | None = None
    mask_record: dict | None = None
    noise_region: np.ndarray | None = None
    weight: np.ndarray | None = None
    lowpass: dict = field(
        default_factory=lambda: {"detected": False, "cutoff_A": None, "resample_factor": 1.0}
    )
    prewhitening: dict | None = None


def _start_draft(maps: list[MapData]) -> _Draft:
    """The draft of split mode (two maps) or single mode (one map) on the input grid."""
    signal, noise = _signal_and_noise(maps)
    mode = "split" if len(maps) == 2 else "single"
    return _Draft(mode, maps[0].path, signal, noise, maps[0].geometry.spacing_zyx_A)


def _take_mask(
    draft: _Draft, mask: np.ndarray | None, geometry: MapGeometry, mask_path: str | None
) -> None:
    """The given mask, or single mode's automatic one, and single mode's background.

    Single mode needs its mask first: the background is where its noise is measured. Split
    mode without a mask draws it later, on the whitened average (:func:`_split_auto_mask`).
    """
    given = None if mask is None else _given_mask(mask, geometry, mask_path)
    if given is None and draft.mode == "single":
        given = auto_mask(draft.signal, draft.spacing)
        draft.mask_record = _checked_mask(given, "auto", None)
    elif given is not None:
        draft.mask_record = _checked_mask(given, "given", mask_path)
    draft.mask = draft.input_mask = given
    if draft.mode == "single":
        draft.noise_region, draft.weight = _single_mode_background(
            draft.signal, given, draft.spacing, draft.path
        )


def _resample_if_lowpass(draft: _Draft, progress: Progress) -> None:
    """Low-pass test on the noise (difference map, or background through the weight) and,
    when the noise spectrum collapses, the draft moved to a coarser grid with Nyquist at the
    collapse (:func:`_move_to_grid`)."""
    split = draft.noise is not None
    lp = detect_lowpass(draft.noise if split else draft.signal, draft.spacing, draft.weight)
    draft.lowpass = lp.record() | {"noise_source": "difference" if split else "background"}
    if not lp.detected:
        return
    new_shape, new_spacing = lowpass_grid(draft.signal.shape, draft.spacing, lp.grid_cutoff_invA)
    if tuple(new_shape) == draft.signal.shape:
        return
    progress.say(
        f"the noise spectrum collapses beyond {lp.cutoff_A:.2f} Å (low-pass filtered input): "
        f"analysing on a {tuple(new_shape)[::-1]} grid of {max(new_spacing):.3f} Å voxels"
    )
    coarse_spacing: Spacing = tuple(float(d) for d in new_spacing)  # type: ignore[assignment]
    _move_to_grid(draft, tuple(new_shape), coarse_spacing)


def _move_to_grid(draft: _Draft, shape: tuple[int, int, int], spacing: Spacing) -> None:
    """The draft on a coarser grid of ``shape`` voxels of ``spacing`` Å: maps by exact Fourier
    resampling, the mask by nearest neighbour, single mode's background measured again."""
    draft.signal = fourier_resample(draft.signal, shape)
    if draft.noise is not None:
        draft.noise = fourier_resample(draft.noise, shape)
    if draft.mask is not None:
        labels = draft.mask.astype(np.float32)
        moved = resample_labels_to_grid(labels, labels.shape, draft.spacing, shape, spacing)
        draft.mask = moved > 0.5
    draft.spacing = spacing
    if draft.mode == "single":
        draft.noise_region, draft.weight = _single_mode_background(
            draft.signal, draft.mask, spacing, draft.path
        )


def _prewhiten(draft: _Draft, threads: int | None, progress: Progress) -> None:
    """Pre-whitened signal and noise and the filter's record: shell by shell from the difference
    map in split mode, a quadratic fit on the background in single mode. A grid with fewer than
    ``MIN_WHITENING_SHELLS`` shells beyond the elbow (a map filtered at 10–20 Å and resampled) is
    left as it is: over so narrow a band the noise colour does not matter."""
    beyond = shells_beyond_elbow(draft.signal.shape, draft.spacing)
    if beyond < MIN_WHITENING_SHELLS:
        progress.say(f"pre-whitening skipped: only {beyond} frequency shells beyond the elbow")
        return
    if draft.noise is not None:
        pw, draft.noise = prewhiten_shells(draft.noise, draft.spacing, threads=threads)
        draft.signal = apply_prewhitening(draft.signal, pw, threads=threads)
    else:
        pw, draft.signal = prewhiten(draft.signal, draft.spacing, draft.weight, threads=threads)
    progress.say(f"pre-whitened beyond {pw.elbow_A:.1f} Å ({pw.method})")
    draft.prewhitening = pw.record()


def _noise_spectrum_record(draft: _Draft) -> dict:
    """{frequency_invA, power}: the spectrum the whitening was fitted on (the noise as it came
    in), or the noise's spectrum measured now when nothing was whitened."""
    if draft.prewhitening is not None:
        return {
            "frequency_invA": draft.prewhitening["frequency_invA"],
            "power": draft.prewhitening["spectrum_before"],
        }
    noise = draft.signal if draft.noise is None else draft.noise
    return noise_spectrum(noise, draft.spacing, draft.weight)


def _split_auto_mask(draft: _Draft, geometry: MapGeometry) -> None:
    """Split mode without a given mask: the automatic mask drawn on the whitened average (so one
    radial filter on both half maps cannot change it), on both grids."""
    draft.mask = auto_mask(draft.signal, draft.spacing)
    draft.mask_record = _checked_mask(draft.mask, "auto", None)
    draft.input_mask = _on_input_grid(draft.mask, draft.spacing, geometry)


def _prepared(draft: _Draft, maps: list[MapData], params: Params, spectrum: dict) -> Prepared:
    """The finished draft as :class:`Prepared`, with its provenance record."""
    geometry = maps[0].geometry
    record = {
        "mode": draft.mode,
        "input_geometry": geometry.to_record(),
        "analysis_spacing_zyx_A": list(draft.spacing),
        "mask": draft.mask_record,
        "lowpass": draft.lowpass,
        "prewhitening": draft.prewhitening,
        "noise_spectrum": spectrum,
        "inputs": [
            {"path": m.path, "sha256": sha256_file(m.path) if m.path else None} for m in maps
        ],
    }
    return Prepared(
        mode=draft.mode,
        signal=draft.signal.astype(np.float32, copy=False),
        noise=None if draft.noise is None else draft.noise.astype(np.float32, copy=False),
        mask=draft.mask,  # type: ignore[arg-type]
        noise_region=draft.noise_region,  # type: ignore[arg-type]
        input_mask=draft.input_mask,  # type: ignore[arg-type]
        spacing_zyx_A=tuple(float(s) for s in draft.spacing),  # type: ignore[arg-type]
        input_geometry=geometry,
        params=params,
        record=record,
    )


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
    draft = _start_draft(maps)
    _take_mask(draft, mask, geometry, mask_path)
    if params.lowpass_check:
        _resample_if_lowpass(draft, progress)
    if params.prewhiten:
        _prewhiten(draft, threads, progress)
    spectrum = _noise_spectrum_record(draft)
    draft.weight = None  # only the background's spectra needed it
    if draft.mask is None:
        _split_auto_mask(draft, geometry)
    if draft.mode == "split":
        draft.noise_region = draft.mask  # read only: shared, not copied
    voxels = draft.mask_record["voxels"]  # type: ignore[index]
    progress.say(f"{draft.mode} mode, box {geometry.shape[::-1]}, mask {voxels} voxels")
    return _prepared(draft, maps, params, spectrum)
