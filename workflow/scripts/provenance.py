"""Write results/{dataset}/provenance.json: inputs, parameters, code fingerprint, run times."""

import json
from pathlib import Path

import snakemake as smk

from resmap_core.io.atomic import write_json
from resmap_core.pipeline.provenance import provenance_record, read_benchmarks

sm = snakemake  # noqa: F821  (injected by Snakemake)
meta = json.loads(Path(sm.input.meta).read_text())
grid = json.loads(Path(sm.input.grid).read_text())["wavelengths_A"]
record = provenance_record(
    sm.wildcards.dataset, meta, dict(sm.params.parameters), smk.__version__, grid
)
record["code_fingerprint_params"] = sm.params.code
record["benchmarks"] = read_benchmarks(sm.params.benchmarks)
write_json(sm.output.provenance, record)
