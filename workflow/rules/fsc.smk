# Gold-standard FSC of the two half maps (unmasked, masked, phase-randomisation corrected).
rule fsc:
    input:
        unpack(fsc_inputs),
    output:
        fsc=report(
            "results/{dataset}/fsc.json",
            caption="../report/fsc.rst",
            category="FSC",
            labels={"dataset": "{dataset}", "file": "FSC curves (JSON)"},
        ),
    log:
        "logs/{dataset}/fsc.log",
    benchmark:
        "results/{dataset}/benchmarks/fsc.tsv"
    conda:
        "../envs/resmap.yaml"
    threads: 2
    resources:
        mem_mb=requested("fsc", half_map_job, "mem_mb"),
        runtime=requested("fsc", half_map_job, "runtime"),
    params:
        halves=half_map_args,
        options=fsc_options,
        code=CODE,
    message:
        "Computing the half-map FSC of dataset {wildcards.dataset}"
    shell:
        "resmap fsc {params.halves} {params.options} --threads {threads} "
        "--out {output.fsc} 2> {log}"


# Windowed FSC: the resolution at which the FSC of a sliding box falls below the cutoff.
rule wfsc:
    input:
        unpack(half_maps),
        mask=rules.prepare.output.mask,
    output:
        wfsc=report(
            "results/{dataset}/wfsc.mrc",
            caption="../report/wfsc.rst",
            category="FSC",
            labels={"dataset": "{dataset}", "file": "windowed-FSC map (MRC)"},
        ),
    log:
        "logs/{dataset}/wfsc.log",
    benchmark:
        "results/{dataset}/benchmarks/wfsc.tsv"
    conda:
        "../envs/resmap.yaml"
    threads: 2
    resources:
        mem_mb=requested("wfsc", dataset_job, "mem_mb"),
        runtime=requested("wfsc", dataset_job, "runtime"),
    params:
        halves=half_map_args,
        options=wfsc_options,
        code=CODE,
    message:
        "Computing the windowed FSC of dataset {wildcards.dataset}"
    shell:
        "resmap wfsc {params.halves} --mask {input.mask} {params.options} "
        "--threads {threads} --out {output.wfsc} 2> {log}"
