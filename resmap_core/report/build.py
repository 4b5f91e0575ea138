"""The HTML report of one dataset (offline: nothing fetched): the steps from inputs to files.

``build_report`` reads the inputs (:mod:`~resmap_core.report.load`), turns them into the
template's context in named steps (:func:`build_context`), renders ``report.html.j2``
(:mod:`~resmap_core.report.render`) and writes ``index.html`` (images as base64 PNG data URIs,
the maps of the 3D view and slice browser embedded, CSS and the page's script inline),
``NAME_resmap.cxc``, ``NAME_wfsc.cxc`` (and ``NAME_band.cxc`` with a band-energy map) and
``summary.json`` beside it, atomically, and copies
the Mol* viewer once into ``molstar/`` (:mod:`~resmap_core.report.viewer`). Nothing is fetched
from the network. Every optional input may be absent; the report then says what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from resmap_core.errors import InputError
from resmap_core.io.atomic import write_json, write_text
from resmap_core.io.emdb import normalise_accession
from resmap_core.progress import Progress
from resmap_core.report import plots
from resmap_core.report.atoms import atoms_section, read_atoms_record
from resmap_core.report.chimerax import report_scripts
from resmap_core.report.crossings import (
    FSCSummary,
    FSCTexts,
    fsc_marks,
    fsc_summary,
    fsc_texts,
    nyquist_of,
    summary_crossings,
    wfsc_bound_notes,
    wfsc_crossing,
    wfsc_stat_text,
)
from resmap_core.report.diagnostics import Finding, diagnose, mask_fit
from resmap_core.report.load import BandEnergy, Loaded, ModelFile, ReportInputs, load
from resmap_core.report.provenance import provenance_context
from resmap_core.report.records import finite_float, readable
from resmap_core.report.render import data_uri, fmt, render
from resmap_core.report.spectra import Spectrum, radial_power
from resmap_core.report.statistics import (
    ColourScale,
    Resolved,
    agreement,
    colour_scale,
    grey_limits,
    histogram_edges,
    joint_histogram,
    local_histogram,
    masked_layer,
    padded_region,
    resolved_map,
    value_span,
)
from resmap_core.report.viewer import install_viewer
from resmap_core.report.volumes import (
    density_volume,
    display_grid,
    focus_sphere,
    layer_volume,
    packed,
)

EMDB_URL = "https://www.ebi.ac.uk/emdb/EMD-{}"

#: The local-resolution maps a page compares, in its order: key (the input and the ChimeraX
#: script's suffix) → (the name the page shows, the title of the ChimeraX script's colour key).
MEASURES = {
    "resmap": ("ResMap", "ResMap local resolution"),
    "wfsc": ("windowed FSC", "windowed-FSC local resolution"),
    "band": ("Band energy", "band-energy local resolution"),
}
#: The local-resolution statistics printed for every map.
STAT_KEYS = ("median_A", "q25_A", "q75_A", "mean_A")


@dataclass(frozen=True)
class Spectra:
    """The power spectra the report draws: the map's (always), LOCAL.json's pre-whitening
    record (None when it has none) and noise spectrum, and the figure's panels."""

    map: Spectrum
    prewhitening: dict | None
    noise: Spectrum | None
    panels: list[tuple[str, list[tuple[str, Any, Any]]]]


def emdb_link(emdb_id: Any) -> tuple[str | None, str | None]:
    """(display id ``EMD-N``, URL) for a well-formed EMDB id, else (None, None).

    Only the digits reach the URL, so no input text can become markup or a foreign link.
    """
    if emdb_id is None:
        return None, None
    try:
        accession, number = normalise_accession(str(emdb_id))
    except InputError:
        return None, None
    return accession, EMDB_URL.format(number)


# ----------------------------------------------------------------------------------------------
# Steps of the context, in the order build_context runs them
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One local-resolution map the page compares with the others: ``key`` (of
    :data:`MEASURES`), the ``name`` the page shows, its ``constants`` in words (None: nothing to
    add) and its resolved voxels and statistics."""

    key: str
    name: str
    resolved: Resolved
    constants: str | None = None

    @property
    def title(self) -> str:
        """The name, with the constants on a second line when there are any (figure titles)."""
        return self.name if self.constants is None else f"{self.name}\n({self.constants})"


def band_constants(band: BandEnergy) -> str:
    """The band estimator's constants as the page labels them (sds of its shell and window)."""
    return f"shell sd {readable(band.width)}/λ, window sd {readable(band.window)} λ"


