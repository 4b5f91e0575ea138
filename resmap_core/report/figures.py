"""Figure data and figure drawing for the HTML report.

The top half of this module holds small pure functions that turn maps and records into the
numbers a figure shows (histogram counts, crossings, agreement statistics, diagnostics). They
take NumPy arrays ``[z, y, x]`` and return arrays or plain records, so they are unit-tested
directly. The bottom half draws those numbers with Matplotlib (Agg backend) and returns PNG
bytes that are byte-identical between runs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402
from scipy import fft as sfft  # noqa: E402
from scipy import ndimage, stats  # noqa: E402

from resmap_core.spectrum import make_shells, rfft_weights  # noqa: E402

#: Colour map shared by every local-resolution figure and the ChimeraX scripts (blue = finer).
PALETTE = "turbo"
#: Thresholds (documented in docs/report.md) for the plain-language warnings.
UNRESOLVED_WARN_FRACTION = 0.3
NOISE_COLOUR_RATIO = 10.0
SHARPENED_RISE_RATIO = 1.0
MASK_EDGE_FRACTION = 0.2
DENSITY_OUTSIDE_FRACTION = 0.1
MASK_LOOSE_RATIO = 10.0
FSC_TAIL_LEVEL = 0.05


# ----------------------------------------------------------------------------------------------
# Figure data (pure functions)
# ----------------------------------------------------------------------------------------------


def resolved_voxels(
    local_A: np.ndarray, mask: np.ndarray, outside_value: float | None = 100.0
) -> np.ndarray:
    """Boolean map of mask voxels that hold a resolution (finite, > 0, not the outside value).

    ``local_A`` is a local-resolution map in Å, ``mask`` a boolean map of the same shape.
    """
    ok = mask & np.isfinite(local_A) & (local_A > 0)
    if outside_value is not None and np.isfinite(outside_value):
        ok &= local_A != np.float32(outside_value)
    return ok


def resolution_stats(values_A: np.ndarray, mask_voxels: int) -> dict[str, float | None]:
    """Median, quartiles, mean (Å) of resolved voxels and the unresolved fraction of the mask."""
    n = int(values_A.size)
    if n == 0:
        return {
            "median_A": None,
            "mean_A": None,
            "q25_A": None,
            "q75_A": None,
            "unresolved_fraction": 1.0 if mask_voxels else None,
            "resolved_voxels": 0,
        }
    q25, q50, q75 = np.percentile(values_A.astype(np.float64), [25, 50, 75])
    return {
        "median_A": float(q50),
        "mean_A": float(np.mean(values_A, dtype=np.float64)),
        "q25_A": float(q25),
        "q75_A": float(q75),
        "unresolved_fraction": float(1.0 - n / mask_voxels) if mask_voxels else None,
        "resolved_voxels": n,
    }


def shared_range(*value_sets: np.ndarray) -> tuple[float, float]:
    """Common colour range (Å) for all local-resolution maps: 1st–99th percentile of all values."""
    pooled = [v for v in value_sets if v.size]
    if not pooled:
        return (0.0, 1.0)
    allv = np.concatenate([v.astype(np.float64) for v in pooled])
    lo, hi = np.percentile(allv, [1, 99])
    if not hi > lo:
        lo, hi = float(allv.min()) - 0.5, float(allv.max()) + 0.5
    return (float(lo), float(hi))


def value_span(*value_sets: np.ndarray) -> tuple[float, float]:
    """(min, max) in Å over all values (for histogram ranges that lose no voxel)."""
    pooled = [v for v in value_sets if v.size]
    if not pooled:
        return (0.0, 1.0)
    return (float(min(v.min() for v in pooled)), float(max(v.max() for v in pooled)))


def histogram_edges(lo_A: float, hi_A: float, bins: int = 40) -> np.ndarray:
    """Equal-width bin edges (Å) spanning ``[lo_A, hi_A]``."""
    if not hi_A > lo_A:
        hi_A = lo_A + 1.0
    return np.linspace(lo_A, hi_A, bins + 1)


def local_histogram(values_A: np.ndarray, mask_voxels: int, edges_A: np.ndarray) -> dict:
    """Counts of resolved voxels per bin (values outside the edges are clipped into the end bins)
    plus the unresolved count, so that ``counts.sum() + unresolved == mask_voxels``."""
    clipped = np.clip(values_A, edges_A[0], edges_A[-1])
    counts, _ = np.histogram(clipped, bins=edges_A)
    return {"edges_A": edges_A, "counts": counts, "unresolved": int(mask_voxels - values_A.size)}


def joint_histogram(a_A: np.ndarray, b_A: np.ndarray, edges_A: np.ndarray) -> np.ndarray:
    """2-D counts ``[bin of a, bin of b]`` of paired voxel values (clipped into the end bins)."""
    lo, hi = edges_A[0], edges_A[-1]
    counts, _, _ = np.histogram2d(
        np.clip(a_A, lo, hi), np.clip(b_A, lo, hi), bins=[edges_A, edges_A]
    )
    return counts.astype(np.int64)


def agreement(a_A: np.ndarray, b_A: np.ndarray) -> dict[str, float | int | None]:
    """Spearman rank correlation and the median of ``a - b`` (Å) over paired voxels.

    The rank correlation is the Pearson correlation of mid-ranks (ties share their mean rank).
    """
    n = int(a_A.size)
    if n < 3:
        return {"spearman": None, "median_difference_A": None, "voxels": n}
    ra = stats.rankdata(a_A)
    rb = stats.rankdata(b_A)
    ra -= ra.mean()
    rb -= rb.mean()
    den = np.sqrt(np.dot(ra, ra) * np.dot(rb, rb))
    rho = float(np.dot(ra, rb) / den) if den > 0 else None
    diff = a_A.astype(np.float64) - b_A.astype(np.float64)
    return {"spearman": rho, "median_difference_A": float(np.median(diff)), "voxels": n}


def crossing_resolution(
    frequency_invA: np.ndarray, fsc: np.ndarray, threshold: float
) -> float | None:
    """Resolution (Å) where ``fsc`` first falls below ``threshold`` (linear interpolation).

    Shells at frequency 0 are skipped. Returns None when the curve never falls below the
    threshold (resolution limited by Nyquist) or starts below it.
    """
    f = np.asarray(frequency_invA, dtype=np.float64)
    c = np.asarray(fsc, dtype=np.float64)
    keep = (f > 0) & np.isfinite(c)
    f, c = f[keep], c[keep]
    if f.size < 2 or c[0] < threshold:
        return None
    below = np.nonzero(c < threshold)[0]
    if below.size == 0:
        return None
    i = int(below[0])
    f0, f1, c0, c1 = f[i - 1], f[i], c[i - 1], c[i]
    fx = f0 + (c0 - threshold) * (f1 - f0) / (c0 - c1)
    return float(1.0 / fx)


def central_slices(volume: np.ndarray) -> dict[str, np.ndarray]:
    """The three orthogonal central sections of ``volume[z, y, x]``.

    Keys: ``"xy"`` (``[y, x]`` at the middle z), ``"xz"`` (``[z, x]``), ``"yz"`` (``[z, y]``).
    """
    nz, ny, nx = volume.shape
    return {"xy": volume[nz // 2], "xz": volume[:, ny // 2, :], "yz": volume[:, :, nx // 2]}


def gallery_indices(n: int, count: int = 6, within: np.ndarray | None = None) -> list[int]:
    """``count`` evenly spaced section indices along an axis of length ``n``.

    With ``within`` (a boolean per index, e.g. sections that hold mask voxels) the sections span
    only that stretch, so the gallery does not waste panels on empty background.
    """
    lo, hi = 0, n - 1
    if within is not None and within.any():
        idx = np.nonzero(within)[0]
        lo, hi = int(idx[0]), int(idx[-1])
    count = max(1, min(count, hi - lo + 1))
    return [int(v) for v in np.unique(np.rint(np.linspace(lo, hi, count + 2)[1:-1]))] or [n // 2]


def radial_power(
    volume: np.ndarray, spacing_zyx_A: tuple[float, float, float], workers: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rotationally averaged power spectrum |F|² of ``volume`` in shells (frequency in Å⁻¹).

    Computed in single precision (the spectrum of a 400³ box stays within ~0.5 GB).
    """
    vol = np.asarray(volume, dtype=np.float32)
    ft = sfft.rfftn(vol - vol.mean(dtype=np.float64), workers=workers)
    power = (ft.real * ft.real + ft.imag * ft.imag).astype(np.float64)
    del ft
    shells = make_shells(vol.shape, spacing_zyx_A)
    avg = shells.average(power, rfft_weights(vol.shape))
    return shells.frequency_invA, avg


