# The band-energy estimator (docs/band-energy.md) beside ResMap-H2, for datasets with
# band.enabled: the same prepared.npz and wavelength grid, its own passes, rounds and FDR under
# results/{dataset}/band/. Each rule is its ResMap-H2 counterpart with the band's files and
# options (--estimator band and the config's band.width and band.window).


# One wavelength of the band-energy statistic, with its own fitted resource model.
use rule lrs_pass as band_pass with:
    output:
        lrs="results/{dataset}/band/passes/lambda_{wavelength}A.npz",
    log:
        "logs/{dataset}/band/passes/lambda_{wavelength}A.log",
    benchmark:
        "results/{dataset}/benchmarks/band_pass_lambda_{wavelength}A.tsv"
    resources:
        mem_mb=requested("band_pass", analysed_job, "mem_mb"),
        runtime=requested("band_pass", analysed_job, "runtime"),
    params:
        estimator=for_estimator(estimator_options, "band"),
        code=CODE,
    message:
        "Testing wavelength {wildcards.wavelength} Å for dataset {wildcards.dataset} (band energy)"


# After each round of band passes: do they decide every voxel? Written out rather than as
# `use rule scan_status`, which would not be a checkpoint.
checkpoint band_scan_status:
    input:
        prepared=rules.prepare.output.prepared,
        passes=for_estimator(round_pass_files, "band"),
    output:
        status="results/{dataset}/band/rounds/round_{round}.json",
    log:
        "logs/{dataset}/band/rounds/round_{round}.log",
    wildcard_constraints:
        round=r"[0-9]+",
    localrule: True
    conda:
        "../envs/resmap.yaml"
    params:
        options=for_estimator(fdr_overrides, "band"),
        code=CODE,
    message:
        "Checking after round {wildcards.round} whether the band energy of dataset {wildcards.dataset} needs more wavelengths"
    shell:
        "resmap scan-status {input.prepared} {input.passes} {params.options} "
        "--out {output.status} 2> {log}"


# Benjamini-Yekutieli over the band passes: the band-energy map and its JSON record.
use rule fdr as band_fdr with:
    input:
        prepared=rules.prepare.output.prepared,
        passes=for_estimator(pass_files, "band"),
    output:
        local=report(
            "results/{dataset}/band/local_resolution.mrc",
            caption="../report/band.rst",
            category="Local resolution",
            labels={"dataset": "{dataset}", "file": "band-energy map (MRC)"},
        ),
        summary=report(
            "results/{dataset}/band/local_resolution.json",
            caption="../report/band.rst",
            category="Local resolution",
            labels={"dataset": "{dataset}", "file": "band-energy summary (JSON)"},
        ),
    log:
        "logs/{dataset}/band/fdr.log",
    benchmark:
        "results/{dataset}/benchmarks/band_fdr.tsv"
    params:
        options=for_estimator(fdr_options, "band"),
        code=CODE,
    message:
        "Controlling the FDR over the band-energy passes of dataset {wildcards.dataset}"
