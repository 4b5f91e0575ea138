"""Input functions of the rules in model.smk: the fitted model of a dataset, the maps sampled
at it, and the local filter's options. Kept apart from model.smk because Snakemake's linter
asks that functions and rules live in different files.

A dataset names its model with ``model:``: a file (mmCIF or PDB, optionally gzipped),
``pdb:XXXX`` (that entry, fetched from ``pdb_base_url``), or ``fetch`` (EMDB datasets: the
first model the entry's header lists as fitted, fetched likewise).
"""

from resmap_core.cli.commands.wfsc import cutoff_path
from resmap_core.errors import InputError
from resmap_core.fsc.windowed import other_cutoff
from resmap_core.io.download import DownloadPolicy
from resmap_core.io.emdb import header_file_name
from resmap_core.io.pdb import fetch_model, fitted_model_id

MODEL_DATASETS = sorted(k for k, v in DATASETS.items() if v.get("model"))
FETCHED_MODELS = sorted(
    k
    for k in MODEL_DATASETS
    if DATASETS[k]["model"] == "fetch" or DATASETS[k]["model"].startswith("pdb:")
)


def model_file(wildcards):
    """The dataset's model: its own file, or the fetched resources/{dataset}/model.cif.gz."""
    if wildcards.dataset in FETCHED_MODELS:
        return f"resources/{wildcards.dataset}/model.cif.gz"
    return DATASETS[wildcards.dataset]["model"]


def fetch_model_inputs(wildcards):
    """An EMDB dataset's meta.json (its header XML is downloaded beside it); nothing for pdb:."""
    if DATASETS[wildcards.dataset]["model"] == "fetch":
        return {"meta": meta_path(wildcards)}
    return {}


def pdb_settings(wildcards):
    """Mirror and download policy of the PDB fetch, from the config."""
    download = {**DOWNLOAD_DEFAULTS["download"], **config.get("download", {})}
    return {
        "base_url": config.get("pdb_base_url", DOWNLOAD_DEFAULTS["pdb_base_url"]),
        "policy": DownloadPolicy(
            download["timeout_s"], download["retries"], download["backoff_s"]
        ),
    }


def fitted_pdb_id(dataset, meta):
    """The PDB id to fetch: from ``pdb:XXXX``, or the EMDB header beside ``meta``."""
    wanted = DATASETS[dataset]["model"]
    if wanted != "fetch":
        return wanted.split(":", 1)[1]
    accession = DATASETS[dataset]["emdb"]
    header = os.path.join(os.path.dirname(meta), header_file_name(accession))
    return fitted_model_id(header, accession)


def run_fetch_model(wildcards, input, output, params, log):
    """What fetch_model runs: download the model, record it, log what happened."""
    with open(log[0], "w") as fh:
        say = lambda message: print(message, file=fh, flush=True)
        try:
            meta = input.meta if "meta" in input.keys() else ""
            pdb_id = fitted_pdb_id(wildcards.dataset, meta)
            record = fetch_model(pdb_id, output.model, say=say, **params.settings)
        except InputError as exc:
            say(f"error: {exc}")
            raise WorkflowError(str(exc)) from None
        with open(output.record, "w") as out:
            json.dump(record, out, indent=2, sort_keys=True)


def atoms_inputs(wildcards):
    """The local-resolution map, the analysis mask, the model and (split mode) the windowed-FSC
    map."""
    ds = wildcards.dataset
    inputs = {
        "local": f"results/{ds}/local_resolution.mrc",
        "mask": f"results/{ds}/mask.mrc",
        "model": model_file(wildcards),
    }
    if wants_wfsc(wildcards):
        inputs["wfsc"] = f"results/{ds}/wfsc.mrc"
    return inputs


def wfsc_label(cutoff):
    """``wfsc_05``, ``wfsc_0143``: the label of a windowed-FSC map at ``cutoff``."""
    digits = f"{cutoff:g}".replace(".", "")
    return f"wfsc_{digits}"


def atoms_maps(wildcards, input):
    """Labelled maps for ``resmap atoms``: ResMap, and the windowed FSC at both cutoffs (the
    second map is written by rule wfsc beside its declared output)."""
    maps = [f"resmap={input.local}"]
    if "wfsc" in input.keys():
        cutoff = float(setting(wildcards.dataset, "windowed_fsc")["cutoff"])
        other = other_cutoff(cutoff)
        maps.append(f"{wfsc_label(cutoff)}={input.wfsc}")
        maps.append(f"{wfsc_label(other)}={cutoff_path(input.wfsc, other)}")
    return " ".join(maps)


def atoms_radius(wildcards):
    """Radius (Å) of the per-residue averages."""
    return setting(wildcards.dataset, "atoms")["radius"]


def locfilt_options(wildcards):
    """``--bfactor B`` when the config sets one."""
    bfactor = setting(wildcards.dataset, "locfilt")["bfactor"]
    return "" if bfactor is None else f"--bfactor {bfactor}"


def model_outputs(wildcards):
    """Outputs of this file's rules for a dataset's report: ``locfilt`` (the locally filtered
    map) and, when the dataset has a model, ``atoms`` (the JSON record of resmap atoms, for
    ``resmap_core.report.atoms``) and ``atoms_model`` (the model with its per-residue ResMap
    values in the B-factor column)."""
    ds = wildcards.dataset
    outputs = {"locfilt": f"results/{ds}/locfilt.mrc"}
    if ds in MODEL_DATASETS:
        outputs["atoms"] = f"results/{ds}/atoms/model_locres.json"
        outputs["atoms_model"] = f"results/{ds}/atoms/model_locres.cif"
    return outputs
