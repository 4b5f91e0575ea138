"""Configuration, the dataset sheet, and the input functions every stage uses.

This is the only Python in the workflow: it validates config/config.yaml and the optional
dataset sheet against workflow/schemas/, merges global and per-dataset parameters, and tells
each rule which files and options belong to a dataset.
"""

import functools
import json
import os
import re

import pandas as pd
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from resmap_core.defaults import ANALYSIS, DOWNLOAD, config_defaults
from resmap_core.pipeline.fingerprint import package_fingerprint
from resmap_core.pipeline.resources import (
    JobSize,
    dataset_size,
    job_request,
    map_voxels,
)

# Parameters a dataset may override, and their values when neither it nor the config sets them
# (sections such as windowed_fsc are dicts, merged key by key); then the download settings.
# Both come from the one table of defaults, resmap_core/defaults.py.
DEFAULTS = config_defaults(ANALYSIS)
DOWNLOAD_DEFAULTS = config_defaults(DOWNLOAD)
# Keys of earlier versions, and where their values go now: a config that still uses one stops
# with this hint rather than with the schema's bare "unexpected property".
RENAMED = {
    "wfsc": "windowed_fsc.enabled",
    "fsc.box": "windowed_fsc.box",
    "fsc.step": "windowed_fsc.step",
    "fsc.cutoff": "windowed_fsc.cutoff",
}
SHEET_SCHEMA = "../schemas/datasets.schema.yaml"
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _sheet_value(column, text, kind, where):
    """Convert one sheet cell (a string) to the type the schema asks for."""
    try:
        if kind == "number":
            return float(text)
        if kind == "boolean":
            lowered = text.strip().lower()
            if lowered in ("true", "yes", "1"):
                return True
            if lowered in ("false", "no", "0"):
                return False
            raise ValueError(text)
    except ValueError:
        raise WorkflowError(
            f"{where}: column {column!r} must be a {kind}, got {text!r}."
        ) from None
    return text


def nest(record):
    """``{"windowed_fsc.enabled": v}`` → ``{"windowed_fsc": {"enabled": v}}`` (sheet columns)."""
    out = {}
    for key, value in record.items():
        *sections, last = key.split(".")
        target = out
        for section in sections:
            target = target.setdefault(section, {})
        target[last] = value
    return out


def read_sheet(path):
    """Datasets from a tab-separated sheet, one row per dataset (empty cells are unset)."""
    with open(workflow.source_path(SHEET_SCHEMA)) as fh:
        columns = yaml.safe_load(fh)["properties"]
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    unknown = [c for c in table.columns if c not in columns]
    if unknown:
        raise WorkflowError(
            f"{path}: unknown column(s) {', '.join(unknown)}; allowed: {', '.join(columns)}."
        )
    records = []
    for i, row in enumerate(table.to_dict("records"), start=2):
        where = f"{path} line {i}"
        record = {
            k: _sheet_value(k, v.strip(), columns[k].get("type", "string"), where)
            for k, v in row.items()
            if v.strip() != ""
        }
        records.append(record)
    frame = pd.DataFrame(records)
    validate(frame, schema=SHEET_SCHEMA)
    datasets = {}
    for record in records:
        name = record.pop("dataset")
        if name in datasets:
            raise WorkflowError(f"{path}: dataset {name!r} is listed twice.")
        datasets[name] = nest(record)
    return datasets


