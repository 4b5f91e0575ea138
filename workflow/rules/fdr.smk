# Gather every pass and control the false discovery rate (Benjamini-Yekutieli, per wavelength
# or globally): the local-resolution map and its JSON summary.
rule fdr:
    input:
        prepared=rules.prepare.output.prepared,
        passes=pass_files,
    output:
        local=report(
            "results/{dataset}/local_resolution.mrc",
            caption="../report/local_resolution.rst",
            category="Local resolution",
            labels={"dataset": "{dataset}", "file": "local-resolution map (MRC)"},
        ),
        summary=report(
            "results/{dataset}/local_resolution.json",
            caption="../report/local_summary.rst",
            category="Local resolution",
            labels={"dataset": "{dataset}", "file": "summary (JSON)"},
        ),
    log:
        "logs/{dataset}/fdr.log",
    benchmark:
        "results/{dataset}/benchmarks/fdr.tsv"
    conda:
        "../envs/resmap.yaml"
    resources:
        mem_mb=requested("fdr", dataset_job, "mem_mb"),
        runtime=requested("fdr", dataset_job, "runtime"),
    params:
        options=fdr_options,
        code=CODE,
    message:
        "Controlling the FDR over all wavelengths of dataset {wildcards.dataset}"
    shell:
        "resmap fdr {input.prepared} {input.passes} {params.options} --out {output.local} 2> {log}"
