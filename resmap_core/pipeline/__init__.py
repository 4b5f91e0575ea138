"""What the Snakemake workflow needs beside the numerics, one concept per module.

- :mod:`~resmap_core.pipeline.fingerprint`: the package's code fingerprint (code edits rerun
  the numeric jobs);
- :mod:`~resmap_core.pipeline.datasets`: a dataset's ``meta.json`` record, from local files
  or a fetched EMDB entry;
- :mod:`~resmap_core.pipeline.resources`: memory and run time of the per-wavelength jobs;
- :mod:`~resmap_core.pipeline.provenance`: the provenance record and the jobs' benchmarks.

Nothing here is imported by ``resmap_core``'s other layers; the workflow imports these modules
directly (``workflow/rules/common.smk``, ``workflow/scripts/provenance.py``).
"""
