# Record what went into a dataset's results: input hashes, parameters, code fingerprint,
# tool versions and per-rule run times.
rule provenance:
    input:
        unpack(final_outputs),
    output:
        provenance="results/{dataset}/provenance.json",
    log:
        "logs/{dataset}/provenance.log",
    localrule: True
    conda:
        "../envs/resmap.yaml"
    params:
        parameters=provenance_parameters,
        benchmarks=benchmarks_dir,
        code=CODE,
    message:
        "Writing the provenance record of dataset {wildcards.dataset}"
    script:
        "../scripts/provenance.py"


# The dataset's HTML report: the map in 3D coloured by local resolution, a slice browser,
# histograms, FSC curves, provenance. Beside index.html: summary.json (read by the index),
# the ChimeraX scripts and molstar/ (the 3D viewer, copied once per report folder).
rule dataset_report:
    input:
        unpack(report_inputs),
    output:
        html=report(
            "reports/{dataset}/index.html",
            caption="../report/dataset_report.rst",
            category="Reports",
            labels={"dataset": "{dataset}", "file": "HTML report"},
        ),
    log:
        "logs/{dataset}/report.log",
    benchmark:
        "logs/{dataset}/benchmarks/report.tsv"
    conda:
        "../envs/resmap.yaml"
    resources:
        mem_mb=requested("dataset_report", dataset_job, "mem_mb"),
        runtime=requested("dataset_report", dataset_job, "runtime"),
    params:
        options=report_options,
        benchmarks=benchmarks_dir,
    message:
        "Writing the HTML report of dataset {wildcards.dataset}"
    shell:
        "resmap report --name {wildcards.dataset} --out {output.html} {params.options} "
        "--benchmarks {params.benchmarks} 2> {log}"


# One page linking every dataset's report.
rule report_index:
    input:
        reports=expand("reports/{dataset}/index.html", dataset=sorted(DATASETS)),
    output:
        html="reports/index.html",
    log:
        "logs/report_index.log",
    benchmark:
        "logs/benchmarks/report_index.tsv"
    conda:
        "../envs/resmap.yaml"
    resources:
        mem_mb=requested("report_index", index_job, "mem_mb"),
        runtime=requested("report_index", index_job, "runtime"),
    params:
        folders=report_folders,
    message:
        "Writing the index of all dataset reports"
    shell:
        "resmap report-index --out {output.html} {params.folders} 2> {log}"
