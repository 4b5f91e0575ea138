"""Plain-language warnings about whether the input was fit for the method.

One function per finding: each looks at one piece of evidence and returns a :class:`Finding`
or None; :func:`diagnose` lists the findings that fire. The thresholds are the constants below
(documented in docs/report.md, with the code each finding carries in ``summary.json``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from resmap_core.fsc.gold_standard import threshold_crossing
from resmap_core.report.spectra import Spectrum, band_ratio, spectrum_rise

#: Thresholds (documented in docs/report.md) for the plain-language warnings.
UNRESOLVED_WARN_FRACTION = 0.3
NOISE_COLOUR_RATIO = 10.0
SHARPENED_RISE_RATIO = 1.0
MASK_EDGE_FRACTION = 0.2
DENSITY_OUTSIDE_FRACTION = 0.1
MASK_LOOSE_RATIO = 10.0
FSC_TAIL_LEVEL = 0.05
#: The FSC threshold whose crossing the FSC findings look at.
FSC_THRESHOLD = 0.143


#: Each finding in a few words, for the run index and the headings of the report's warnings
#: (the codes stay in summary.json).
TITLES = {
    "lowpass": "input looks low-pass filtered",
    "sharpened": "map looks sharpened",
    "noise_colour": "noise far from white",
    "masked_input": "map already masked",
    "mask_tight": "mask too tight",
    "mask_loose": "mask too loose",
    "fsc_no_fall": "FSC never falls below 0.143",
    "fsc_tail": "half maps not independent",
    "unresolved": "much of the mask unresolved",
}


def finding_title(code: str) -> str:
    """The few words of :data:`TITLES` for ``code`` (the code itself when unknown)."""
    return TITLES.get(code, code)


@dataclass(frozen=True)
class Finding:
    """One diagnostic: a stable code, a severity (``"warning"``/``"note"``), a plain sentence."""

    code: str
    level: str
    text: str

    @property
    def title(self) -> str:
        """The finding in a few words (:func:`finding_title`)."""
        return finding_title(self.code)


# ----------------------------------------------------------------------------------------------
# Evidence
# ----------------------------------------------------------------------------------------------


def mask_fit(density: np.ndarray, mask: np.ndarray) -> dict[str, float | int | None]:
    """How a mask fits the density it encloses.

    Density = voxels above a noise threshold ``median + 5·(1.4826·MAD)`` of the voxels outside
    the mask. Returns the threshold, the fraction of mask-boundary voxels (mask voxels with an
    outside 6-neighbour) that hold density (high = the mask cuts through density: too tight),
    the fraction of all density voxels lying outside the mask, and the ratio of mask volume to
    the density volume inside it (high = the mask is much larger than the density: too loose).
    ``flat_background`` is 1 when the map is constant outside the mask (already masked); the
    other fields are then None.
    """
    empty: dict[str, float | int | None] = {
        "threshold": None,
        "edge_fraction": None,
        "outside_fraction": None,
        "volume_ratio": None,
        "flat_background": 0,
    }
    outside = density[~mask]
    if outside.size < 10 or not mask.any():
        return empty
    med = float(np.median(outside))
    mad = float(np.median(np.abs(outside - med))) * 1.4826
    if not mad > 0:
        mad = float(np.std(outside))
    if not mad > 1e-6 * float(np.std(density[mask])):
        # Flat background: the map was already masked, so there is no noise level to judge by.
        return empty | {"flat_background": 1}
    threshold = med + 5.0 * mad
    dens = density > threshold
    boundary = mask & ~ndimage.binary_erosion(mask, border_value=0)
    n_boundary = int(boundary.sum())
    n_dens = int(dens.sum())
    n_in = int((dens & mask).sum())
    return {
        "threshold": threshold,
        "edge_fraction": float((dens & boundary).sum() / n_boundary) if n_boundary else None,
        "outside_fraction": float((n_dens - n_in) / n_dens) if n_dens else None,
        "volume_ratio": float(mask.sum() / n_in) if n_in else None,
        "flat_background": 0,
    }


def fsc_tail_level(
    frequency_invA: np.ndarray, fsc: np.ndarray, resolution_A: float | None
) -> float | None:
    """Median FSC beyond 1.2× the frequency of ``resolution_A`` (None when < 3 shells remain).

    Independent half maps give a tail near 0 there; a clearly positive tail means the halves
    share noise (not independent, e.g. refined together or masked with a tight soft mask).
    """
    if resolution_A is None:
        return None
    f = np.asarray(frequency_invA, dtype=np.float64)
    c = np.asarray(fsc, dtype=np.float64)
    sel = (f > 1.2 / resolution_A) & np.isfinite(c)
    if sel.sum() < 3:
        return None
    return float(np.median(c[sel]))


# ----------------------------------------------------------------------------------------------
# Findings: one function each, None when the finding does not fire
# ----------------------------------------------------------------------------------------------


def lowpass_finding(lowpass: dict | None) -> Finding | None:
    """LOCAL.json's ``lowpass`` record says the input was low-pass filtered."""
    if not (lowpass and lowpass.get("detected")):
        return None
    cut = lowpass.get("cutoff_A")
    cut_txt = f" at about {cut:.1f} Å" if isinstance(cut, int | float) else ""
    return Finding(
        "lowpass",
        "warning",
        f"The input looks low-pass filtered{cut_txt}: there is no signal or noise "
        "beyond the cut-off. It was resampled before the analysis; local "
        "resolutions finer than the cut-off cannot be measured.",
    )


