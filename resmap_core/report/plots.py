"""Matplotlib figures of the report, returned as PNG bytes.

Figures are drawn with the Agg backend and saved without metadata, so the same numbers give
the same bytes on every run (the report's determinism rests on this). Maps are ``[z, y, x]``,
resolutions in Å, frequencies in Å⁻¹. This module is imported only when a report is built.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, and the same renderer everywhere
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402

#: Colour map shared by every local-resolution figure and the ChimeraX scripts (blue = finer).
PALETTE = "turbo"


# ----------------------------------------------------------------------------------------------
# Which sections to draw
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# Drawing (PNG bytes)
# ----------------------------------------------------------------------------------------------

STYLE = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "figure.dpi": 100,
    "svg.hashsalt": "resmap",
    "path.simplify": False,
}


def png(fig: plt.Figure, dpi: int = 100) -> bytes:
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


#: Resolutions (Å) offered as ticks of the FSC figure's top axis.
_RESOLUTION_TICKS_A = (50.0, 20.0, 10.0, 8.0, 6.0, 5.0, 4.0, 3.5, 3.0, 2.5, 2.0, 1.5, 1.0)
#: Marker of a crossing: a measured one, a "better than" bound (at the last shell, pointing to
#: finer resolution) and a "worse than" bound (at the first shell, pointing to coarser).
_CROSSING_MARKERS = {None: "o", "better_than": ">", "worse_than": "<"}


def resolution_ticks(f_max: float) -> list[float]:
    """Round resolutions (Å, ascending) for a top axis over frequencies 0–``f_max`` Å⁻¹: those
    within the axis, no two closer than 6 % of it (the finest kept where they crowd)."""
    ticks: list[float] = []
    for res in sorted(_RESOLUTION_TICKS_A):
        f = 1.0 / res
        if f <= f_max * 1.0001 and all(abs(f - 1.0 / t) >= 0.06 * f_max for t in ticks):
            ticks.append(res)
    return ticks


def _resolution_axis(ax: plt.Axes, f_max: float) -> None:
    """A top axis labelled in Å (1/frequency) over the frequency axis."""
    top = ax.secondary_xaxis("top")
    ticks = resolution_ticks(f_max)
    top.set_xticks([1.0 / r for r in ticks], labels=[f"{r:g}" for r in ticks])
    top.set_xlabel("resolution (Å)")


def _crossing_marks(ax: plt.Axes, marks: list[tuple[float, float | None, str | None]]) -> None:
    """Markers where the headline curve meets each threshold: (threshold, Å, bound)."""
    for threshold, value_A, bound in marks:
        if value_A is None or not value_A > 0:
            continue
        f = 1.0 / value_A
        ax.plot(f, threshold, _CROSSING_MARKERS.get(bound, "o"), ms=7, mfc="white", mec="k",
                mew=1.2, zorder=4)  # fmt: skip
        if bound is None:
            ax.vlines(f, -0.1, threshold, colors="k", lw=0.8, ls=":", zorder=3)


def plot_fsc(
    curves: list[tuple[str, np.ndarray, np.ndarray]],
    deposited: tuple[np.ndarray, np.ndarray] | None,
    notes: list[str] | tuple[str, ...] = (),
    marks: list[tuple[float, float | None, str | None]] | None = None,
) -> bytes:
    """FSC curves (label, frequency Å⁻¹, FSC) with 0.143 and 0.5 lines and the deposited curve.

    The top axis reads in Å. ``marks`` (threshold, resolution Å or None, bound) put a circle
    on a measured crossing and a triangle on a bound (▶ "better than" at the last shell,
    ◀ "worse than" at the first); ``notes`` (e.g. "corrected FSC 0.143: better than 3.28 Å
    (Nyquist)") are printed in a box at the lower left, so a bound reads as a bound.
    """
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.0, 3.9))
        styles = {"unmasked": "-", "masked": "-", "corrected": "-", "phase-randomised": ":"}
        f_max = 0.0
        for label, f, c in curves:
            ax.plot(f, c, styles.get(label, "-"), lw=1.4, label=label)
            f_max = max(f_max, float(np.nanmax(f)))
        if deposited is not None:
            ax.plot(deposited[0], deposited[1], "--", color="k", lw=1.2, label="deposited (EMDB)")
            f_max = max(f_max, float(np.nanmax(deposited[0])))
        ax.axhline(0.143, color="0.4", lw=0.8, ls="--")
        ax.axhline(0.5, color="0.4", lw=0.8, ls=":")
        ax.text(1.0, 0.143, " 0.143", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
        ax.text(1.0, 0.5, " 0.5", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
        _crossing_marks(ax, marks or [])
        ax.set_xlabel("spatial frequency (1/Å)")
        ax.set_ylabel("FSC")
        ax.set_ylim(-0.1, 1.05)
        ax.set_xlim(0.0, f_max * 1.02 if f_max > 0 else 1.0)
        if f_max > 0:
            _resolution_axis(ax, f_max)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
        if notes:
            ax.text(0.01, 0.02, "\n".join(notes), transform=ax.transAxes, fontsize=8,
                    va="bottom", ha="left",
                    bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85})  # fmt: skip
        fig.tight_layout()
        return png(fig)


def _extent(shape: tuple[int, int], spacing: tuple[float, float]) -> list[float]:
    """imshow extent in Å for an image ``[rows, cols]`` with spacing (row Å, col Å)."""
    return [0.0, shape[1] * spacing[1], 0.0, shape[0] * spacing[0]]


Cut = Callable[[np.ndarray, int], np.ndarray]


def _plane(
    plane: str, spacing_zyx_A: tuple[float, float, float]
) -> tuple[Cut, tuple[float, float], tuple[str, str]]:
    """How to draw a plane ``"xy"|"xz"|"yz"``: (cut(volume, index) → 2-D section ``[rows,
    cols]``, (row Å, column Å) spacing, (x-axis label, y-axis label))."""
    dz, dy, dx = spacing_zyx_A
    planes: dict[str, tuple[Cut, tuple[float, float], tuple[str, str]]] = {
        "xy": (lambda v, i: v[i], (dy, dx), ("x (Å)", "y (Å)")),
        "xz": (lambda v, i: v[:, i, :], (dz, dx), ("x (Å)", "z (Å)")),
        "yz": (lambda v, i: v[:, :, i], (dz, dy), ("y (Å)", "z (Å)")),
    }
    return planes[plane]


@dataclass(frozen=True)
class _SliceLook:
    """What every panel of a slice figure shares: grey range of the map, colour map and scale."""

    grey: tuple[float, float]
    cmap: mcolors.Colormap
    norm: mcolors.Normalize


def _section_panel(
    ax: plt.Axes,
    section: np.ndarray,
    layer: tuple[str, np.ndarray] | None,
    extent: list[float],
    look: _SliceLook,
) -> AxesImage | None:
    """One panel: the map's section in grey, then (if given) a layer's section over it.

    ``layer`` is (title, section in Å with NaN where not shown). Returns the coloured image (for
    the colour bar), None for a grey-only panel; the panel's title is set by the caller.
    """
    ax.imshow(section, cmap="gray", vmin=look.grey[0], vmax=look.grey[1], origin="lower",
              extent=extent, interpolation="nearest")  # fmt: skip
    if layer is None:
        return None
    return ax.imshow(np.ma.masked_invalid(layer[1]), cmap=look.cmap, norm=look.norm,
                     origin="lower", extent=extent, interpolation="nearest",
                     alpha=0.8)  # fmt: skip


def _label_panel(ax: plt.Axes, title: str, labels: tuple[str, str], first: bool) -> None:
    """Title and axis labels; only the first panel of a row carries the y label and ticks."""
    ax.set_title(title)
    if first:
        ax.set_ylabel(labels[1])
    else:
        ax.set_yticklabels([])
    ax.set_xlabel(labels[0])


@dataclass(frozen=True)
class SliceScales:
    """The grey range of the map (map units) and the colour scale of the layers (Å, with the
    colour bar's arrows: ``extend`` is ``"neither"``, ``"min"``, ``"max"`` or ``"both"``)."""

    grey: tuple[float, float]
    colour_A: tuple[float, float]
    extend: str = "neither"


def plot_slices(
    density: np.ndarray,
    layers: list[tuple[str, np.ndarray]],
    spacing_zyx_A: tuple[float, float, float],
    scales: SliceScales,
    sections: list[tuple[str, str, int]],
    sections_as_columns: bool = False,
) -> bytes:
    """Panels of sections: the density in grey, then each layer coloured over the grey density.

    ``layers`` are (title, local-resolution map with NaN where not shown: those voxels stay
    transparent, so the grey density shows). ``sections`` are (label, plane ``"xy"|"xz"|"yz"``,
    index along the plane's normal). One row per section, or one column per section with
    ``sections_as_columns`` (the gallery).
    """
    norm = mcolors.Normalize(vmin=scales.colour_A[0], vmax=scales.colour_A[1])
    look = _SliceLook(scales.grey, colormap(), norm)
    kinds = 1 + len(layers)
    rows, cols = (kinds, len(sections)) if sections_as_columns else (len(sections), kinds)
    size = 2.1 if sections_as_columns else 2.5
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(size * cols + 1.0, size * rows),
                                 squeeze=False, layout="constrained")  # fmt: skip
        image = None
        for s, (label, plane, idx) in enumerate(sections):
            cut, spacing, labels = _plane(plane, spacing_zyx_A)
            section = cut(density, idx)
            extent = _extent(section.shape, spacing)
            for k in range(kinds):
                ax = axes[k][s] if sections_as_columns else axes[s][k]
                layer = (layers[k - 1][0], cut(layers[k - 1][1], idx)) if k else None
                drawn = _section_panel(ax, section, layer, extent, look)
                image = drawn if drawn is not None else image
                first = (s if sections_as_columns else k) == 0
                _label_panel(ax, f"{layer[0] if layer else 'map'}, {label}", labels, first)
        if image is not None:
            fig.colorbar(image, ax=axes.ravel().tolist(), label="local resolution (Å)",
                         shrink=0.8, pad=0.02, extend=scales.extend)  # fmt: skip
        return png(fig, dpi=80)


def plot_key(colour_A: tuple[float, float], extend: str, label: str) -> bytes:
    """A horizontal colour key (the shared palette over ``colour_A`` Å, arrows per ``extend``)
    for the 3D view and the slice browser, titled ``label``."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.6, 0.9), layout="constrained")
        norm = mcolors.Normalize(vmin=colour_A[0], vmax=colour_A[1])
        mappable = matplotlib.cm.ScalarMappable(norm=norm, cmap=colormap())
        fig.colorbar(mappable, cax=ax, orientation="horizontal", extend=extend, label=label)
        return png(fig)


def plot_histograms(
    hists: list[tuple[str, dict]], fsc_lines: dict[str, tuple[float | None, str]]
) -> bytes:
    """Local-resolution histograms (one panel each) with dashed lines at FSC resolutions, drawn
    over the bars; the x range includes the lines.

    ``fsc_lines``: threshold label → (resolution Å or None, that resolution in words); the
    legend shows the words, so a bound (e.g. "better than 3.28 Å (Nyquist)") stays a bound.
    """
    with plt.rc_context(STYLE):
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
                zorder=2,
            )
            lines = [e[0], e[-1]]
            for (label, (res, text)), color in zip(
                fsc_lines.items(), ("#c44e52", "#2ca02c"), strict=False
            ):
                if res is not None:  # drawn over the bars, never hidden behind one
                    ax.axvline(res, ls="--", lw=1.8, color=color, label=f"FSC {label}: {text}",
                               zorder=4)  # fmt: skip
                    lines.append(res)
            pad = 0.03 * (max(lines) - min(lines))
            ax.set_xlim(min(lines) - pad, max(lines) + pad)
            ax.set_title(title)
            ax.text(0.98, 0.5, f"unresolved: {h['unresolved']} voxels", transform=ax.transAxes,
                    ha="right", fontsize=7, color="0.3")  # fmt: skip
            ax.set_xlabel("local resolution (Å)")
            ax.set_ylabel("voxels in mask")
            if any(v is not None for v, _ in fsc_lines.values()):
                ax.legend(fontsize=7)
        fig.tight_layout()
        return png(fig)


def plot_joint(panels: list[tuple[np.ndarray, str, str]], edges_A: np.ndarray) -> bytes:
    """Voxel-wise 2-D histograms, one panel per (counts ``[bin of x, bin of y]``, x label,
    y label), on the bins ``edges_A`` and one log colour scale, with the identity line."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(3.9 * len(panels) + 0.6, 3.6),
                                 squeeze=False, layout="constrained")  # fmt: skip
        top = max([2, *(int(counts.max()) for counts, _, _ in panels)])
        norm = mcolors.LogNorm(vmin=1, vmax=top)
        image = None
        for ax, (counts, xlabel, ylabel) in zip(axes[0], panels, strict=True):
            shown = np.ma.masked_equal(counts.T, 0)
            image = ax.pcolormesh(edges_A, edges_A, shown, cmap="viridis", norm=norm)
            ax.plot(edges_A[[0, -1]], edges_A[[0, -1]], color="k", lw=0.8, ls="--")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.set_aspect("equal")
        fig.colorbar(image, ax=axes.ravel().tolist(), label="voxels")
        return png(fig)


def plot_wavelengths(
    lambda_A: np.ndarray, sigma2: np.ndarray, tested: np.ndarray, assigned: np.ndarray
) -> bytes:
    """Voxels tested and assigned per wavelength (bars) and σ² per wavelength (line)."""
    with plt.rc_context(STYLE):
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
        return png(fig)


def plot_spectra(panels: list[tuple[str, list[tuple[str, np.ndarray, np.ndarray]]]]) -> bytes:
    """Log-power spectra, one panel per (title, [(label, frequency Å⁻¹, power)])."""
    with plt.rc_context(STYLE):
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
        return png(fig)