def normalise_outside(section):
    """Accept ``outside`` as a number from ``--config outside=0|100|nan``: store it as text."""
    value = section.get("outside") if isinstance(section, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        section["outside"] = "nan" if value != value else f"{value:g}"


def has_key(section, dotted):
    """Whether ``section`` holds the key ``dotted`` (``fsc.box``: ``box`` under ``fsc``)."""
    for part in dotted.split("."):
        if not isinstance(section, dict) or part not in section:
            return False
        section = section[part]
    return True


def check_renamed(section, where):
    """Stop on a key of :data:`RENAMED`, naming its new place."""
    for old, new in RENAMED.items():
        if has_key(section, old):
            raise WorkflowError(
                f"{where}: the key {old!r} is now {new!r} (see config/README.md)."
            )


def load_datasets(cfg):
    """Validate the config, merge the sheet into it, validate again; return the datasets."""
    check_renamed(cfg, "config")
    normalise_outside(cfg)
    for name, entry in (cfg.get("datasets") or {}).items():
        check_renamed(entry, f"dataset {name}")
        normalise_outside(entry)
    validate(cfg, schema="../schemas/config.schema.yaml", set_default=False)
    datasets = dict(cfg.get("datasets") or {})
    if cfg.get("sheet"):
        for name, record in read_sheet(cfg["sheet"]).items():
            if name in datasets:
                raise WorkflowError(
                    f"dataset {name!r} is defined both in the config and in {cfg['sheet']}."
                )
            datasets[name] = record
        validate({"datasets": datasets}, schema="../schemas/config.schema.yaml")
    chosen = cfg.get("run_datasets")
    if chosen is not None:
        unknown = sorted(set(chosen) - set(datasets))
        if unknown:
            raise WorkflowError(
                f"run_datasets names unknown dataset(s) {', '.join(unknown)}; "
                f"defined: {', '.join(sorted(datasets))}."
            )
        datasets = {name: datasets[name] for name in chosen}
    if not datasets:
        raise WorkflowError("the config lists no datasets; add one under 'datasets:'.")
    return datasets


DATASETS = load_datasets(config)
EMDB_DATASETS = sorted(k for k, v in DATASETS.items() if "emdb" in v)
LOCAL_DATASETS = sorted(k for k, v in DATASETS.items() if "emdb" not in v)
CODE = package_fingerprint()


# A dataset's name holds no "/", so that results/{dataset}/passes/... (ResMap-H2) never matches
# results/{dataset}/band/passes/... (band energy).
wildcard_constraints:
    dataset=DATASET_NAME.pattern.strip("^$"),


def names_regex(names):
    """A wildcard constraint matching exactly ``names`` (and nothing when it is empty)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def setting(dataset, key):
    """A parameter for ``dataset``: its own value, else the config's, else the default.

    A section (``windowed_fsc``, ``fsc``) is merged key by key in the same order.
    """
    own = DATASETS[dataset]
    if isinstance(DEFAULTS[key], dict):
        return {**DEFAULTS[key], **config.get(key, {}), **own.get(key, {})}
    if key in own:
        return own[key]
    return config.get(key, DEFAULTS[key])


def dataset_parameters(dataset):
    """Every analysis parameter of ``dataset`` (for provenance and reruns)."""
    return {key: setting(dataset, key) for key in DEFAULTS}


# ---- fetch / locate --------------------------------------------------------------------------


def meta_path(wildcards):
    """resources/{dataset}/meta.json, produced by fetch_emdb (a checkpoint) or locate_local."""
    if wildcards.dataset in EMDB_DATASETS:
        return checkpoints.fetch_emdb.get(dataset=wildcards.dataset).output.meta
    return f"resources/{wildcards.dataset}/meta.json"


def dataset_files(wildcards):
    """{role: path} of the dataset's input files (half1, half2, map, mask) as located."""
    if wildcards.dataset in EMDB_DATASETS:
        with open(meta_path(wildcards)) as fh:
            files = json.load(fh)["files"]
        return {role: entry["path"] for role, entry in files.items()}
    own = DATASETS[wildcards.dataset]
    return {
        role: own[role] for role in ("half1", "half2", "map", "mask") if role in own
    }


def is_split(wildcards):
    """True when the dataset has two half maps (gold-standard mode)."""
    return "half1" in dataset_files(wildcards)


def local_inputs(wildcards):
    """Named input files of locate_local."""
    return dataset_files(wildcards)


def locate_options(wildcards, input):
    """Command-line options of ``resmap locate`` for the files present."""
    options = [
        f"--{role} {getattr(input, role)}"
        for role in ("half1", "half2", "map", "mask")
        if role in input.keys()
    ]
    voxel = DATASETS[wildcards.dataset].get("voxel_size")
    if voxel:
        options.append(f"--voxel-size {voxel}")
    return " ".join(options)


def emdb_accession(wildcards):
    """The EMDB accession of an emdb dataset."""
    return DATASETS[wildcards.dataset]["emdb"]


def fetch_options(wildcards):
    """Command-line options of ``resmap fetch`` from the config."""
    own = DATASETS[wildcards.dataset]
    download = {**DOWNLOAD_DEFAULTS["download"], **config.get("download", {})}
    base_url = config.get("emdb_base_url", DOWNLOAD_DEFAULTS["emdb_base_url"])
    options = [
        f"--base-url {base_url}",
        f"--timeout {download['timeout_s']}",
        f"--retries {download['retries']}",
        f"--backoff {download['backoff_s']}",
    ]
    if setting(wildcards.dataset, "allow_single_map"):
        options.append("--allow-single-map")
    if own.get("deposited_mask"):
        options.append("--deposited-mask")
    if own.get("voxel_size"):
        options.append(f"--voxel-size {own['voxel_size']}")
    return " ".join(options)


# ---- prepare / passes / fdr ----------------------------------------------------------------


def prepare_inputs(wildcards):
    """Maps (two halves, or one map), the optional mask, and meta.json (so locate runs first)."""
    files = dataset_files(wildcards)
    maps = [files["half1"], files["half2"]] if "half1" in files else [files["map"]]
    inputs = {"maps": maps, "meta": meta_path(wildcards)}
    if "mask" in files:
        inputs["mask"] = files["mask"]
    return inputs


def prepare_options(wildcards, input):
    """Command-line options of ``resmap prepare``."""
    ds = wildcards.dataset
    options = [
        f"--p-value {setting(ds, 'p_value')}",
        f"--step-res {setting(ds, 'step_res')}",
        f"--kernel {setting(ds, 'kernel')}",
    ]
    for key, flag in (("min_res", "--min-res"), ("max_res", "--max-res")):
        if setting(ds, key) is not None:
            options.append(f"{flag} {setting(ds, key)}")
    if not setting(ds, "prewhiten"):
        options.append("--no-prewhiten")
    if not setting(ds, "lowpass_check"):
        options.append("--no-lowpass-check")
    if "mask" in input.keys():
        options.append(f"--mask {input.mask}")
    voxel = DATASETS[ds].get("voxel_size")
    if voxel:
        options.append(f"--voxel-size {voxel}")
    return " ".join(options)


def wavelengths_of(wildcards):
    """The wavelength grid (Å, exact decimal strings) written by the wavelengths checkpoint."""
    grid_json = checkpoints.wavelengths.get(dataset=wildcards.dataset).output.grid
    with open(grid_json) as fh:
        return [repr(float(w)) for w in json.load(fh)["wavelengths_A"]]


# ---- estimators: ResMap-H2 and band energy, both from one prepared.npz ----------------------

#: Each estimator's folder under results/{dataset}/ (its passes/, rounds/ and map) and the
#: checkpoint of its rounds. ResMap-H2 keeps the top folder it always had; band energy
#: (docs/band-energy.md) runs for datasets with ``band.enabled`` (rules/band.smk).
ESTIMATORS = {
    "resmap": {"folder": "", "rounds": "scan_status"},
    "band": {"folder": "band/", "rounds": "band_scan_status"},
}


def for_estimator(function, estimator):
    """``function`` (an input or params function of this file) for ``estimator``, called by
    Snakemake like the function itself (it passes the arguments the function names)."""
    return functools.partial(function, estimator=estimator)


def estimator_folder(dataset, estimator):
    """``results/{dataset}/`` (ResMap-H2) or ``results/{dataset}/band/``."""
    return f"results/{dataset}/{ESTIMATORS[estimator]['folder']}"


def wants_band(wildcards):
    """The band-energy estimator runs for datasets that did not switch it off (band.enabled)."""
    return setting(wildcards.dataset, "band")["enabled"]


def estimator_options(wildcards, estimator="resmap"):
    """``--estimator`` for the stages after prepare (which default to PREP.npz's), with the
    band estimator's constants from the config (``band.width``, ``band.window``)."""
    if estimator != "band":
        return f"--estimator {estimator}"
    band = setting(wildcards.dataset, "band")
    return (
        f"--estimator band --band-width {band['width']} --band-window {band['window']}"
    )


def first_passes(wildcards, count, estimator="resmap"):
    """The pass files of the grid's first ``count`` wavelengths."""
    return expand(
        estimator_folder("{dataset}", estimator) + "passes/lambda_{wavelength}A.npz",
        dataset=wildcards.dataset,
        wavelength=wavelengths_of(wildcards)[:count],
    )


def round_pass_files(wildcards, estimator="resmap"):
    """The passes of rounds 0 … ``round`` (``passes_per_round`` wavelengths each)."""
    size = setting(wildcards.dataset, "passes_per_round")
    return first_passes(wildcards, (int(wildcards.round) + 1) * size, estimator)


def pass_files(wildcards, estimator="resmap"):
    """The passes the FDR step takes: every wavelength in global mode; per wavelength, the
    rounds up to the first whose scan-status finds every voxel decided (or the whole grid).
    """
    ds = wildcards.dataset
    total = len(wavelengths_of(wildcards))
    if setting(ds, "fdr_mode") == "global":
        return first_passes(wildcards, total, estimator)
    size = setting(ds, "passes_per_round")
    rounds = -(-total // size)
    status_of = getattr(checkpoints, ESTIMATORS[estimator]["rounds"])
    for r in range(rounds - 1):  # the last round needs no status: nothing follows it
        status = status_of.get(dataset=ds, round=str(r)).output.status
        with open(status) as fh:
            if json.load(fh)["finished"]:
                return first_passes(wildcards, (r + 1) * size, estimator)
    return first_passes(wildcards, total, estimator)


# ---- resources: mem_mb and runtime of each job (resmap_core.pipeline.resources) ------------


def dataset_job(wildcards, input, threads):
    """A dataset job's size: the input box and mode (meta.json) and, once the wavelength grid
    exists, the mask voxels (wavelengths.json; before it, a mask filling the box)."""
    ds = wildcards.dataset
    return dataset_size(
        f"resources/{ds}/meta.json", f"results/{ds}/wavelengths.json", threads
    )


def analysed_job(wildcards, input, threads):
    """A per-wavelength pass's size: the analysed grid (smaller than the input's when low-pass
    resampled) and its mask voxels, from wavelengths.json."""
    ds = wildcards.dataset
    return dataset_size(
        f"resources/{ds}/meta.json",
        f"results/{ds}/wavelengths.json",
        threads,
        analysed_grid=True,
    )


def half_map_job(wildcards, input, threads):
    """The FSC job's size: the box of the first half map, from its header (meta.json may not
    be written yet when the FSC of a local dataset starts)."""
    half1 = input.half1 if "half1" in input.keys() else None
    return JobSize(voxels=map_voxels(half1), threads=threads)


def index_job(wildcards, input, threads):
    """The report index reads one small summary per dataset: no map."""
    return JobSize(voxels=0)


def requested(rule_name, size_of, key):
    """A resource function for the rule named ``rule_name``, giving ``key`` (``mem_mb`` or
    ``runtime``) of the request for the job size ``size_of(wildcards, input, threads)``, scaled
    by the attempt (a job killed for memory or time is retried with more)."""

    def resource(wildcards, input, threads, attempt):
        size = size_of(wildcards, input, threads)
        return job_request(rule_name, size, attempt)[key]

    return resource


def fdr_overrides(wildcards, estimator="resmap"):
    """The estimator and FDR settings of ``resmap fdr`` and ``resmap scan-status`` (the two must
    agree, and with the passes: ``resmap fdr`` refuses passes of another estimator)."""
    ds = wildcards.dataset
    return (
        f"{estimator_options(wildcards, estimator)} "
        f"--fdr-mode {setting(ds, 'fdr_mode')} --p-value {setting(ds, 'p_value')}"
    )


def fdr_options(wildcards, estimator="resmap"):
    """Command-line options of ``resmap fdr``."""
    outside = setting(wildcards.dataset, "outside")
    return f"{fdr_overrides(wildcards, estimator)} --outside {outside}"


# ---- FSC / report --------------------------------------------------------------------------


def half_maps(wildcards):
    """The two half maps (only called for split-mode datasets)."""
    files = dataset_files(wildcards)
    return {"half1": files["half1"], "half2": files["half2"]}


def voxel_option(wildcards):
    """``--voxel-size A`` when the dataset overrides the header's voxel size, else nothing."""
    voxel = DATASETS[wildcards.dataset].get("voxel_size")
    return f"--voxel-size {voxel}" if voxel else ""


def wfsc_options(wildcards):
    """Command-line options of ``resmap wfsc``."""
    windowed = setting(wildcards.dataset, "windowed_fsc")
    options = [
        f"--box {windowed['box']}",
        f"--step {windowed['step']}",
        f"--cutoff {windowed['cutoff']}",
        voxel_option(wildcards),
    ]
    return " ".join(o for o in options if o)


def wants_wfsc(wildcards):
    """Windowed FSC runs for split-mode datasets that did not switch it off."""
    return is_split(wildcards) and setting(wildcards.dataset, "windowed_fsc")["enabled"]


def final_outputs(wildcards):
    """Everything a dataset's report summarises (split mode adds FSC and windowed FSC;
    ``band.enabled`` the band-energy map)."""
    ds = wildcards.dataset
    outputs = {
        "local": f"results/{ds}/local_resolution.mrc",
        "summary": f"results/{ds}/local_resolution.json",
        "mask": f"results/{ds}/mask.mrc",
        "grid": f"results/{ds}/wavelengths.json",
        "meta": meta_path(wildcards),
    }
    if is_split(wildcards):
        outputs["fsc"] = f"results/{ds}/fsc.json"
    if wants_wfsc(wildcards):
        outputs["wfsc"] = f"results/{ds}/wfsc.mrc"
    if wants_band(wildcards):
        folder = estimator_folder(ds, "band")
        outputs["band"] = f"{folder}local_resolution.mrc"
        outputs["band_summary"] = f"{folder}local_resolution.json"
    return outputs


def report_inputs(wildcards):
    """Named inputs of the dataset report: final outputs, the display map, provenance.

    The display map is the map analysed (the half-map average in split mode), as written by
    the prepare rule.
    """
    inputs = final_outputs(wildcards)
    # the locally filtered map and, with a model, the model's local-resolution record
    inputs.update(model_outputs(wildcards))
    inputs["map"] = f"results/{wildcards.dataset}/map.mrc"
    inputs["provenance"] = f"results/{wildcards.dataset}/provenance.json"
    if wildcards.dataset in EMDB_DATASETS:
        with open(meta_path(wildcards)) as fh:
            deposited = json.load(fh)["deposited_fsc"]
        if deposited:
            inputs["deposited_fsc"] = deposited
    return inputs


def report_options(wildcards, input):
    """``resmap report`` arguments for the inputs this dataset has.

    Built here rather than in the shell string because, before an EMDB entry is fetched, the
    dry run formats the command with the checkpoint's placeholder inputs only.
    """
    flags = {
        "map": "--map",
        "local": "--local",
        "mask": "--mask",
        "meta": "--meta",
        "provenance": "--provenance",
        "fsc": "--fsc",
        "wfsc": "--wfsc",
        "band": "--band",
        "deposited_fsc": "--deposited-fsc",
        "atoms": "--atoms",
        "atoms_model": "--model",
    }
    return " ".join(
        f"{flag} {getattr(input, key)}"
        for key, flag in flags.items()
        if key in input.keys()
    )


def half_map_args(wildcards, input):
    """The two half maps as positional arguments (empty before an EMDB entry is fetched)."""
    return " ".join(
        str(getattr(input, key)) for key in ("half1", "half2") if key in input.keys()
    )


def map_args(wildcards, input):
    """The maps ``resmap prepare`` reads (empty before an EMDB entry is fetched)."""
    return " ".join(input.maps) if "maps" in input.keys() else ""


def provenance_parameters(wildcards):
    """Every analysis parameter of the dataset, for the provenance record."""
    return dataset_parameters(wildcards.dataset)


def benchmarks_dir(wildcards):
    """Folder of the dataset's per-rule benchmark files (run time, memory)."""
    return f"results/{wildcards.dataset}/benchmarks"


def report_folders(wildcards, input):
    """The folder of each dataset report, for the index page."""
    return [os.path.dirname(path) for path in input.reports]


def fsc_inputs(wildcards):
    """The half maps and, when the dataset has one, its own mask file: the FSC uses a given mask
    exactly as it is (soft or binary), not the binary mask that prepare derives from it.
    """
    inputs = half_maps(wildcards)
    files = dataset_files(wildcards)
    if "mask" in files:
        inputs["mask"] = files["mask"]
    return inputs


def fsc_options(wildcards, input):
    """``--mask`` (the dataset's own; without one, resmap fsc builds its automatic mask),
    ``--soft-edge`` when the config asks for one, and the voxel-size override."""
    options = [voxel_option(wildcards)]
    if "mask" in input.keys():
        options.append(f"--mask {input.mask}")
    soft_edge = setting(wildcards.dataset, "fsc")["soft_edge"]
    if soft_edge is not None:
        options.append(f"--soft-edge {soft_edge}")
    return " ".join(o for o in options if o)