def sharpened_finding(map_spectrum: Spectrum | None) -> Finding | None:
    """The map's power rises towards Nyquist (:func:`spectrum_rise` > SHARPENED_RISE_RATIO)."""
    rise = spectrum_rise(*map_spectrum) if map_spectrum is not None else None
    if rise is None or not rise > SHARPENED_RISE_RATIO:
        return None
    return Finding(
        "sharpened",
        "warning",
        f"The map looks sharpened: its power rises towards Nyquist (x{rise:.2f} "
        "between the middle and the outer frequencies). ResMap and FSC are meant "
        "for unsharpened maps; sharpening amplifies noise and can bias local "
        "resolution.",
    )


def noise_colour_finding(noise_spectrum: Spectrum | None, prewhitened: bool) -> Finding | None:
    """The noise power at 65–95 % vs 5–35 % of the top frequency differs by > 10×."""
    if noise_spectrum is None:
        return None
    ratio = band_ratio(*noise_spectrum, (0.05, 0.35), (0.65, 0.95))
    if ratio is None or 1 / NOISE_COLOUR_RATIO <= ratio <= NOISE_COLOUR_RATIO:
        return None
    what = "pre-whitening was applied" if prewhitened else "pre-whitening was NOT applied"
    return Finding(
        "noise_colour",
        "warning",
        f"The noise is far from white: its power changes by a factor of {ratio:.3g} "
        f"between low and high frequencies. ResMap assumes white noise; {what}.",
    )


def masked_input_finding(fit: dict | None) -> Finding | None:
    """The map is constant outside the mask (``mask_fit``'s ``flat_background``)."""
    if not (fit and fit.get("flat_background")):
        return None
    return Finding(
        "masked_input",
        "warning",
        "The map is constant outside the mask (it was already masked or solvent-"
        "flattened), so whether the mask fits the density cannot be judged, and ResMap's "
        "noise estimate from the background is unreliable.",
    )


def _cuts_density(fit: dict) -> bool:
    """Too many edge voxels hold density, or too much density lies outside the mask."""
    edge, outside = fit.get("edge_fraction"), fit.get("outside_fraction")
    return (edge is not None and edge > MASK_EDGE_FRACTION) or (
        outside is not None and outside > DENSITY_OUTSIDE_FRACTION
    )


def _mask_words(source: str | None) -> str:
    """`` (given mask)`` etc. after "The mask", or nothing when the source is unknown."""
    return f" ({source} mask)" if source else ""


