# Passes run in rounds of `passes_per_round` wavelengths. After each round `resmap scan-status`
# says whether the passes so far already decide every voxel (per-wavelength FDR: all resolved,
# or those left untestable at every longer wavelength); the FDR step then takes the passes up
# to that round, and no pass beyond it is ever computed.
checkpoint scan_status:
    input:
        prepared=rules.prepare.output.prepared,
        passes=round_pass_files,
    output:
        status="results/{dataset}/rounds/round_{round}.json",
    log:
        "logs/{dataset}/rounds/round_{round}.log",
    wildcard_constraints:
        round=r"[0-9]+",
    localrule: True
    conda:
        "../envs/resmap.yaml"
    params:
        options=fdr_overrides,
        code=CODE,
    message:
        "Checking after round {wildcards.round} whether dataset {wildcards.dataset} needs more wavelengths"
    shell:
        "resmap scan-status {input.prepared} {input.passes} {params.options} "
        "--out {output.status} 2> {log}"
