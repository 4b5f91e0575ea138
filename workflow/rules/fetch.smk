# Download an EMDB entry (half maps, map, header, FSC curve) and describe it in meta.json.
checkpoint fetch_emdb:
    output:
        meta="resources/{dataset}/meta.json",
    log:
        "logs/{dataset}/fetch.log",
    wildcard_constraints:
        dataset=names_regex(EMDB_DATASETS),
    retries: 1
    localrule: True
    conda:
        "../envs/resmap.yaml"
    params:
        accession=emdb_accession,
        options=fetch_options,
        out_dir=subpath(output.meta, parent=True),
    message:
        "Fetching {params.accession} for dataset {wildcards.dataset}"
    shell:
        "resmap fetch {params.accession} --dataset {wildcards.dataset} {params.options} "
        "--out-dir {params.out_dir} --meta {output.meta} 2> {log}"


# Check local map files (readable MRC, one grid), hash them and describe them in meta.json.
rule locate_local:
    input:
        unpack(local_inputs),
    output:
        meta="resources/{dataset}/meta.json",
    log:
        "logs/{dataset}/locate.log",
    wildcard_constraints:
        dataset=names_regex(LOCAL_DATASETS),
    localrule: True
    conda:
        "../envs/resmap.yaml"
    params:
        options=locate_options,
    message:
        "Checking the local maps of dataset {wildcards.dataset}"
    shell:
        "resmap locate --dataset {wildcards.dataset} {params.options} --out {output.meta} 2> {log}"
