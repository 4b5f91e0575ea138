"""The analysed data of one run (:class:`Prepared`): arrays on the analysis grid, the caches of
the σ² estimate (computed when a wavelength is first reached), and the PREP.npz store of the
workflow.

Arrays are ``[z, y, x]``; ``signal``/``noise`` float32, masks bool. PREP.npz holds the arrays
under their field names and a JSON ``meta`` entry (mode, spacing, input geometry, parameters,
provenance record).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from resmap_core.errors import InputError
from resmap_core.io.atomic import atomic_path
from resmap_core.io.mrc import MapGeometry
from resmap_core.localres.basis import LocalModel
from resmap_core.localres.mask import inscribed_ellipsoid
from resmap_core.localres.noise import MIN_BLOCKS, NoiseEstimate, block_starts, estimate_sigma2
from resmap_core.localres.params import Params

SPECTRA_CACHE_VOXELS = 1 << 27
"""Boxes up to 512³ keep their two spectra between band-energy passes (2 × 0.5 GB at 512³);
larger ones transform again at each wavelength rather than hold 8 GB more (1024³)."""


@dataclass(frozen=True)
class _Reach:
    """Taxicab distance (voxels, uint16) to a region, known up to ``margin`` voxels from it:
    ``distance`` covers the region's bounding box grown by ``margin`` (``window`` of the box);
    saturated outside the box's inscribed ellipsoid so that blocks grown from it stay inside.
    """

    distance: np.ndarray
    window: tuple[slice, slice, slice]
    margin: int


def _reach(region: np.ndarray, margin: int) -> _Reach:
    """:class:`_Reach` of ``region`` out to ``margin`` voxels.

    Taxicab = what repeated 6-connected dilations would grow. Only the bounding box grown by
    the margin is transformed — a shortest taxicab path to the region never leaves it — so a
    compact particle in a large box costs a fraction of the box, and uint16 halves the rest.
    """
    hits = [
        np.flatnonzero(region.any(axis=tuple(a for a in range(3) if a != axis)))
        for axis in range(3)
    ]
    window = tuple(
        slice(max(0, int(h[0]) - margin), min(n, int(h[-1]) + margin + 1))
        if h.size
        else slice(0, 0)
        for h, n in zip(hits, region.shape, strict=True)
    )
    far = np.iinfo(np.uint16).max
    distance = ndimage.distance_transform_cdt(~region[window], metric="taxicab")
    np.minimum(distance, far, out=distance)
    distance = distance.astype(np.uint16)
    distance[~inscribed_ellipsoid(region.shape, window)] = far
    return _Reach(distance, window, margin)  # type: ignore[arg-type]


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
    _distance_to_mask: _Reach | None = field(default=None, repr=False, compare=False)
    _blocks: dict = field(default_factory=dict, repr=False, compare=False)
    _sigma2: dict = field(default_factory=dict, repr=False, compare=False)
    _spectra: dict = field(default_factory=dict, repr=False, compare=False)

    def noise_region_at(self, radius_vox: tuple[int, ...]) -> np.ndarray:
        """Where σ² blocks may lie for a window of half-width ``radius_vox``.

        Single mode: the background region as prepared. Split mode: the particle mask grown by
        the window half-width, inside the box's inscribed ellipsoid, so that blocks straddle
        the particle instead of having to fit wholly inside a tight, convoluted mask (ResMap 1.1
        crashed there, B9); the difference map's noise is the same in and around the particle.
        """
        if self.mode != "split":
            return self.noise_region
        r = int(max(radius_vox))
        if self._distance_to_mask is None or r > self._distance_to_mask.margin:
            # windows widen through the scan: reach twice as far, a few transforms in all
            self._distance_to_mask = _reach(self.noise_region, max(16, 2 * r))
        grown = np.zeros(self.noise_region.shape, dtype=bool)
        reach = self._distance_to_mask
        grown[reach.window] = reach.distance <= r
        return grown

    def noise_blocks(self, radius_vox: tuple[int, ...]) -> np.ndarray:
        """Start indices (n, 3) of the σ² blocks for a window of half-width ``radius_vox``."""
        key = tuple(int(r) for r in radius_vox)
        if key not in self._blocks:
            edges = tuple(2 * r + 1 for r in key)
            blocks = block_starts(self.noise_region_at(key), edges)  # type: ignore[arg-type]
            if self.mode == "split" and len(blocks) < MIN_BLOCKS:
                # a mask too small to hold blocks: the difference map is noise everywhere, so
                # measure it over the whole inscribed ellipsoid rather than give up
                whole = inscribed_ellipsoid(self.noise_region.shape)
                blocks = block_starts(whole, edges)  # type: ignore[arg-type]
            self._blocks[key] = blocks
        return self._blocks[key]

    @property
    def noise_source(self) -> np.ndarray:
        """The map whose blocks give σ²: the difference map (split) or the map itself."""
        return self.noise if self.noise is not None else self.signal

    def noise_estimate(self, model: LocalModel) -> NoiseEstimate:
        """σ² at ``model``'s wavelength from the noise blocks (cached per wavelength)."""
        key = float(model.wavelength_A)
        if key not in self._sigma2:
            blocks = self.noise_blocks(model.radius_vox)
            self._sigma2[key] = estimate_sigma2(self.noise_source, blocks, model)
        return self._sigma2[key]

    def spectrum(self, which: str, threads: int | None = None) -> np.ndarray:
        """rfftn (complex64) of the analysed map (``which`` = "signal") or of the noise source
        ("noise": the difference map, or the map itself in single mode). Kept for the next
        wavelength up to :data:`SPECTRA_CACHE_VOXELS` voxels; a larger box transforms again,
        one spectrum at a time."""
        source = self.signal if which == "signal" or self.noise is None else self.noise
        key = "signal" if source is self.signal else "noise"
        if key in self._spectra:
            return self._spectra[key]
        spectrum = sfft.rfftn(source, workers=threads or 1)
        if self.signal.size <= SPECTRA_CACHE_VOXELS:
            self._spectra[key] = spectrum
        return spectrum

    def release_maps(self) -> None:
        """Drop the analysed and noise maps once every pass is computed (the output map of a
        large box is then built without them); the fingerprint is kept."""
        self._spectra = {}
        self.fingerprint()
        self.signal = None  # type: ignore[assignment]
        self.noise = None

    def fingerprint(self) -> str:
        """Short digest tying pass files to the prepared data they came from (cached)."""
        if self._fingerprint is None:
            self._fingerprint = self._digest()
        return self._fingerprint

    def _digest(self) -> str:
        """sha256 (first 16 hex digits) of the arrays and parameters the passes depend on."""
        h = hashlib.sha256()
        arrays = [self.signal, self.mask, self.noise_region]
        if self.noise is not None:
            arrays.append(self.noise)
        for arr in arrays:  # plane by plane: a padded or strided array is never copied whole
            for plane in arr:
                h.update(np.ascontiguousarray(plane).view(np.uint8))
        # Only what changes the passes: fdr-stage parameters may be overridden later.
        h.update(json.dumps([self.params.kernel, list(self.spacing_zyx_A)]).encode())
        return h.hexdigest()[:16]


