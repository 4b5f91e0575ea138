"""The default of every analysis and download setting, in one table.

Each row names the value once, with its unit, what it means, the ``resmap`` option that sets
it and the workflow's config key. The command-line options, the workflow
(``workflow/rules/common.smk``), the JSON-schema defaults of ``workflow/schemas/``,
``config/config.yaml`` and the tables of ``config/README.md`` take their values from here or
are checked against it, as is the library's :class:`~resmap_core.localres.scan.Params`
(``tests/test_defaults.py``).

Values are written as the config file writes them (``outside`` is the text ``"100"``, which
the command line turns into 100 Å). Standard library only: the CLI reads this module while it
builds its parsers, and start-up must stay instant.

``python -m resmap_core.defaults`` prints the Markdown tables of ``config/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: A default as YAML/JSON writes it.
Value = bool | int | float | str | None

#: The window kernels of the local model (docs/kernel-calibration.md).
KERNELS = ("paper", "resmap-1.1")
#: The local-resolution estimators: ResMap-H2 (the paper's test) and band energy
#: (docs/band-energy.md).
ESTIMATORS = ("resmap", "band")
#: Benjamini–Yekutieli per wavelength over the unresolved voxels (ResMap) or one global family.
FDR_MODES = ("per-wavelength", "global")

#: Groups of the table: analysis parameters (a dataset may override them) and download
#: settings (global only).
ANALYSIS = "analysis"
DOWNLOAD = "download"


@dataclass(frozen=True)
class Default:
    """One default: name, value, unit, meaning, the CLI option and the config key.

    ``cli_flag`` is the option of ``commands`` that sets it; a ``--no-…`` flag switches off a
    default that is true. ``config_key`` is dotted for nested keys (``windowed_fsc.box``);
    None where the workflow has no such key (and likewise for ``cli_flag``).
    """

    name: str
    value: Value
    unit: str
    meaning: str
    cli_flag: str | None
    commands: tuple[str, ...]
    config_key: str | None
    group: str = ANALYSIS


# Commands that take the scan's options (resmap_core/cli/commands/_scan_options.py).
_SCAN = ("local", "prepare")

TABLE: tuple[Default, ...] = (
    Default(
        "p_value",
        0.05,
        "",
        "FDR level (Benjamini–Yekutieli)",
        "--p-value",
        _SCAN,
        "p_value",
    ),
    Default(
        "min_res",
        None,
        "Å",
        "smallest wavelength tested (null: 2.2 × voxel size)",
        "--min-res",
        _SCAN,
        "min_res",
    ),
    Default(
        "max_res",
        None,
        "Å",
        "largest wavelength tested (null: data-driven)",
        "--max-res",
        _SCAN,
        "max_res",
    ),
    Default("step_res", 1.0, "Å", "wavelength step", "--step-res", _SCAN, "step_res"),
    Default(
        "kernel",
        "paper",
        "",
        "window kernel: `paper` or `resmap-1.1`",
        "--kernel",
        _SCAN,
        "kernel",
    ),
    Default(
        "estimator",
        "resmap",
        "",
        "`resmap` (ResMap-H2) or `band` (band energy, docs/band-energy.md)",
        "--estimator",
        _SCAN,
        None,
    ),
    Default(
        "band.enabled",
        True,
        "",
        "workflow: also run the band-energy estimator (a fourth answer in the report)",
        None,
        (),
        "band.enabled",
    ),
    Default(
        "band_width",
        0.15,
        "λ⁻¹",
        "band energy: sd of the Gaussian shell around 1/λ, in units of 1/λ",
        "--band-width",
        _SCAN,
        "band.width",
    ),
    Default(
        "band_window",
        0.75,
        "λ",
        "band energy: sd of the Gaussian window, in units of λ (truncated at 2 sd)",
        "--band-window",
        _SCAN,
        "band.window",
    ),
    Default(
        "prewhiten",
        True,
        "",
        "automatic pre-whitening",
        "--no-prewhiten",
        _SCAN,
        "prewhiten",
    ),
    Default(
        "lowpass_check",
        True,
        "",
        "detect low-pass filtered maps and resample",
        "--no-lowpass-check",
        _SCAN,
        "lowpass_check",
    ),
    Default(
        "fdr_mode",
        "per-wavelength",
        "",
        "`per-wavelength` (ResMap) or `global` (one BY family)",
        "--fdr-mode",
        _SCAN,
        "fdr_mode",
    ),
    Default(
        "outside",
        "100",
        "Å",
        'value outside the mask and for unresolved voxels: `"nan"`, `"0"`, `"100"`',
        "--outside",
        (*_SCAN, "wfsc"),
        "outside",
    ),
    Default(
        "passes_per_round",
        4,
        "",
        "workflow: wavelengths whose pass jobs run together; after each round the scan stops "
        "once every voxel is decided (per-wavelength FDR), so at most this many minus one "
        "passes are computed in vain",
        None,
        (),
        "passes_per_round",
    ),
    Default(
        "allow_single_map",
        False,
        "",
        "EMDB entries without half maps run in single-map mode",
        "--allow-single-map",
        ("fetch",),
        "allow_single_map",
    ),
    Default(
        "windowed_fsc.enabled",
        True,
        "",
        "windowed-FSC map (split mode)",
        None,
        (),
        "windowed_fsc.enabled",
    ),
    Default(
        "windowed_fsc.box",
        20,
        "voxels",
        "windowed-FSC box edge",
        "--box",
        ("wfsc",),
        "windowed_fsc.box",
    ),
    Default(
        "windowed_fsc.step",
        2,
        "voxels",
        "step between windowed-FSC box centres",
        "--step",
        ("wfsc",),
        "windowed_fsc.step",
    ),
    Default(
        "windowed_fsc.cutoff",
        0.5,
        "",
        "FSC threshold of the windowed-FSC map: 0.143 or 0.5",
        "--cutoff",
        ("wfsc",),
        "windowed_fsc.cutoff",
    ),
    Default(
        "fsc.soft_edge",
        None,
        "Å",
        "raised-cosine edge the gold-standard FSC adds to a binary dataset mask "
        "(null: the mask as given; see `docs/fsc.md`)",
        "--soft-edge",
        ("fsc",),
        "fsc.soft_edge",
    ),
    Default(
        "atoms.radius",
        3.0,
        "Å",
        "per residue, the mean over voxels within this distance of its heavy atoms "
        "(3 Å as the EMDB; see `docs/atoms.md`)",
        "--radius",
        ("atoms",),
        "atoms.radius",
    ),
    Default(
        "locfilt.bfactor",
        None,
        "Å²",
        "B-factor applied by the local filter: negative sharpens (null: none; `docs/atoms.md`)",
        "--bfactor",
        ("locfilt",),
        "locfilt.bfactor",
    ),
    Default(
        "seed",
        0,
        "",
        "seed of the phase randomisation (FSC correction)",
        "--seed",
        ("fsc", "wfsc"),
        None,
    ),
    Default(
        "emdb_base_url",
        "https://ftp.ebi.ac.uk/pub/databases/emdb",
        "",
        "EMDB mirror: the folder that holds `structures/EMD-N/…` (`file://` too)",
        "--base-url",
        ("fetch",),
        "emdb_base_url",
        DOWNLOAD,
    ),
    Default(
        "pdb_base_url",
        "https://files.wwpdb.org/pub/pdb/data/structures/divided",
        "",
        "PDB mirror for fitted models: the folder that holds `mmCIF/<ab>/<id>.cif.gz` "
        "(`file://` too)",
        None,
        (),
        "pdb_base_url",
        DOWNLOAD,
    ),
    Default(
        "download.timeout_s",
        60.0,
        "s",
        "seconds without data before a download attempt is abandoned",
        "--timeout",
        ("fetch",),
        "download.timeout_s",
        DOWNLOAD,
    ),
    Default(
        "download.retries",
        4,
        "",
        "retries per file (timeouts, connection errors, HTTP 5xx/408/429, cut bodies)",
        "--retries",
        ("fetch",),
        "download.retries",
        DOWNLOAD,
    ),
    Default(
        "download.backoff_s",
        2.0,
        "s",
        "first retry delay, doubled at each retry",
        "--backoff",
        ("fetch",),
        "download.backoff_s",
        DOWNLOAD,
    ),
)

#: The rows by name.
DEFAULTS: dict[str, Default] = {row.name: row for row in TABLE}


def value(name: str) -> Value:
    """The default value of ``name`` (a :data:`TABLE` row's name)."""
    return DEFAULTS[name].value


def number(name: str) -> float:
    """The default of ``name``, a number, as a float."""
    default = value(name)
    if isinstance(default, bool) or not isinstance(default, int | float):
        raise TypeError(f"the default of {name} is {default!r}, not a number")
    return float(default)


def integer(name: str) -> int:
    """The default of ``name``, an integer."""
    default = value(name)
    if isinstance(default, bool) or not isinstance(default, int):
        raise TypeError(f"the default of {name} is {default!r}, not an integer")
    return default


def text(name: str) -> str:
    """The default of ``name``, a string."""
    default = value(name)
    if not isinstance(default, str):
        raise TypeError(f"the default of {name} is {default!r}, not a string")
    return default


def config_defaults(group: str) -> dict[str, Value | dict[str, Value]]:
    """The config keys of ``group`` with their defaults, nested as config/config.yaml nests them.

    E.g. ``{"p_value": 0.05, …, "windowed_fsc": {"enabled": True, "box": 20, …}}``.
    """
    out: dict[str, Value | dict[str, Value]] = {}
    for row in TABLE:
        if row.group != group or row.config_key is None:
            continue
        *sections, key = row.config_key.split(".")
        target = out
        for section in sections:
            target = target.setdefault(section, {})  # type: ignore[assignment]
        target[key] = row.value  # type: ignore[index]
    return out


def yaml_text(default: Value) -> str:
    """``default`` as YAML writes it: ``null``, ``true``, ``0.05``, ``paper``, ``"100"``."""
    if default is None:
        return "null"
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, str) and default.replace(".", "").isdigit():
        return f'"{default}"'  # digits that YAML would read as a number
    return str(default)


def markdown_table(group: str) -> str:
    """The table of ``group`` as config/README.md shows it (tests/test_defaults.py compares)."""
    lines = [
        "| key | default | unit | meaning | `resmap` option |",
        "|---|---|---|---|---|",
    ]
    for row in TABLE:
        if row.group != group or row.config_key is None:
            continue
        option = f"`{row.cli_flag}` ({', '.join(row.commands)})" if row.cli_flag else "—"
        lines.append(
            f"| `{row.config_key}` | `{yaml_text(row.value)}` | {row.unit or '—'} "
            f"| {row.meaning} | {option} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    for name in (ANALYSIS, DOWNLOAD):
        print(markdown_table(name))
