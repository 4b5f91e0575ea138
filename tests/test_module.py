"""The workflow as a reusable Snakemake module, and its workflow-catalog description.

An outer workflow in a temporary folder imports ``workflow/Snakefile`` as the module ``resmap``
(its configuration under the outer config's key ``resmap``), takes every rule with the prefix
``resmap_`` and runs the reduced demo end to end in its own working directory (both
estimators, one wavelength per round, so that the rounds' checkpoints run inside the module).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from _workflow_helpers import (
    DEMO,
    REDUCED,
    REDUCED_OPTIONS,
    REPO,
    resmap_local_demo,
    run_snakemake,
)

OUTER_SNAKEFILE = """\
configfile: "config.yaml"


module resmap:
    snakefile:
        "{snakefile}"
    config:
        config["resmap"]


use rule * from resmap as resmap_*
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("resmap") is None, reason="the resmap command is not installed")
def test_demo_runs_as_a_module_of_an_outer_workflow(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    outer.mkdir()
    (outer / "Snakefile").write_text(
        OUTER_SNAKEFILE.format(snakefile=(REPO / "workflow" / "Snakefile").as_posix())
    )
    # absolute paths: the module runs in the outer workflow's folder, not in the repository
    demo = {
        "half1": str(DEMO / "demo_half_map_1.mrc.gz"),
        "half2": str(DEMO / "demo_half_map_2.mrc.gz"),
        "mask": str(DEMO / "demo_mask.mrc.gz"),
    }
    # one wavelength per round: the rounds' checkpoints of both estimators run in the module
    config = {"resmap": {"datasets": {"demo": demo}, **REDUCED, "passes_per_round": 1}}
    (outer / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    proc = run_snakemake(outer)
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert "resmap_lrs_pass" in proc.stdout  # the module's rules, under their prefix
    produced = outer / "results" / "demo" / "local_resolution.mrc"
    assert produced.is_file()
    assert (outer / "reports" / "demo" / "index.html").is_file()
    assert (outer / "reports" / "index.html").is_file()

    reference = tmp_path / "local.mrc"
    local = resmap_local_demo(reference, *REDUCED_OPTIONS)
    assert local.returncode == 0, local.stderr
    assert produced.read_bytes() == reference.read_bytes()
    # the band-energy estimator, its rules under the same prefix
    assert "resmap_band_pass" in proc.stdout and "resmap_band_scan_status" in proc.stdout
    band = tmp_path / "band.mrc"
    local = resmap_local_demo(band, *REDUCED_OPTIONS, "--estimator", "band")
    assert local.returncode == 0, local.stderr
    produced_band = outer / "results" / "demo" / "band" / "local_resolution.mrc"
    assert produced_band.read_bytes() == band.read_bytes()


def test_catalog_file_follows_the_standardized_usage_format() -> None:
    """.snakemake-workflow-catalog.yml: ``usage`` with ``mandatory-flags`` (desc, flags),
    ``software-stack-deployment`` (booleans) and ``report`` at the ``usage`` level, which is
    where the catalog reads it; plus the layout the catalog requires."""
    settings = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    assert set(settings) == {"usage"}
    usage = settings["usage"]
    assert set(usage) <= {"mandatory-flags", "software-stack-deployment", "report"}
    assert usage["report"] is True
    flags = usage["mandatory-flags"]
    assert set(flags) <= {"desc", "flags"} and isinstance(flags["flags"], str | list)
    deployment = usage["software-stack-deployment"]
    assert set(deployment) <= {"conda", "apptainer", "apptainer+conda"}
    assert all(isinstance(v, bool) for v in deployment.values()) and any(deployment.values())
    assert (REPO / "workflow" / "Snakefile").is_file()
    assert (REPO / "config" / "README.md").is_file()
