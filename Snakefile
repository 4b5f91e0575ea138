# Entry point at the repository root. The workflow lives in workflow/Snakefile (the Snakemake
# workflow-catalog layout); `include:` does not carry its default target over, hence `default`.


include: "workflow/Snakefile"


# Everything `rule all` asks for: every dataset's report and the index page.
rule default:
    default_target: True
    input:
        rules.all.input,
