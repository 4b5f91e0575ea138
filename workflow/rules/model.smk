# Local resolution at the fitted model (per atom, residue, chain) and the map filtered by its
# local resolution. Input functions: model_functions.smk.


include: "model_functions.smk"


# Download the fitted model (model: fetch, or model: pdb:XXXX) from the PDB mirror.
rule fetch_model:
    input:
        unpack(fetch_model_inputs),
    output:
        model="resources/{dataset}/model.cif.gz",
        record="resources/{dataset}/model.json",
    log:
        "logs/{dataset}/fetch_model.log",
    wildcard_constraints:
        dataset=names_regex(FETCHED_MODELS),
    retries: 1
    localrule: True
    params:
        settings=pdb_settings,
    message:
        "Fetching the fitted model of dataset {wildcards.dataset}"
    run:
        run_fetch_model(wildcards, input, output, params, log)


# Per-atom and per-residue local resolution (ResMap, windowed FSC) at the model.
rule atoms:
    input:
        unpack(atoms_inputs),
    output:
        mmcif=report(
            "results/{dataset}/atoms/model_locres.cif",
            caption="../report/atoms.rst",
            category="Model",
            labels={
                "dataset": "{dataset}",
                "file": "model with local resolution (mmCIF)",
            },
        ),
        csv=report(
            "results/{dataset}/atoms/model_locres.csv",
            caption="../report/atoms.rst",
            category="Model",
            labels={
                "dataset": "{dataset}",
                "file": "per-residue local resolution (CSV)",
            },
        ),
        defattr="results/{dataset}/atoms/model_locres.defattr",
        cxc="results/{dataset}/atoms/model_locres.cxc",
        record="results/{dataset}/atoms/model_locres.json",
    log:
        "logs/{dataset}/atoms.log",
    benchmark:
        "results/{dataset}/benchmarks/atoms.tsv"
    wildcard_constraints:
        dataset=names_regex(MODEL_DATASETS),
    conda:
        "../envs/resmap.yaml"
    params:
        maps=atoms_maps,
        radius=atoms_radius,
        code=CODE,
    message:
        "Sampling local resolution at the model of dataset {wildcards.dataset}"
    shell:
        "resmap atoms {params.maps} {input.model} --mask {input.mask} "
        "--radius {params.radius} --out {output.mmcif} 2> {log}"


# The map analysed, filtered voxel by voxel at its ResMap local resolution.
rule locfilt:
    input:
        map="results/{dataset}/map.mrc",
        local="results/{dataset}/local_resolution.mrc",
    output:
        filtered=report(
            "results/{dataset}/locfilt.mrc",
            caption="../report/locfilt.rst",
            category="Local resolution",
            labels={"dataset": "{dataset}", "file": "locally filtered map (MRC)"},
        ),
    log:
        "logs/{dataset}/locfilt.log",
    benchmark:
        "results/{dataset}/benchmarks/locfilt.tsv"
    conda:
        "../envs/resmap.yaml"
    threads: 2
    params:
        options=locfilt_options,
        code=CODE,
    message:
        "Filtering the map of dataset {wildcards.dataset} by its local resolution"
    shell:
        "resmap locfilt {input.map} {input.local} {params.options} --threads {threads} "
        "--out {output.filtered} 2> {log}"
