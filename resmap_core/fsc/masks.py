"""Masks of the FSC: a given mask as the FSC uses it, the automatic mask and its soft edge, and
the mask that chooses the windowed FSC's box centres (docs/fsc.md).

Arrays are ``[z, y, x]``; spacings (Å) along the array axes; mask values in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from resmap_core.errors import InputError
from resmap_core.io.mrc import MapData, read_map, read_mask
from resmap_core.io.records.fsc import FSCMaskRecord
from resmap_core.localres.prepare import auto_mask
from resmap_core.progress import Progress

#: Raised-cosine edge given to the *automatic* mask, in voxels of the coarsest axis (unless
#: asked otherwise). That mask is our own binary construction whose edge lies on the density,
#: so a hard edge would let the mask's sharp transform carry low-resolution signal to high
#: frequencies; 6 voxels is the usual soft-edge width of cryo-EM masking practice.
AUTO_SOFT_EDGE_VOX = 6.0
#: Mask values may leave [0, 1] by this much (rounding in resampled or converted masks); they
#: are clipped. Anything further out is refused, as relion_postprocess refuses it.
MASK_RANGE_TOLERANCE = 1e-3
#: Widest soft edge accepted (Å): wider ones would be a different mask, not an edge.
MAX_SOFT_EDGE_A = 1000.0
#: A mask is binary when at most this fraction of its voxels lies strictly between 0.01 and 0.99.
SOFT_VOXEL_FRACTION = 1e-3


@dataclass(frozen=True)
class FSCMask:
    """The mask the masked FSC multiplies both half maps by.

    ``values``: float64 ``[z, y, x]`` in [0, 1]. ``source``: "given" or "auto"; ``path``: the
    given file (None for the automatic mask). ``binary``: whether the mask was binary before
    any edge was added. ``soft_edge_A``: the raised-cosine edge we added (Å), None when the mask
    is used as it came.
    """

    values: np.ndarray
    source: str
    path: str | None
    binary: bool
    soft_edge_A: float | None

    def record(self) -> FSCMaskRecord:
        """The ``mask`` entry of FSC.json (docs/outputs.md); ``voxels`` counts values > 0.5."""
        voxels = int((self.values > 0.5).sum())
        return FSCMaskRecord(self.source, self.path, voxels, self.binary, self.soft_edge_A)


def soft_mask(
    mask: np.ndarray, spacing_zyx_A: tuple[float, float, float], edge_A: float
) -> np.ndarray:
    """Binary mask with a raised-cosine edge (RELION style), float64 in [0, 1].

    Voxels inside keep 1; outside at distance d (Å, to the nearest inside voxel) get
    0.5 + 0.5·cos(π d / ``edge_A``) while d < ``edge_A``, and 0 beyond.
    """
    inside = np.asarray(mask, dtype=bool)
    if edge_A <= 0:
        return inside.astype(np.float64)
    dist = ndimage.distance_transform_edt(~inside, sampling=spacing_zyx_A)
    soft = np.where(dist < edge_A, 0.5 + 0.5 * np.cos(np.pi * dist / edge_A), 0.0)
    soft[inside] = 1.0
    return soft


def is_binary(values: np.ndarray) -> bool:
    """True when at most :data:`SOFT_VOXEL_FRACTION` of the voxels lie strictly in (0.01, 0.99)."""
    between = np.count_nonzero((values > 0.01) & (values < 0.99))
    return bool(between <= SOFT_VOXEL_FRACTION * values.size)


def check_soft_edge(edge_A: float | None) -> None:
    """Refuse a soft-edge width (Å) outside 0 … :data:`MAX_SOFT_EDGE_A` (None: the default)."""
    if edge_A is not None and not (math.isfinite(edge_A) and 0 <= edge_A <= MAX_SOFT_EDGE_A):
        raise InputError(
            f"soft edge {edge_A} Å: the edge must lie between 0 and {MAX_SOFT_EDGE_A:g} Å."
        )


def given_fsc_mask(
    path: str, like: MapData, voxel_size_overridden: bool, edge_A: float | None
) -> FSCMask:
    """The mask file at ``path`` as the FSC uses it: its values as given, unless an edge
    (``edge_A`` Å > 0) is asked for.

    The file is validated by :func:`resmap_core.io.mrc.read_mask` (grid of ``like``, voxel size
    unless ``voxel_size_overridden``, not empty, not the whole box). Values must lie in [0, 1]
    (to :data:`MASK_RANGE_TOLERANCE`; the small overshoot is clipped). The edge goes outside
    the voxels above 0.5 of a binary mask (:func:`is_binary`); a soft mask is refused then,
    since it already has an edge of its own.
    """
    check_soft_edge(edge_A)
    inside = read_mask(path, like.geometry, check_voxel_size=not voxel_size_overridden)
    raw = read_map(path, voxel_size_A=like.voxel_size_A[0]).data.astype(np.float64)
    lo, hi = float(raw.min()), float(raw.max())
    if lo < -MASK_RANGE_TOLERANCE or hi > 1.0 + MASK_RANGE_TOLERANCE:
        raise InputError(
            f"{path}: the mask's values run from {lo:.4g} to {hi:.4g}; an FSC mask must lie in "
            "[0, 1] (relion_postprocess refuses it too); rescale the mask."
        )
    values = np.clip(raw, 0.0, 1.0)
    binary = is_binary(values)
    if not edge_A:
        return FSCMask(values, "given", path, binary, None)
    if not binary:
        raise InputError(
            f"{path}: the mask is already soft; --soft-edge adds an edge to a binary mask only "
            "(leave it out to use this mask as given)."
        )
    spacing = like.geometry.spacing_zyx_A
    return FSCMask(soft_mask(inside, spacing, edge_A), "given", path, True, edge_A)


def automatic_particle_mask(h1: MapData, h2: MapData, progress: Progress) -> np.ndarray | None:
    """Binary particle mask ``[z, y, x]`` of the half-map average
    (:func:`resmap_core.localres.prepare.auto_mask`).

    None (with a message) when the automatic mask is empty or covers the whole box.
    """
    mean = 0.5 * (h1.data.astype(np.float64) + h2.data)
    mask = auto_mask(mean, h1.geometry.spacing_zyx_A)
    if not mask.any() or mask.all():
        progress.say("no --mask and the automatic mask found no particle: unmasked FSC only")
        return None
    progress.say(f"no --mask: automatic mask of {int(mask.sum())} voxels")
    return mask


def automatic_fsc_mask(
    h1: MapData, h2: MapData, edge_A: float | None, progress: Progress
) -> FSCMask | None:
    """The automatic mask with a raised-cosine edge (:data:`AUTO_SOFT_EDGE_VOX` voxels of the
    coarsest axis, or ``edge_A`` Å; 0 = none). None when it finds no particle."""
    check_soft_edge(edge_A)
    binary = automatic_particle_mask(h1, h2, progress)
    if binary is None:
        return None
    spacing = h1.geometry.spacing_zyx_A
    edge = AUTO_SOFT_EDGE_VOX * max(spacing) if edge_A is None else edge_A
    values = soft_mask(binary, spacing, edge)
    return FSCMask(values, "auto", None, True, edge if edge > 0 else None)


def fsc_mask(
    path: str | None,
    h1: MapData,
    h2: MapData,
    voxel_size_overridden: bool,
    edge_A: float | None,
    progress: Progress,
) -> FSCMask | None:
    """The gold-standard FSC's mask: the file at ``path`` (:func:`given_fsc_mask`), else the
    automatic one (:func:`automatic_fsc_mask`; None when it finds no particle)."""
    if path:
        return given_fsc_mask(path, h1, voxel_size_overridden, edge_A)
    return automatic_fsc_mask(h1, h2, edge_A, progress)


def box_centre_mask(
    path: str | None, h1: MapData, h2: MapData, voxel_size_overridden: bool, progress: Progress
) -> tuple[np.ndarray, str] | None:
    """(mask, source) choosing the windowed FSC's box centres: the voxels > 0.5 of the file at
    ``path`` ("given"), else the automatic mask ("auto"; None when it finds no particle).

    The mask only chooses the box centres; it never multiplies the maps (each box has its own
    Hann taper), so no edge is ever added to it, soft or binary.
    """
    if path:
        return read_mask(path, h1.geometry, check_voxel_size=not voxel_size_overridden), "given"
    mask = automatic_particle_mask(h1, h2, progress)
    return None if mask is None else (mask, "auto")