def save_prepared(path: str, prep: Prepared) -> None:
    """Write a :class:`Prepared` as ``.npz`` (atomically)."""
    meta = {
        "mode": prep.mode,
        "spacing_zyx_A": list(prep.spacing_zyx_A),
        "input_geometry": prep.input_geometry.to_record(),
        "params": prep.params.record(),
        "record": prep.record,
        "fingerprint": prep.fingerprint(),
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


def load_prepared(path: str, maps: bool = True) -> Prepared:
    """Read a file written by :func:`save_prepared`; ``maps`` False leaves out the analysed and
    noise maps (the FDR stage needs only the masks and the fingerprint, not 2 full boxes)."""
    try:
        with np.load(path) as npz:
            meta = json.loads(npz["meta"].tobytes().decode())
            maps = maps or "fingerprint" not in meta
            noise = npz["noise"] if maps and "noise" in npz.files else None
            return Prepared(
                mode=meta["mode"],
                signal=npz["signal"] if maps else None,  # type: ignore[arg-type]
                noise=noise,
                mask=npz["mask"],
                noise_region=npz["noise_region"],
                input_mask=npz["input_mask"],
                spacing_zyx_A=tuple(meta["spacing_zyx_A"]),  # type: ignore[arg-type]
                input_geometry=MapGeometry.from_record(meta["input_geometry"]),
                params=Params.from_record(meta["params"]),
                record=meta["record"],
                _fingerprint=None if maps else meta["fingerprint"],
            )
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(
            f"{path}: not a prepared-data file from 'resmap prepare' ({exc})."
        ) from None