def measured(
    data: Loaded, key: str, map_A: np.ndarray, record: dict | None, constants: str | None = None
) -> Answer:
    """The :class:`Answer` of the map ``map_A`` (key of :data:`MEASURES`) on the report's mask,
    its outside value from its ``record``.

    Without a mask the statistics cover ResMap's resolved voxels only, so the unresolved
    fraction of a map with a LOCAL.json (ResMap, band energy) is its record's.
    """
    rec = record or {}
    mask = data.mask.voxels
    outside = finite_float(rec.get("outside_value", 100.0))  # NaN reads as None: no outside value
    resolved = resolved_map(map_A, mask, outside, int(mask.sum()))
    if data.mask.note is not None and key != "wfsc":
        resolved.stats["unresolved_fraction"] = finite_float(rec.get("unresolved_fraction"))
    return Answer(key, MEASURES[key][0], resolved, constants)


def local_answers(data: Loaded) -> list[Answer]:
    """ResMap's, the windowed FSC's and the band energy's answers (those given), in the page's
    order."""
    answers = [measured(data, "resmap", data.local.data, data.local_json)]
    if data.wfsc is not None:
        answers.append(measured(data, "wfsc", data.wfsc.map.data, data.wfsc_json))
    if data.band is not None:
        band = data.band
        answers.append(measured(data, "band", band.map.data, band.record, band_constants(band)))
    return answers


def answer_of(answers: list[Answer], key: str) -> Answer | None:
    """The answer of ``key`` (None when that map was not given)."""
    return next((a for a in answers if a.key == key), None)


def stat_texts(answer: Answer, data: Loaded, nyquist_A: float) -> dict[str, str]:
    """An answer's median, quartiles and mean in words: a windowed-FSC value at a bound of
    WFSC.json reads as the bound."""
    stats = answer.resolved.stats
    texts = {key: fmt(stats.get(key), 2, "Å") for key in STAT_KEYS}
    if answer.key == "wfsc":
        texts |= wfsc_stat_text(stats, data.wfsc_record, nyquist_A)
    return texts


def summary_fields(
    data: Loaded, fsc: FSCSummary, texts: FSCTexts, answers: list[Answer]
) -> dict[str, Any]:
    """The summary section: FSC table and headline, local-resolution statistics of every map,
    bounds."""
    nyquist = nyquist_of(data.local.geometry)
    wf, band = answer_of(answers, "wfsc"), answer_of(answers, "band")
    wf_stats = wf.resolved.stats if wf is not None else None
    rows = [
        {"name": a.name, "constants": a.constants, "stats": a.resolved.stats,
         "text": stat_texts(a, data, nyquist)}
        for a in answers
    ]  # fmt: skip
    return {
        "mask_voxels": int(data.mask.voxels.sum()),
        "mask_source": data.mask.source,
        "fsc_rows": fsc.rows,
        "fsc_headline": texts.headline,
        "fsc_notes": texts.notes,
        "fsc_summary": summary_crossings(fsc, nyquist),
        "deposited_text": texts.deposited,
        "local_rows": rows,
        "wf_median_bound": wfsc_crossing((wf_stats or {}).get("median_A"), data.wfsc_record).bound,
        "wf_notes": wfsc_bound_notes(data.wfsc_record, nyquist),
        "loc": answers[0].resolved.stats,
        "wf": wf_stats,
        "band": band.resolved.stats if band is not None else None,
        "band_constants": band.constants if band is not None else None,
    }


def slice_scales(data: Loaded, scale: ColourScale) -> plots.SliceScales:
    """Grey range of the map (robust percentiles inside the mask grown by 6 Å) and the
    colour scale of the local-resolution layers."""
    region = padded_region(data.mask.voxels, data.local.geometry.spacing_zyx_A)
    grey = grey_limits(data.density.data, region)
    return plots.SliceScales(grey, scale.range_A, scale.extend)


