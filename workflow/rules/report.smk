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


# The dataset's HTML report: maps, histograms, FSC curves, provenance.
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
    conda:
        "../envs/resmap.yaml"
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
    conda:
        "../envs/resmap.yaml"
    params:
        folders=report_folders,
    message:
        "Writing the index of all dataset reports"
    shell:
        "resmap report-index --out {output.html} {params.folders} 2> {log}"
