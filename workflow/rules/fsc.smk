def fsc_inputs(wildcards):
    """The half maps and, when the dataset has one, its own mask file: the FSC uses a given mask
    exactly as it is (soft or binary), not the binary mask that prepare derives from it."""
    inputs = half_maps(wildcards)
    files = dataset_files(wildcards)
    if "mask" in files:
        inputs["mask"] = files["mask"]
    return inputs


def fsc_options(wildcards, input):
    """``--mask`` (the dataset's own; without one, resmap fsc builds its automatic mask),
    ``--soft-edge`` when the config asks for one, and the voxel-size override."""
    options = [voxel_option(wildcards)]
    if "mask" in input.keys():
        options.append(f"--mask {input.mask}")
    soft_edge = setting(wildcards.dataset, "fsc").get("soft_edge")
    if soft_edge is not None:
        options.append(f"--soft-edge {soft_edge}")
    return " ".join(o for o in options if o)


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
    params:
        halves=half_map_args,
        options=wfsc_options,
        code=CODE,
    message:
        "Computing the windowed FSC of dataset {wildcards.dataset}"
    shell:
        "resmap wfsc {params.halves} --mask {input.mask} {params.options} "
        "--threads {threads} --out {output.wfsc} 2> {log}"
