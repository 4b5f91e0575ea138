# Normalise the maps, build or read the mask, check for low-pass filtering, pre-whiten, and
# keep the half-map difference (noise) map: everything the per-wavelength passes need.
rule prepare:
    input:
        unpack(prepare_inputs),
    output:
        prepared="results/{dataset}/prepared.npz",
        mask="results/{dataset}/mask.mrc",
        map="results/{dataset}/map.mrc",
    log:
        "logs/{dataset}/prepare.log",
    benchmark:
        "results/{dataset}/benchmarks/prepare.tsv"
    conda:
        "../envs/resmap.yaml"
    threads: 2
    resources:
        mem_mb=requested("prepare", dataset_job, "mem_mb"),
        runtime=requested("prepare", dataset_job, "runtime"),
    params:
        maps=map_args,
        options=prepare_options,
        code=CODE,
    message:
        "Preparing the maps of dataset {wildcards.dataset}"
    shell:
        "resmap prepare {params.maps} {params.options} --threads {threads} "
        "--out {output.prepared} --mask-out {output.mask} --map-out {output.map} 2> {log}"


# The data-dependent wavelength grid; the passes are created from it.
checkpoint wavelengths:
    input:
        prepared=rules.prepare.output.prepared,
    output:
        grid="results/{dataset}/wavelengths.json",
    log:
        "logs/{dataset}/wavelengths.log",
    benchmark:
        "results/{dataset}/benchmarks/wavelengths.tsv"
    conda:
        "../envs/resmap.yaml"
    resources:
        mem_mb=requested("wavelengths", dataset_job, "mem_mb"),
        runtime=requested("wavelengths", dataset_job, "runtime"),
    params:
        code=CODE,
    message:
        "Choosing the wavelength grid of dataset {wildcards.dataset}"
    shell:
        "resmap wavelengths {input.prepared} --out {output.grid} 2> {log}"