def band_ratio(
    frequency_invA: np.ndarray,
    power: np.ndarray,
    low: tuple[float, float],
    high: tuple[float, float],
) -> float | None:
    """Median power in the ``high`` band over median power in the ``low`` band.

    Bands are fractions of the highest frequency present (e.g. ``(0.05, 0.35)``).
    """
    f = np.asarray(frequency_invA, dtype=np.float64)
    p = np.asarray(power, dtype=np.float64)
    ok = np.isfinite(p) & (p > 0) & (f > 0)
    if ok.sum() < 4:
        return None
    fmax = f[ok].max()
    lo_sel = ok & (f >= low[0] * fmax) & (f <= low[1] * fmax)
    hi_sel = ok & (f >= high[0] * fmax) & (f <= high[1] * fmax)
    if not lo_sel.any() or not hi_sel.any():
        return None
    return float(np.median(p[hi_sel]) / np.median(p[lo_sel]))


def spectrum_rise(frequency_invA: np.ndarray, power: np.ndarray) -> float | None:
    """Power near Nyquist (70–95 %) over power in the 45–65 % band of the map's spectrum.

    An unsharpened map's power falls with frequency (ratio < 1); a ratio above 1 means the
    high-frequency power rises, the signature of B-factor sharpening (or boosted noise).
    """
    return band_ratio(frequency_invA, power, (0.45, 0.65), (0.70, 0.95))


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


