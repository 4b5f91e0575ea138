"""The SLURM profile, for real: a single-node cluster on 127.0.0.1 runs the (reduced) demo.

Skipped only when the SLURM/munge binaries or the executor plugin are absent (CI installs them;
scripts/test.sh does too). Needs root, like the daemons it starts.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from _workflow_helpers import (
    REDUCED,
    REDUCED_OPTIONS,
    REPO,
    copy_workflow,
    resmap_local_demo,
    run_snakemake,
    write_config,
)

MISSING = [t for t in ("slurmctld", "slurmd", "munged", "sbatch", "squeue") if not shutil.which(t)]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING), reason=f"SLURM binaries not installed: {MISSING}"),
    pytest.mark.skipif(
        importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
        reason="snakemake-executor-plugin-slurm is not installed",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="the local SLURM daemons need root"),
    pytest.mark.skipif(shutil.which("resmap") is None, reason="resmap is not installed"),
]
SCRIPT = REPO / "scripts" / "slurm-local.sh"


@pytest.fixture()
def cluster(tmp_path: Path):
    env = {**os.environ, "SLURM_DIR": str(tmp_path / "slurm")}
    up = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield env
    finally:
        down = subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, text=True)
        assert down.returncode == 0, down.stdout + down.stderr
        for name in ("slurmctld.pid", "slurmd.pid"):
            assert not (tmp_path / "slurm" / "run" / name).exists()


def test_demo_through_the_slurm_profile_matches_resmap_local(cluster: dict, tmp_path: Path) -> None:
    (tmp_path / "wf").mkdir()
    work = copy_workflow(tmp_path / "wf")
    write_config(work, REDUCED)
    proc = run_snakemake(
        work, profile="profiles/slurm", timeout=900, env={"SLURM_DIR": cluster["SLURM_DIR"]}
    )
    assert proc.returncode == 0, proc.stdout[-8000:]
    submitted = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%j"], capture_output=True, text=True, env=cluster
    ).stdout.split()
    assert len(submitted) >= 5, submitted  # prepare, wavelengths, 3 passes, fdr, fsc, report...
    reference = tmp_path / "local.mrc"
    local = resmap_local_demo(reference, *REDUCED_OPTIONS)
    assert local.returncode == 0, local.stderr
    produced = work / "results" / "demo" / "local_resolution.mrc"
    assert produced.read_bytes() == reference.read_bytes()