def slice_figures(data: Loaded, answers: list[Answer], scales: plots.SliceScales) -> dict[str, str]:
    """Three central sections and a gallery of six z sections spanning the mask, one panel per
    local-resolution map."""
    geom = data.local.geometry
    layers = [(a.name, masked_layer(a.resolved.map_A, a.resolved.ok)) for a in answers]
    nz, ny, nx = geom.shape
    sections = [
        (f"XY z={nz // 2}", "xy", nz // 2),
        (f"XZ y={ny // 2}", "xz", ny // 2),
        (f"YZ x={nx // 2}", "yz", nx // 2),
    ]
    density, spacing = data.density.data, geom.spacing_zyx_A
    within = data.mask.voxels.any(axis=(1, 2))  # z sections that hold mask voxels
    gallery = [(f"z={i}", "xy", i) for i in plots.gallery_indices(nz, 6, within=within)]
    return {
        "slices": data_uri(plots.plot_slices(density, layers, spacing, scales, sections)),
        "gallery": data_uri(
            plots.plot_slices(density, layers, spacing, scales, gallery, sections_as_columns=True)
        ),
    }


def model_payload(model: ModelFile | None) -> dict[str, str] | None:
    """The fitted model as the page carries it (packed text, Mol* format, file name)."""
    if model is None:
        return None
    return {"data": packed(model.text), "format": model.format, "name": model.name}


def page_scene(
    data: Loaded, answers: list[Answer], scales: plots.SliceScales, contour: float
) -> dict[str, Any]:
    """What the 3D view and the slice browser draw, embedded in the page as JSON: the display
    grid, the density (int16 MRC, grey range, surface level), one float32 MRC per
    local-resolution map (NaN more than a voxel away from any resolved voxel), the colour key
    (range Å, 32 palette stops), the camera's sphere and the model
    (:mod:`~resmap_core.report.volumes`)."""
    grid = display_grid(data.local.geometry)
    layers = [layer_volume(a.name, a.resolved.map_A, a.resolved.ok, grid) for a in answers]
    density = density_volume(data.density.data, grid)
    span = density["level_span"]
    density["level_span"] = [min(span[0], contour), max(span[1], contour)]
    stops = [c for _, c in plots.palette_stops(*scales.colour_A, n=32)]
    return {
        "grid": {
            "shape_zyx": list(grid.geometry.shape),
            "factor": grid.factor,
            "spacing_zyx_A": list(grid.geometry.spacing_zyx_A),
        },
        "density": density | {"grey": list(scales.grey), "level": contour},
        "layers": layers,
        "key": {"range_A": list(scales.colour_A), "stops": stops},
        "focus": focus_sphere(data.mask.voxels, data.local.geometry),
        "model": model_payload(data.model),
    }


def histogram_figures(
    answers: list[Answer], n_mask: int, texts: FSCTexts
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Histograms of every map on one set of bins; for each pair of maps (in the page's order)
    the voxel-wise 2-D histogram (one figure, a panel per pair) and the agreement (Spearman ρ,
    median difference first − second) over voxels resolved in both."""
    edges = histogram_edges(*value_span(*(a.resolved.values for a in answers)), bins=40)
    hists = [(a.title, local_histogram(a.resolved.values, n_mask, edges)) for a in answers]
    images = {"histograms": data_uri(plots.plot_histograms(hists, texts.lines))}
    panels, agreements = [], []
    for first, second in combinations(answers, 2):
        x, y = first.resolved, second.resolved
        both = x.ok & y.ok
        a, b = x.map_A[both], y.map_A[both]
        pair = {"first": first.name, "second": second.name, "keys": (first.key, second.key)}
        agreements.append(pair | agreement(a, b))
        panels.append((joint_histogram(a, b, edges), f"{first.name} (Å)", f"{second.name} (Å)"))
    if panels:
        images["joint"] = data_uri(plots.plot_joint(panels, edges))
    return images, agreements


def wavelength_rows(local_json: dict) -> list[dict[str, Any]]:
    """One row per tested wavelength of LOCAL.json (λ Å, window radius, σ², thresholds, voxel
    counts); absent or non-numeric values are None."""
    return [
        {
            "lambda_A": finite_float(w.get("lambda_A")),
            "sigma2": finite_float(w.get("sigma2")),
            "radius": w.get("window_radius_vox"),
            "t_unc": finite_float(w.get("threshold_uncorrected")),
            "t_fdr": finite_float(w.get("threshold_fdr")),
            "tested": w.get("tested"),
            "assigned": w.get("assigned"),
        }
        for w in local_json.get("wavelengths") or []
    ]


def wavelength_figure(rows: list[dict[str, Any]]) -> str:
    """Voxels tested and assigned, and σ², per wavelength (a data URI)."""
    return data_uri(
        plots.plot_wavelengths(
            np.array([r["lambda_A"] or np.nan for r in rows]),
            np.array([r["sigma2"] or np.nan for r in rows]),
            np.array([r["tested"] or 0 for r in rows]),
            np.array([r["assigned"] or 0 for r in rows]),
        )
    )


def spectra(data: Loaded) -> Spectra:
    """The map's radial power, and LOCAL.json's pre-whitening and noise spectra if recorded."""
    lj = data.local_json or {}
    map_spec = radial_power(data.density.data, data.local.geometry.spacing_zyx_A)
    panels: list[tuple[str, list[tuple[str, Any, Any]]]] = [
        ("map power spectrum", [("map", *map_spec)])
    ]
    pw = lj.get("prewhitening")
    if isinstance(pw, dict) and pw.get("frequency_invA"):
        f = pw["frequency_invA"]
        lines = [("before", f, pw["spectrum_before"]), ("after", f, pw["spectrum_after"])]
        panels.append(("pre-whitening", lines))
    ns = lj.get("noise_spectrum")
    noise = None
    if isinstance(ns, dict) and ns.get("frequency_invA"):
        noise = (np.asarray(ns["frequency_invA"], float), np.asarray(ns["power"], float))
        panels.append(("noise spectrum", [("noise", *noise)]))
    return Spectra(map_spec, pw if isinstance(pw, dict) else None, noise, panels)


def findings_of(
    data: Loaded, spec: Spectra, fsc: FSCSummary, loc: Resolved
) -> tuple[list[Finding], dict | None]:
    """The diagnostics' findings and the mask-fit record (None without a mask)."""
    fit = mask_fit(data.density.data, data.mask.voxels) if data.mask.note is None else None
    findings = diagnose(
        lowpass=(data.local_json or {}).get("lowpass"),
        map_spectrum=spec.map,
        noise_spectrum=spec.noise,
        prewhitened=spec.prewhitening is not None,
        mask_fit_record=fit,
        mask_source=data.mask.source,
        fsc_curve=fsc.diag,
        unresolved_fraction=loc.stats["unresolved_fraction"],
    )
    return findings, fit


def absent_parts(data: Loaded, spec: Spectra) -> list[str]:
    """Lines under "Not in this report": the loader's notes, then spectra LOCAL.json lacks."""
    absent = list(data.notes)
    if data.local_json is not None and spec.prewhitening is None:
        absent.append("No pre-whitening was applied (or no record of it).")
    if data.local_json is not None and spec.noise is None:
        absent.append("No noise spectrum in the ResMap record.")
    return absent


def contour_level(fit: dict | None, density: np.ndarray) -> tuple[float, str]:
    """Surface level for ChimeraX and the 3D view, and where it comes from in words: the mask
    fit's noise threshold, else mean + 3 SD of the map."""
    if fit and fit["threshold"] is not None:
        return fit["threshold"], "the noise threshold of the mask check under Diagnostics"
    level = float(density.mean(dtype=np.float64) + 3.0 * density.std(dtype=np.float64))
    return level, "the map's mean + 3 standard deviations"


def simulated_labels(labels: list[tuple[str, str]]) -> list[str]:
    """The input maps' header labels that call the data simulated (the demo's half maps say
    "SIMULATED half map 1 ..."), for the banner at the top of the page."""
    return [f"{name}: {text}" for name, text in labels if "simulated" in text.lower()]


def cxc_names(inputs: ReportInputs) -> dict[str, str]:
    """The ChimeraX scripts beside the page, by :data:`MEASURES` key: ResMap's and the windowed
    FSC's always (the second shows only the map without one), the band energy's when given."""
    keys = ["resmap", "wfsc"] + (["band"] if inputs.band is not None else [])
    return {key: f"{inputs.name}_{key}.cxc" for key in keys}


def header_fields(inputs: ReportInputs, data: Loaded) -> dict[str, Any]:
    """The page header: name, title, EMDB link, author resolution, box, voxel size, mode, the
    input maps' header labels (and those that call the data simulated)."""
    meta = data.meta or {}
    geom = data.local.geometry
    emdb_id, emdb_url = emdb_link(meta.get("emdb_id"))
    return {
        "name": inputs.name,
        "title": meta.get("title"),
        "emdb_id": emdb_id,
        "emdb_url": emdb_url,
        "author_resolution_A": finite_float(meta.get("author_resolution_A")),
        "box": "×".join(str(s) for s in geom.shape[::-1]),
        "voxel_size": "×".join(f"{v:.4g}" for v in geom.voxel_size_A),
        "mode": (data.local_json or {}).get("mode") or ("split" if data.fsc_json else "unknown"),
        "cxc": cxc_names(inputs),
        "labels": data.labels,
        "simulated": simulated_labels(data.labels),
    }


# ----------------------------------------------------------------------------------------------
# Orchestration
# ----------------------------------------------------------------------------------------------


def figures(
    data: Loaded, fsc: FSCSummary, texts: FSCTexts, answers: list[Answer],
    scales: plots.SliceScales,
) -> tuple[dict[str, str], list[dict[str, Any]]]:  # fmt: skip
    """The FSC figure, the colour key, the slices and the histograms (data URIs), and the
    agreement of each pair of maps."""
    images: dict[str, str] = {}
    if fsc.curves or data.deposited is not None:
        images["fsc"] = data_uri(
            plots.plot_fsc(fsc.curves, data.deposited, texts.notes, fsc_marks(fsc))
        )
    images["key"] = data_uri(plots.plot_key(scales.colour_A, scales.extend, "local resolution (Å)"))
    images |= slice_figures(data, answers, scales)
    hist_images, agreements = histogram_figures(answers, int(data.mask.voxels.sum()), texts)
    return images | hist_images, agreements


def pair_agreement(agreements: list[dict[str, Any]], keys: tuple[str, str]) -> dict | None:
    """The agreement of the pair of maps ``keys`` (None when one of them was not given)."""
    return next((a for a in agreements if a["keys"] == keys), None)


def build_context(inputs: ReportInputs, data: Loaded, progress: Progress) -> dict[str, Any]:
    """All numbers, tables and images the template shows (figures in page order)."""
    answers = local_answers(data)
    fsc = fsc_summary(data.fsc)
    texts = fsc_texts(fsc, data.deposited)
    scale = colour_scale(*(a.resolved.values for a in answers))
    scales = slice_scales(data, scale)
    progress.say("figures: FSC, slices, histograms")
    images, agreements = figures(data, fsc, texts, answers, scales)
    waves = wavelength_rows(data.local_json or {})
    if waves:
        images["wavelengths"] = wavelength_figure(waves)
    progress.say("diagnostics: spectra and mask fit")
    spec = spectra(data)
    images["spectra"] = data_uri(plots.plot_spectra(spec.panels))
    findings, fit = findings_of(data, spec, fsc, answers[0].resolved)
    contour, contour_source = contour_level(fit, data.density.data)
    progress.say("3D view and slice browser: embedding the maps")
    return {
        **header_fields(inputs, data),
        **summary_fields(data, fsc, texts, answers),
        **provenance_context(inputs, data),
        "agreements": agreements,
        "agree": pair_agreement(agreements, ("resmap", "wfsc")),
        "vrange": scale.range_A,
        "scale": scale,
        "palette": plots.PALETTE,
        "images": images,
        "wavelengths": waves,
        "lowpass": (data.local_json or {}).get("lowpass"),
        "findings": findings,
        "absent": absent_parts(data, spec),
        "contour": contour,
        "contour_source": contour_source,
        "scene": page_scene(data, answers, scales, contour),
        "atoms": atoms_section(read_atoms_record(inputs.atoms) if inputs.atoms else None),
        "viewer": None,
    }


def summary_record(context: dict[str, Any]) -> dict[str, Any]:
    """The small record ``summary.json`` that the run index reads."""
    return {
        "name": context["name"],
        "title": context["title"],
        "emdb_id": context["emdb_id"],
        "mode": context["mode"],
        "author_resolution_A": context["author_resolution_A"],
        **context["fsc_summary"],
        "resmap_median_A": context["loc"]["median_A"],
        "unresolved_fraction": context["loc"]["unresolved_fraction"],
        "wfsc_median_A": context["wf"]["median_A"] if context["wf"] else None,
        "wfsc_median_bound": context["wf_median_bound"],
        "spearman": context["agree"]["spearman"] if context["agree"] else None,
        "band_median_A": context["band"]["median_A"] if context["band"] else None,
        "band_unresolved_fraction": (
            context["band"]["unresolved_fraction"] if context["band"] else None
        ),
        "warnings": [f.code for f in context["findings"]],
        "report": "index.html",
    }


def build_report(inputs: ReportInputs, quiet: bool = False) -> dict[str, Any]:
    """Write index.html, the ChimeraX scripts and summary.json; return the summary."""
    progress = Progress(quiet, prefix="resmap report")
    progress.say(f"reading inputs of {inputs.name}")
    data = load(inputs)
    context = build_context(inputs, data, progress)
    out_dir = inputs.out.parent
    maps = {"resmap": inputs.local, "wfsc": inputs.wfsc, "band": inputs.band}
    colouring = {name: (maps[key], MEASURES[key][1]) for key, name in context["cxc"].items()}
    scripts = report_scripts(inputs.map, colouring, out_dir, context["vrange"],
                             context["contour"])  # fmt: skip
    context["viewer"] = install_viewer(out_dir)
    html = render("report.html.j2", context)
    summary = summary_record(context)
    for name, text in scripts.items():
        write_text(out_dir / name, text)
    write_json(out_dir / "summary.json", summary)
    write_text(inputs.out, html)
    progress.say(f"wrote {inputs.out}")
    return summary
