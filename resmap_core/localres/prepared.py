"""The analysed data of one run (:class:`Prepared`): arrays on the analysis grid, the caches of
the σ² estimate, the release of what only σ² needed, and the PREP.npz store of the workflow.

Arrays are ``[z, y, x]``; ``signal``/``noise`` float32, masks bool. PREP.npz holds the arrays
under their field names and a JSON ``meta`` entry (mode, spacing, input geometry, parameters,
provenance record).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from resmap_core.errors import InputError
from resmap_core.io.atomic import atomic_path
from resmap_core.io.mrc import MapGeometry
from resmap_core.localres.basis import LocalModel, local_model
from resmap_core.localres.mask import inscribed_ellipsoid
from resmap_core.localres.noise import MIN_BLOCKS, NoiseEstimate, block_starts, estimate_sigma2
from resmap_core.localres.params import Params


def _distance_to_region_vox(region: np.ndarray) -> np.ndarray:
    """Taxicab distance (voxels, uint16 [z, y, x]) to ``region``; saturated outside the box's
    inscribed ellipsoid so that blocks grown from it stay inside.

    Taxicab = what repeated 6-connected dilations would grow; uint16 keeps it at half the map's
    size (windows are far narrower than 65535 voxels).
    """
    distance = ndimage.distance_transform_cdt(~region, metric="taxicab")
    far = np.iinfo(np.uint16).max
    np.minimum(distance, far, out=distance)
    distance[~inscribed_ellipsoid(region.shape)] = far
    return distance.astype(np.uint16)


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
            self._distance_to_mask = _distance_to_region_vox(self.noise_region)
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
                whole = inscribed_ellipsoid(self.noise_region.shape)
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
        """sha256 (first 16 hex digits) of the arrays and parameters the passes depend on."""
        h = hashlib.sha256()
        for arr in (self.signal, self.mask, self.noise_region):
            h.update(np.ascontiguousarray(arr).view(np.uint8))  # no copy of the bytes
        if self.noise is not None:
            h.update(np.ascontiguousarray(self.noise).view(np.uint8))
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