@dataclass(frozen=True)
class Finding:
    """One diagnostic: a stable code, a severity (``"warning"``/``"note"``), a plain sentence."""

    code: str
    level: str
    text: str


def diagnose(
    *,
    lowpass: dict | None,
    map_spectrum: tuple[np.ndarray, np.ndarray] | None,
    noise_spectrum: tuple[np.ndarray, np.ndarray] | None,
    prewhitened: bool,
    mask_fit_record: dict | None,
    mask_source: str | None,
    fsc_curve: tuple[np.ndarray, np.ndarray] | None,
    unresolved_fraction: float | None,
) -> list[Finding]:
    """Plain-language warnings about whether the input was fit for the method."""
    out: list[Finding] = []
    if lowpass and lowpass.get("detected"):
        cut = lowpass.get("cutoff_A")
        cut_txt = f" at about {cut:.1f} Å" if isinstance(cut, int | float) else ""
        out.append(
            Finding(
                "lowpass",
                "warning",
                f"The input looks low-pass filtered{cut_txt}: there is no signal or noise "
                "beyond the cut-off. It was resampled before the analysis; local "
                "resolutions finer than the cut-off cannot be measured.",
            )
        )
    if map_spectrum is not None:
        rise = spectrum_rise(*map_spectrum)
        if rise is not None and rise > SHARPENED_RISE_RATIO:
            out.append(
                Finding(
                    "sharpened",
                    "warning",
                    f"The map looks sharpened: its power rises towards Nyquist (x{rise:.2f} "
                    "between the middle and the outer frequencies). ResMap and FSC are meant "
                    "for unsharpened maps; sharpening amplifies noise and can bias local "
                    "resolution.",
                )
            )
    if noise_spectrum is not None:
        ratio = band_ratio(*noise_spectrum, (0.05, 0.35), (0.65, 0.95))
        if ratio is not None and not (1 / NOISE_COLOUR_RATIO <= ratio <= NOISE_COLOUR_RATIO):
            what = "pre-whitening was applied" if prewhitened else "pre-whitening was NOT applied"
            out.append(
                Finding(
                    "noise_colour",
                    "warning",
                    f"The noise is far from white: its power changes by a factor of {ratio:.3g} "
                    f"between low and high frequencies. ResMap assumes white noise; {what}.",
                )
            )
    if mask_fit_record and mask_fit_record.get("flat_background"):
        out.append(
            Finding(
                "masked_input",
                "warning",
                "The map is constant outside the mask (it was already masked or solvent-"
                "flattened), so whether the mask fits the density cannot be judged, and ResMap's "
                "noise estimate from the background is unreliable.",
            )
        )
    elif mask_fit_record:
        edge = mask_fit_record.get("edge_fraction")
        outside = mask_fit_record.get("outside_fraction")
        ratio = mask_fit_record.get("volume_ratio")
        src = f" ({mask_source} mask)" if mask_source else ""
        if (edge is not None and edge > MASK_EDGE_FRACTION) or (
            outside is not None and outside > DENSITY_OUTSIDE_FRACTION
        ):
            out.append(
                Finding(
                    "mask_tight",
                    "warning",
                    f"The mask{src} looks too tight: density touches its edge "
                    f"({100 * (edge or 0):.0f} % of the edge voxels hold density, "
                    f"{100 * (outside or 0):.0f} % of the density lies outside). "
                    "Voxels at the edge get biased resolutions; use a wider, soft mask.",
                )
            )
        elif ratio is not None and ratio > MASK_LOOSE_RATIO:
            out.append(
                Finding(
                    "mask_loose",
                    "warning",
                    f"The mask{src} looks too loose: it is {ratio:.0f}x larger than the density it "
                    "encloses. Much of the mask is solvent, which dilutes the statistics; use a "
                    "tighter mask.",
                )
            )
    if fsc_curve is not None:
        f, c = fsc_curve
        res = crossing_resolution(f, c, 0.143)
        f_pos = np.asarray(f)[np.asarray(f) > 0]
        if res is None and f_pos.size and np.nanmin(np.asarray(c)[np.asarray(f) > 0]) >= 0.143:
            out.append(
                Finding(
                    "fsc_no_fall",
                    "warning",
                    "The FSC between the half maps never falls below 0.143 up to Nyquist: "
                    "either the resolution is limited by the voxel size or the half maps are "
                    "not independent.",
                )
            )
        else:
            tail = fsc_tail_level(f, c, res)
            if tail is not None and tail > FSC_TAIL_LEVEL:
                out.append(
                    Finding(
                        "fsc_tail",
                        "warning",
                        f"The half maps still correlate beyond the FSC resolution (median FSC "
                        f"{tail:.2f} past {res:.2f} Å, expected ~0): they do not look independent, "
                        "so every resolution in this report may be optimistic.",
                    )
                )
    if unresolved_fraction is not None and unresolved_fraction > UNRESOLVED_WARN_FRACTION:
        out.append(
            Finding(
                "unresolved",
                "warning",
                f"{100 * unresolved_fraction:.0f} % of the mask has no local resolution "
                "(nothing was detected at any tested wavelength). The mask may contain "
                "much solvent, or the map is too noisy at the tested resolutions.",
            )
        )
    return out


