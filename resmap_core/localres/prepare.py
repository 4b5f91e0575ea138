"""Stage 1 of the scan: from the input maps to the analysed data (:class:`.prepared.Prepared`).

:func:`prepare_inputs` runs named steps on a draft: check the inputs, form the signal and noise
maps, take the mask (given, or automatic in single mode) and single mode's background, test the
noise for a low-pass filter and move to a coarser grid if it has one, pre-whiten, record the
noise spectrum, and (split mode without a mask) draw the automatic mask on the whitened average.
The numerics of each step live in :mod:`.mask`, :mod:`.lowpass`, :mod:`.resample` and
:mod:`.whitening`; docs/preparation.md describes them and the refusals made here (§4).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from resmap_core.errors import InputError
from resmap_core.io.mrc import MapData, MapGeometry, check_half_maps, planes, sha256_file
from resmap_core.localres.lowpass import detect_lowpass, lowpass_grid
from resmap_core.localres.mask import Spacing, auto_mask, background_weight, inscribed_ellipsoid
from resmap_core.localres.params import Params
from resmap_core.localres.prepared import Prepared
from resmap_core.localres.resample import fourier_resample, resample_labels_to_grid
from resmap_core.localres.spectra import ShellSpectrum, noise_spectrum, transform_spectrum
from resmap_core.localres.whitening import (
    filter_transform,
    prewhiten,
    shells_beyond_elbow,
    whiten_transform,
)
from resmap_core.progress import Progress
from resmap_core.spectrum import irfftn_in_place, padded_empty, rfftn_in_place

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


def _finite(slab: np.ndarray, m: MapData) -> np.ndarray:
    """``slab`` of map ``m``, refused (:class:`InputError`) if it holds NaN or infinities."""
    if not np.isfinite(slab).all():
        raise InputError(f"{m.path}: the map holds NaN or infinite values.")
    return slab


def _signal_and_noise(maps: list[MapData]) -> tuple[np.ndarray, np.ndarray | None]:
    """(analysed map, noise map): half-map average and difference (h1 − h2)/2 in split mode,
    the mean-removed map and None in single mode (float32 [z, y, x]).

    Built a few planes at a time (:func:`planes`), so memory-mapped inputs of a large box are
    never resident as a whole: the peak is the two float32 outputs.
    """
    first = maps[0]
    # padded: each can later be transformed in its own memory (spectrum.rfftn_in_place)
    signal = padded_empty(first.geometry.shape)
    if len(maps) == 1:
        for z0, slab in planes(first.data):
            signal[z0 : z0 + len(slab)] = _finite(slab, first)
        signal -= np.float32(signal.mean(dtype=np.float64))
        return signal, None
    noise = padded_empty(first.geometry.shape)
    for (z0, a), (_, b) in zip(planes(first.data), planes(maps[1].data), strict=True):
        z1 = z0 + len(a)
        _finite(a, first), _finite(b, maps[1])
        # the same float32 operations as on whole maps: (a + b)·½ and (a − b)·½
        np.multiply(np.add(a, b, out=signal[z0:z1]), np.float32(0.5), out=signal[z0:z1])
        np.multiply(np.subtract(a, b, out=noise[z0:z1]), np.float32(0.5), out=noise[z0:z1])
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
    noise_ft: np.ndarray | None = None
    noise_spectrum: ShellSpectrum | None = None
    noise_shape: tuple[int, int, int] | None = None


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


def _transform_noise(draft: _Draft, threads: int | None, consume: bool) -> None:
    """The difference map's rfftn and corner spectrum, kept on the draft: one transform serves
    the low-pass test and the whitening (large boxes pay each full-box transform once).

    ``consume`` (the whitening follows): the transform takes the noise map's own memory and
    the draft's noise becomes None until the whitened map replaces it.
    """
    shape = draft.noise.shape
    if consume:
        draft.noise_ft, draft.noise = rfftn_in_place(draft.noise, threads), None
    else:
        draft.noise_ft = sfft.rfftn(draft.noise, workers=threads)
    draft.noise_spectrum = transform_spectrum(draft.noise_ft, shape, draft.spacing)
    draft.noise_shape = shape


def _noise_back(draft: _Draft, threads: int | None) -> None:
    """The difference map again from its kept transform, where the transform took its memory
    and no whitening follows (a resampled grid, too few shells to whiten)."""
    if draft.noise is None and draft.noise_ft is not None:
        draft.noise = irfftn_in_place(draft.noise_ft, draft.noise_shape, threads)
        draft.noise_ft = None


def _resample_if_lowpass(
    draft: _Draft, threads: int | None, whiten: bool, progress: Progress
) -> None:
    """Low-pass test on the noise (difference map, or background through the weight) and,
    when the noise spectrum collapses, the draft moved to a coarser grid with Nyquist at the
    collapse (:func:`_move_to_grid`)."""
    split = draft.noise is not None
    if split:
        _transform_noise(draft, threads, consume=whiten)
    lp = detect_lowpass(
        draft.noise if split else draft.signal,
        draft.spacing,
        draft.weight,
        spectrum=draft.noise_spectrum,
    )
    draft.lowpass = lp.record() | {"noise_source": "difference" if split else "background"}
    if not lp.detected:
        return
    new_shape, new_spacing = lowpass_grid(draft.signal.shape, draft.spacing, lp.grid_cutoff_invA)
    if tuple(new_shape) == draft.signal.shape:
        return
    _noise_back(draft, threads)
    draft.noise_ft = draft.noise_spectrum = None  # the coarse grid's noise has its own
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
        _noise_back(draft, threads)
        return
    if draft.mode == "split":
        if draft.noise_ft is None:
            _transform_noise(draft, threads, consume=True)
        ft, shape, spec = draft.noise_ft, draft.noise_shape, draft.noise_spectrum
        draft.noise_ft = draft.noise_spectrum = None
        # every transform runs in the memory of the map it transforms: a large box holds the
        # signal and the noise (or their spectra), never a third full-size array
        pw, draft.noise = whiten_transform(ft, shape, draft.spacing, None, threads, spec)
        del ft
        ft = rfftn_in_place(draft.signal, threads)
        draft.signal = None  # type: ignore[assignment]  # its memory is now ft
        draft.signal = filter_transform(ft, shape, pw.spacing_zyx_A, pw.gain, threads)
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
    if draft.noise_spectrum is not None:  # measured for the low-pass test, nothing changed
        spec = draft.noise_spectrum
        inside = slice(0, spec.nyquist_count)
        return {
            "frequency_invA": spec.frequency_invA[inside].tolist(),
            "power": spec.power[inside].tolist(),
        }
    noise = draft.signal if draft.noise is None else draft.noise
    return noise_spectrum(noise, draft.spacing, draft.weight)


def _split_auto_mask(draft: _Draft, geometry: MapGeometry) -> None:
    """Split mode without a given mask: the automatic mask drawn on the whitened average (so one
    radial filter on both half maps cannot change it), on both grids."""
    draft.mask = auto_mask(draft.signal, draft.spacing)
    draft.mask_record = _checked_mask(draft.mask, "auto", None)
    draft.input_mask = _on_input_grid(draft.mask, draft.spacing, geometry)


def _prepared(
    draft: _Draft, maps: list[MapData], params: Params, spectrum: dict, hashes: list[Future]
) -> Prepared:
    """The finished draft as :class:`Prepared`, with its provenance record (``hashes``: the
    inputs' sha256, computed meanwhile)."""
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
            {"path": m.path, "sha256": digest.result()}
            for m, digest in zip(maps, hashes, strict=True)
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
    # the inputs' provenance hashes run beside the numerics (hashlib releases the GIL): a
    # large box's files are read from the page cache while the transforms run
    with ThreadPoolExecutor(max_workers=1) as pool:
        hashes = [pool.submit(_file_hash, m.path) for m in maps]
        draft = _start_draft(maps)
        _take_mask(draft, mask, geometry, mask_path)
        if params.lowpass_check:
            _resample_if_lowpass(draft, threads, params.prewhiten, progress)
        if params.prewhiten:
            _prewhiten(draft, threads, progress)
        spectrum = _noise_spectrum_record(draft)
        draft.noise_ft = draft.noise_spectrum = None
        draft.weight = None  # only the background's spectra needed it
        if draft.mask is None:
            _split_auto_mask(draft, geometry)
        if draft.mode == "split":
            draft.noise_region = draft.mask  # read only: shared, not copied
        voxels = draft.mask_record["voxels"]  # type: ignore[index]
        progress.say(f"{draft.mode} mode, box {geometry.shape[::-1]}, mask {voxels} voxels")
        return _prepared(draft, maps, params, spectrum, hashes)


def _file_hash(path: str) -> str | None:
    """sha256 of an input file (None for maps given in memory, without a path)."""
    return sha256_file(path) if path else None