def mask_tight_finding(fit: dict | None, source: str | None) -> Finding | None:
    """The mask cuts through density (judged only when the map is not already masked)."""
    if not fit or fit.get("flat_background") or not _cuts_density(fit):
        return None
    edge, outside = fit.get("edge_fraction"), fit.get("outside_fraction")
    return Finding(
        "mask_tight",
        "warning",
        f"The mask{_mask_words(source)} looks too tight: density touches its edge "
        f"({100 * (edge or 0):.0f} % of the edge voxels hold density, "
        f"{100 * (outside or 0):.0f} % of the density lies outside). "
        "Voxels at the edge get biased resolutions; use a wider, soft mask.",
    )


def mask_loose_finding(fit: dict | None, source: str | None) -> Finding | None:
    """The mask is > MASK_LOOSE_RATIO × the density inside it (and does not cut density)."""
    if not fit or fit.get("flat_background") or _cuts_density(fit):
        return None
    ratio = fit.get("volume_ratio")
    if ratio is None or not ratio > MASK_LOOSE_RATIO:
        return None
    return Finding(
        "mask_loose",
        "warning",
        f"The mask{_mask_words(source)} looks too loose: it is {ratio:.0f}x larger than the "
        "density it encloses. Much of the mask is solvent, which dilutes the statistics; use a "
        "tighter mask.",
    )


def fsc_no_fall_finding(fsc_curve: Spectrum | None) -> Finding | None:
    """The unmasked FSC never falls below 0.143 up to its last shell (a "better than" bound)."""
    if fsc_curve is None or threshold_crossing(*fsc_curve, FSC_THRESHOLD).bound != "better_than":
        return None
    return Finding(
        "fsc_no_fall",
        "warning",
        "The FSC between the half maps never falls below 0.143 up to Nyquist: "
        "either the resolution is limited by the voxel size or the half maps are "
        "not independent.",
    )


def fsc_tail_finding(fsc_curve: Spectrum | None) -> Finding | None:
    """The unmasked FSC's median beyond 1.2× its measured 0.143 crossing exceeds FSC_TAIL_LEVEL."""
    if fsc_curve is None:
        return None
    crossing = threshold_crossing(*fsc_curve, FSC_THRESHOLD)
    if crossing.bound is not None or crossing.value_A is None:
        return None  # only a measured crossing has a tail beyond it
    tail = fsc_tail_level(*fsc_curve, crossing.value_A)
    if tail is None or not tail > FSC_TAIL_LEVEL:
        return None
    return Finding(
        "fsc_tail",
        "warning",
        f"The half maps still correlate beyond the FSC resolution (median FSC "
        f"{tail:.2f} past {crossing.value_A:.2f} Å, expected ~0): they do not look independent, "
        "so every resolution in this report may be optimistic.",
    )


def unresolved_finding(unresolved_fraction: float | None) -> Finding | None:
    """More than UNRESOLVED_WARN_FRACTION of the mask has no local resolution."""
    if unresolved_fraction is None or not unresolved_fraction > UNRESOLVED_WARN_FRACTION:
        return None
    return Finding(
        "unresolved",
        "warning",
        f"{100 * unresolved_fraction:.0f} % of the mask has no local resolution "
        "(nothing was detected at any tested wavelength). The mask may contain "
        "much solvent, or the map is too noisy at the tested resolutions.",
    )


def diagnose(
    *,
    lowpass: dict | None,
    map_spectrum: Spectrum | None,
    noise_spectrum: Spectrum | None,
    prewhitened: bool,
    mask_fit_record: dict | None,
    mask_source: str | None,
    fsc_curve: Spectrum | None,
    unresolved_fraction: float | None,
) -> list[Finding]:
    """The findings that fire, in a fixed order (the mask and the FSC findings exclude each
    other within their group)."""
    candidates = (
        lowpass_finding(lowpass),
        sharpened_finding(map_spectrum),
        noise_colour_finding(noise_spectrum, prewhitened),
        masked_input_finding(mask_fit_record),
        mask_tight_finding(mask_fit_record, mask_source),
        mask_loose_finding(mask_fit_record, mask_source),
        fsc_no_fall_finding(fsc_curve),
        fsc_tail_finding(fsc_curve),
        unresolved_finding(unresolved_fraction),
    )
    return [f for f in candidates if f is not None]