# ----------------------------------------------------------------------------------------------
# Drawing (PNG bytes)
# ----------------------------------------------------------------------------------------------

_STYLE = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "figure.dpi": 100,
    "svg.hashsalt": "resmap",
    "path.simplify": False,
}


def _png(fig: plt.Figure, dpi: int = 100) -> bytes:
    """Render ``fig`` to PNG bytes without metadata (byte-identical between runs) and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def colormap() -> mcolors.Colormap:
    """The shared local-resolution colour map; masked (NaN) voxels are fully transparent."""
    return matplotlib.colormaps[PALETTE].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))


def palette_stops(lo_A: float, hi_A: float, n: int = 7) -> list[tuple[float, str]]:
    """``n`` (value in Å, hex colour) stops of the shared colour map over ``[lo_A, hi_A]``."""
    cmap = matplotlib.colormaps[PALETTE]
    vals = np.linspace(lo_A, hi_A, n)
    return [
        (float(v), mcolors.to_hex(cmap(t))) for v, t in zip(vals, np.linspace(0, 1, n), strict=True)
    ]


def plot_fsc(
    curves: list[tuple[str, np.ndarray, np.ndarray]],
    deposited: tuple[np.ndarray, np.ndarray] | None,
    notes: list[str] | tuple[str, ...] = (),
) -> bytes:
    """FSC curves (label, frequency Å⁻¹, FSC) with 0.143 and 0.5 lines and the deposited curve.

    ``notes`` (e.g. "corrected FSC 0.143: better than 3.28 Å (Nyquist)") are printed in a box
    at the lower left, so a bound reads as a bound in the figure too.
    """
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.0, 3.6))
        styles = {"unmasked": "-", "masked": "-", "corrected": "-", "phase-randomised": ":"}
        for label, f, c in curves:
            ax.plot(f, c, styles.get(label, "-"), lw=1.4, label=label)
        if deposited is not None:
            ax.plot(deposited[0], deposited[1], "--", color="k", lw=1.2, label="deposited (EMDB)")
        ax.axhline(0.143, color="0.4", lw=0.8, ls="--")
        ax.axhline(0.5, color="0.4", lw=0.8, ls=":")
        ax.text(1.0, 0.143, " 0.143", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
        ax.text(1.0, 0.5, " 0.5", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
        ax.set_xlabel("spatial frequency (1/Å)")
        ax.set_ylabel("FSC")
        ax.set_ylim(-0.1, 1.05)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
        if notes:
            ax.text(0.01, 0.02, "\n".join(notes), transform=ax.transAxes, fontsize=8,
                    va="bottom", ha="left",
                    bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85})  # fmt: skip
        fig.tight_layout()
        return _png(fig)


def _extent(shape: tuple[int, int], spacing: tuple[float, float]) -> list[float]:
    """imshow extent in Å for an image ``[rows, cols]`` with spacing (row Å, col Å)."""
    return [0.0, shape[1] * spacing[1], 0.0, shape[0] * spacing[0]]


def _grey_limits(volume: np.ndarray) -> tuple[float, float]:
    """Robust grey-scale range of a density map (0.5th–99.5th percentile)."""
    sample = volume.ravel()[:: max(1, volume.size // 2_000_000)]
    lo, hi = np.percentile(sample, [0.5, 99.5])
    return float(lo), float(hi) if hi > lo else float(lo) + 1.0


def plot_slices(
    density: np.ndarray,
    layers: list[tuple[str, np.ndarray]],
    spacing_zyx_A: tuple[float, float, float],
    vrange_A: tuple[float, float],
    sections: list[tuple[str, str, int]],
    sections_as_columns: bool = False,
) -> bytes:
    """Panels of sections: the density in grey, then each layer coloured over the grey density.

    ``layers`` are (title, local-resolution map with NaN where not shown: those voxels stay
    transparent, so the grey density shows). ``sections`` are (label, plane ``"xy"|"xz"|"yz"``,
    index along the plane's normal). One row per section, or one column per section with
    ``sections_as_columns`` (the gallery).
    """
    dz, dy, dx = spacing_zyx_A
    glo, ghi = _grey_limits(density)
    cmap = colormap()
    norm = mcolors.Normalize(vmin=vrange_A[0], vmax=vrange_A[1])
    take = {
        "xy": (lambda v, i: v[i], (dy, dx), ("x (Å)", "y (Å)")),
        "xz": (lambda v, i: v[:, i, :], (dz, dx), ("x (Å)", "z (Å)")),
        "yz": (lambda v, i: v[:, :, i], (dz, dy), ("y (Å)", "z (Å)")),
    }
    kinds = 1 + len(layers)
    rows, cols = (kinds, len(sections)) if sections_as_columns else (len(sections), kinds)
    size = 2.1 if sections_as_columns else 2.5
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(
            rows,
            cols,
            figsize=(size * cols + 1.0, size * rows),
            squeeze=False,
            layout="constrained",
        )
        image = None
        for s, (label, plane, idx) in enumerate(sections):
            cut, spacing, (xl, yl) = take[plane]
            sl = cut(density, idx)
            ext = _extent(sl.shape, spacing)
            for k in range(kinds):
                ax = axes[k][s] if sections_as_columns else axes[s][k]
                ax.imshow(sl, cmap="gray", vmin=glo, vmax=ghi, origin="lower", extent=ext,
                          interpolation="nearest")  # fmt: skip
                title = "map"
                if k > 0:
                    title, layer = layers[k - 1]
                    image = ax.imshow(np.ma.masked_invalid(cut(layer, idx)), cmap=cmap, norm=norm,
                                      origin="lower", extent=ext, interpolation="nearest",
                                      alpha=0.8)  # fmt: skip
                ax.set_title(f"{title}, {label}")
                first = (s == 0) if sections_as_columns else (k == 0)
                if first:
                    ax.set_ylabel(yl)
                else:
                    ax.set_yticklabels([])
                ax.set_xlabel(xl)
        if image is not None:
            fig.colorbar(image, ax=axes.ravel().tolist(), label="local resolution (Å)",
                         shrink=0.8, pad=0.02)  # fmt: skip
        return _png(fig, dpi=80)


def plot_histograms(
    hists: list[tuple[str, dict]], fsc_lines: dict[str, tuple[float | None, str]]
) -> bytes:
    """Local-resolution histograms (one panel each) with dotted lines at FSC resolutions.

    ``fsc_lines``: threshold label → (resolution Å or None, that resolution in words); the
    legend shows the words, so a bound (e.g. "better than 3.28 Å (Nyquist)") stays a bound.
    """
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, len(hists), figsize=(3.6 * len(hists), 3.0), squeeze=False)
        for ax, (title, h) in zip(axes[0], hists, strict=True):
            e = h["edges_A"]
            ax.bar(
                e[:-1],
                h["counts"],
                width=np.diff(e),
                align="edge",
                color="#4c72b0",
                edgecolor="white",
                linewidth=0.3,
            )
            for (label, (res, text)), color in zip(
                fsc_lines.items(), ("#c44e52", "#55a868"), strict=False
            ):
                if res is not None:
                    ax.axvline(res, ls=":", lw=1.5, color=color, label=f"FSC {label}: {text}")
            ax.set_title(title)
            ax.text(0.98, 0.5, f"unresolved: {h['unresolved']} voxels", transform=ax.transAxes,
                    ha="right", fontsize=7, color="0.3")  # fmt: skip
            ax.set_xlabel("local resolution (Å)")
            ax.set_ylabel("voxels in mask")
            if any(v is not None for v, _ in fsc_lines.values()):
                ax.legend(fontsize=7)
        fig.tight_layout()
        return _png(fig)


def plot_joint(counts: np.ndarray, edges_A: np.ndarray, xlabel: str, ylabel: str) -> bytes:
    """Voxel-wise 2-D histogram (log colour) with the identity line."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(4.2, 3.6))
        shown = np.ma.masked_equal(counts.T, 0)
        vmax = max(1, int(counts.max()))
        im = ax.pcolormesh(
            edges_A, edges_A, shown, cmap="viridis", norm=mcolors.LogNorm(vmin=1, vmax=max(vmax, 2))
        )
        ax.plot(edges_A[[0, -1]], edges_A[[0, -1]], color="k", lw=0.8, ls="--")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_aspect("equal")
        fig.colorbar(im, ax=ax, label="voxels")
        fig.tight_layout()
        return _png(fig)


def plot_wavelengths(
    lambda_A: np.ndarray, sigma2: np.ndarray, tested: np.ndarray, assigned: np.ndarray
) -> bytes:
    """Voxels tested and assigned per wavelength (bars) and σ² per wavelength (line)."""
    with plt.rc_context(_STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(8.0, 3.0))
        x = np.arange(len(lambda_A))
        ax.bar(x - 0.2, tested, width=0.4, label="tested", color="#8da0cb")
        ax.bar(x + 0.2, assigned, width=0.4, label="assigned", color="#fc8d62")
        ax.set_xticks(x, [f"{v:.2f}" for v in lambda_A], rotation=60, fontsize=7)
        ax.set_xlabel("wavelength λ (Å)")
        ax.set_ylabel("voxels")
        ax.legend(fontsize=8)
        ax2.plot(lambda_A, sigma2, "o-", ms=3)
        ax2.set_xlabel("wavelength λ (Å)")
        ax2.set_ylabel("noise variance σ²")
        ax2.grid(alpha=0.3)
        fig.tight_layout()
        return _png(fig)


def plot_spectra(panels: list[tuple[str, list[tuple[str, np.ndarray, np.ndarray]]]]) -> bytes:
    """Log-power spectra, one panel per (title, [(label, frequency Å⁻¹, power)])."""
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 3.0), squeeze=False)
        for ax, (title, lines) in zip(axes[0], panels, strict=True):
            for label, f, p in lines:
                f = np.asarray(f, dtype=np.float64)
                p = np.asarray(p, dtype=np.float64)
                ok = (f > 0) & np.isfinite(p) & (p > 0)
                ax.semilogy(f[ok], p[ok], lw=1.2, label=label)
            ax.set_title(title)
            ax.set_xlabel("spatial frequency (1/Å)")
            ax.set_ylabel("power")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        return _png(fig)
