# One job per wavelength: the likelihood-ratio statistic at every masked voxel, the noise
# variance and the null-distribution weights at that wavelength.
rule lrs_pass:
    input:
        prepared=rules.prepare.output.prepared,
    output:
        lrs="results/{dataset}/passes/lambda_{wavelength}A.npz",
    log:
        "logs/{dataset}/passes/lambda_{wavelength}A.log",
    benchmark:
        "results/{dataset}/benchmarks/pass_lambda_{wavelength}A.tsv"
    wildcard_constraints:
        wavelength=r"[0-9]+(\.[0-9]+)?",
    conda:
        "../envs/resmap.yaml"
    threads: 1
    resources:
        mem_mb=requested("lrs_pass", analysed_job, "mem_mb"),
        runtime=requested("lrs_pass", analysed_job, "runtime"),
    params:
        estimator=estimator_options,
        code=CODE,
    message:
        "Testing wavelength {wildcards.wavelength} Å for dataset {wildcards.dataset}"
    shell:
        "resmap pass {input.prepared} --wavelength {wildcards.wavelength} {params.estimator} "
        "--threads {threads} --out {output.lrs} 2> {log}"
