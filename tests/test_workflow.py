"""The Snakemake workflow, run for real (``python -m snakemake`` in a copy of the workflow).

One full demo run (module fixture) backs the end-to-end checks, the band-energy estimator's
included (on by default); a reduced demo (three wavelengths, no windowed FSC) backs
kill-and-resume and the EMDB path through a loopback mirror.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from _workflow_helpers import (
    DEMO,
    REDUCED,
    REPO,
    MirrorServer,
    add_entry,
    copy_workflow,
    header_xml,
    pass_files,
    resmap_local_demo,
    run_snakemake,
    snakemake_cmd,
    write_config,
)

from resmap_core.io.mrc import read_map

pytestmark = pytest.mark.skipif(
    shutil.which("resmap") is None, reason="the resmap console script is not installed"
)


def local_map(workdir: Path, dataset: str = "demo") -> Path:
    return workdir / "results" / dataset / "local_resolution.mrc"


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The embedded demo, exactly as shipped, run once; returns (workdir, seconds)."""
    work = copy_workflow(tmp_path_factory.mktemp("demo"))
    start = time.monotonic()
    proc = run_snakemake(work)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout[-6000:]
    return work, seconds


@pytest.fixture(scope="module")
def reduced_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo with REDUCED parameters, uninterrupted."""
    work = copy_workflow(tmp_path_factory.mktemp("reduced"))
    write_config(work, REDUCED)
    proc = run_snakemake(work)
    assert proc.returncode == 0, proc.stdout[-6000:]
    return work


# ---- end to end --------------------------------------------------------------------------


def test_demo_runs_end_to_end(full_demo: tuple[Path, float]) -> None:
    # run time is a benchmark figure (docs/workflow.md), not a test: CI machines are shared
    work, _ = full_demo
    for rel in [
        "resources/demo/meta.json",
        "results/demo/prepared.npz",
        "results/demo/wavelengths.json",
        "results/demo/local_resolution.mrc",
        "results/demo/local_resolution.json",
        "results/demo/fsc.json",
        "results/demo/wfsc.mrc",
        "results/demo/provenance.json",
        "reports/demo/index.html",
        "reports/index.html",
    ]:
        assert (work / rel).is_file(), rel
    grid = json.loads((work / "results/demo/wavelengths.json").read_text())["wavelengths_A"]
    used = json.loads((work / "results/demo/local_resolution.json").read_text())["wavelengths"]
    computed = len(pass_files(work, "demo"))
    size = 4  # passes_per_round of config/config.yaml
    # passes run in rounds and stop after the round that decides every voxel: the grid's
    # first passes, fewer than the whole grid, none beyond that round
    assert len(used) <= computed < len(grid) and computed - len(used) < size
    assert computed % size == 0
    statuses = sorted((work / "results/demo/rounds").glob("round_*.json"))
    finished = [json.loads(p.read_text())["finished"] for p in statuses]
    assert len(finished) == computed // size and finished[-1] and not any(finished[:-1])


def test_demo_runs_the_band_estimator_in_rounds_and_reports_it(
    full_demo: tuple[Path, float],
) -> None:
    work, _ = full_demo
    band = work / "results/demo/band"
    assert (band / "local_resolution.mrc").is_file()
    record = json.loads((band / "local_resolution.json").read_text())
    # the config's constants (config/config.yaml: band.width, band.window)
    assert record["estimator"] == {"name": "band", "band_width": 0.15, "band_window": 0.75}
    grid = json.loads((work / "results/demo/wavelengths.json").read_text())["wavelengths_A"]
    used = [w["lambda_A"] for w in record["wavelengths"]]
    computed = sorted(float(p.name[len("lambda_") : -len("A.npz")])
                      for p in (band / "passes").glob("lambda_*A.npz"))  # fmt: skip
    size = 4  # passes_per_round of config/config.yaml
    # its own rounds over the same grid: a prefix of it, up to the round that decides every
    # voxel, and the FDR takes a prefix of those passes
    assert computed == grid[: len(computed)] and used == grid[: len(used)]
    assert len(used) <= len(computed) and (len(computed) % size == 0 or computed == grid)
    statuses = sorted((band / "rounds").glob("round_*.json"))
    rounds = [json.loads(p.read_text()) for p in statuses]
    assert len(rounds) == -(-len(computed) // size)
    assert [r["wavelengths_A"] for r in rounds] == [
        grid[: (i + 1) * size] for i in range(len(rounds))
    ]
    assert not any(r["finished"] for r in rounds[:-1])
    assert rounds[-1]["finished"] or computed == grid
    assert len(computed) - len(used) < size
    # the report shows it as a fourth answer, named with its constants
    html = (work / "reports/demo/index.html").read_text(encoding="utf-8")
    assert "Band energy (shell sd 0.15/λ, window sd 0.75 λ)" in html
    assert 'id="band-about"' in html and "docs/band-energy.md" in html
    summary = json.loads((work / "reports/demo/summary.json").read_text())
    assert summary["band_median_A"] == pytest.approx(record["median_A"])
    assert (work / "reports/demo/demo_band.cxc").is_file()
    provenance = json.loads((work / "results/demo/provenance.json").read_text())
    assert "band_fdr" in provenance["benchmarks"]  # its run times, beside ResMap's


def test_demo_band_map_is_byte_identical_to_resmap_local(
    full_demo: tuple[Path, float], tmp_path: Path
) -> None:
    work, _ = full_demo
    out = tmp_path / "band.mrc"
    proc = resmap_local_demo(out, "--estimator", "band")
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == (work / "results/demo/band/local_resolution.mrc").read_bytes()


def test_demo_map_is_byte_identical_to_resmap_local(
    full_demo: tuple[Path, float], tmp_path: Path
) -> None:
    work, _ = full_demo
    out = tmp_path / "local.mrc"
    proc = resmap_local_demo(out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == local_map(work).read_bytes()


def test_demo_blurred_half_is_resolved_worse_than_the_sharp_half(
    full_demo: tuple[Path, float],
) -> None:
    # make_demo.py low-passes x above the box centre (to ~8 Å); the other side keeps ~3-4 Å.
    work, _ = full_demo
    res = read_map(local_map(work)).data
    summary = json.loads((work / "results/demo/local_resolution.json").read_text())
    outside = summary["outside_value"]
    resolved = np.isfinite(res) & (res != outside)
    nx = res.shape[2]
    sharp = res[:, :, : nx // 2 - 4][resolved[:, :, : nx // 2 - 4]]
    blurred = res[:, :, nx // 2 + 4 :][resolved[:, :, nx // 2 + 4 :]]
    assert sharp.size > 100 and blurred.size > 100
    assert np.median(blurred) > np.median(sharp) + 1.0


def test_demo_reads_like_a_real_dataset_and_does_not_warn_about_itself(
    full_demo: tuple[Path, float],
) -> None:
    # make_demo.py: unsharpened halves, independent noise, a user-style soft mask
    work, _ = full_demo
    summary = json.loads((work / "reports/demo/summary.json").read_text())
    assert summary["warnings"] == []
    assert summary["fsc_0143_bound"] is None and summary["fsc_05_bound"] is None  # measured
    assert summary["fsc_0143_A"] > 1.2 * summary["nyquist_A"]  # well inside Nyquist
    assert summary["fsc_05_A"] > summary["fsc_0143_A"] and summary["unresolved_fraction"] < 0.1
    fsc = json.loads((work / "results/demo/fsc.json").read_text())
    for key in ("fsc_masked", "fsc_corrected"):
        curve = np.array(fsc[key], dtype=np.float64)
        assert np.diff(curve).max() < 0.05, key  # falls, never climbs back
        for threshold in (0.5, 0.143):
            after = curve[np.argmax(curve < threshold) :]
            assert after.max() < threshold, (key, threshold)  # crosses once


def test_demo_report_shows_the_3d_view_and_says_the_halves_are_simulated(
    full_demo: tuple[Path, float],
) -> None:
    work, _ = full_demo
    page = work / "reports/demo/index.html"
    html = page.read_text(encoding="utf-8")
    for section in ("simulated", "view3d", "viewer3d", "browser", "slice-canvas"):
        assert f'id="{section}"' in html, section
    banner = html[html.index('id="simulated"') : html.index("</div>", html.index('id="simulated"'))]
    assert "demo_half_map_1.mrc.gz: resmap_core SIMULATED half map 1" in banner
    assert (page.parent / "molstar" / "molstar.js").is_file()
    assert '<script src="molstar/molstar.js">' in html and 'src="http' not in html
    assert '<div class="ok">No warnings: the input looks fit for the method.</div>' in html


def test_second_run_does_nothing(full_demo: tuple[Path, float]) -> None:
    work, _ = full_demo
    before = {p: p.stat().st_mtime_ns for p in (work / "results").rglob("*") if p.is_file()}
    proc = run_snakemake(work)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Nothing to be done" in proc.stdout, proc.stdout[-3000:]
    after = {p: p.stat().st_mtime_ns for p in (work / "results").rglob("*") if p.is_file()}
    assert after == before


def test_provenance_records_inputs_code_and_run_times(full_demo: tuple[Path, float]) -> None:
    work, _ = full_demo
    prov = json.loads((work / "results/demo/provenance.json").read_text())
    roles = {item["role"]: item for item in prov["inputs"]}
    assert set(roles) == {"half1", "half2", "mask"}
    from resmap_core.io.mrc import sha256_file
    from resmap_core.pipeline.fingerprint import package_fingerprint

    assert roles["half1"]["sha256"] == sha256_file(DEMO / "demo_half_map_1.mrc.gz")
    assert prov["code_fingerprint"] == package_fingerprint()
    assert prov["parameters"]["fdr_mode"] == "per-wavelength"
    assert "prepare" in prov["benchmarks"] and "fdr" in prov["benchmarks"]
    assert all(v["seconds"] is not None for v in prov["benchmarks"].values())


def test_snakemake_report_is_written(full_demo: tuple[Path, float]) -> None:
    work, _ = full_demo
    proc = run_snakemake(work, "--report", "report.html")
    assert proc.returncode == 0, proc.stdout[-3000:]
    html = (work / "report.html").read_text(errors="replace")
    assert len(html) > 100_000
    assert "local_resolution" in html


def _planned_jobs(stdout: str) -> set[str]:
    """The rule names of a dry run's job table."""
    table = stdout.split("Job stats:")[1].split("Reasons:")[0]
    return {line.split()[0] for line in table.splitlines()[3:] if line.strip()} - {"total"}


def test_changing_a_parameter_reruns_only_what_depends_on_it(reduced_demo: Path) -> None:
    proc = run_snakemake(reduced_demo, "-n", "--config", "outside=nan")
    assert proc.returncode == 0, proc.stdout[-3000:]
    jobs = _planned_jobs(proc.stdout)
    assert {"fdr", "band_fdr", "dataset_report"} <= jobs
    assert not jobs & {"lrs_pass", "band_pass", "prepare"}
    # the band constants reach the band's own jobs only (and what reads its map)
    (reduced_demo / "band_width.yaml").write_text("band: {width: 0.2}\n")
    proc = run_snakemake(reduced_demo, "-n", "--configfile", "band_width.yaml")
    assert proc.returncode == 0, proc.stdout[-3000:]
    jobs = _planned_jobs(proc.stdout)
    assert {"band_pass", "band_fdr", "dataset_report"} <= jobs
    assert not jobs & {"lrs_pass", "fdr", "prepare", "wavelengths", "wfsc", "fsc"}


# ---- reliability ---------------------------------------------------------------------------


def test_killed_run_resumes_without_recomputing_finished_passes(
    reduced_demo: Path, tmp_path: Path
) -> None:
    work = copy_workflow(tmp_path)
    write_config(work, REDUCED)
    proc = subprocess.Popen(
        snakemake_cmd(cores=1),
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not pass_files(work, "demo") and time.monotonic() < deadline:
            assert proc.poll() is None, "the run ended before any pass was written"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = {p: p.stat().st_mtime_ns for p in pass_files(work, "demo")}
    assert done, "no pass finished before the deadline"
    assert not local_map(work).exists()
    assert run_snakemake(work, "--unlock").returncode == 0
    resumed = run_snakemake(work, "--rerun-incomplete")
    assert resumed.returncode == 0, resumed.stdout[-6000:]
    for path, mtime in done.items():
        assert path.stat().st_mtime_ns == mtime, f"{path.name} was recomputed"
    assert local_map(work).read_bytes() == local_map(reduced_demo).read_bytes()


# ---- EMDB through the workflow -------------------------------------------------------------


def test_emdb_entry_is_fetched_and_gives_the_same_map_as_local_files(
    reduced_demo: Path, tmp_path: Path
) -> None:
    work = copy_workflow(tmp_path, with_demo=False)
    halves = {f"half{i}": (DEMO / f"demo_half_map_{i}.mrc.gz").read_bytes() for i in (1, 2)}
    with MirrorServer() as server:
        header = header_xml(
            "11638", "Demo served as EMDB", 1.640625, 3.5, half_maps=True, mask=True
        )
        mask = gzip.decompress((DEMO / "demo_mask.mrc.gz").read_bytes())
        add_entry(server, "11638", {**halves, "map": halves["half1"], "mask": mask}, header)
        add_entry(
            server,
            "5168",
            {"map": halves["half1"]},
            header_xml("5168", "No halves", 1.640625, 6.6, half_maps=False),
            fsc=None,
        )
        cfg = {
            **REDUCED,
            "emdb_base_url": server.base_url,
            "download": {"timeout_s": 5, "retries": 1, "backoff_s": 0},
            "datasets": {"fetched": {"emdb": "EMD-11638", "deposited_mask": True}},
        }
        write_config(work, cfg)
        proc = run_snakemake(work)
        assert proc.returncode == 0, proc.stdout[-6000:]
        meta = json.loads((work / "resources/fetched/meta.json").read_text())
        assert meta["emdb_id"] == "EMD-11638" and meta["mode"] == "split"
        assert meta["author_resolution_A"] == 3.5 and meta["title"] == "Demo served as EMDB"
        assert local_map(work, "fetched").read_bytes() == local_map(reduced_demo).read_bytes()
        assert (work / "reports/fetched/index.html").is_file()

        write_config(work, {"datasets": {"nohalves": {"emdb": "EMD-5168"}}})
        proc = run_snakemake(work)
        assert proc.returncode != 0
        log = (work / "logs/nohalves/fetch.log").read_text()
        assert "EMD-5168: the entry has no deposited half maps" in log
        assert "allow_single_map: true" in log
        assert not (work / "results" / "nohalves").exists()


# ---- helpers -------------------------------------------------------------------------------


def test_package_fingerprint_changes_with_any_source_edit_only(tmp_path: Path) -> None:
    from resmap_core.pipeline.fingerprint import package_fingerprint

    copy = tmp_path / "resmap_core"
    shutil.copytree(REPO / "resmap_core", copy, ignore=shutil.ignore_patterns("__pycache__"))
    original = package_fingerprint(copy)
    assert original == package_fingerprint(REPO / "resmap_core")
    (copy / "__pycache__").mkdir()
    (copy / "__pycache__" / "x.py").write_text("ignored")
    (copy / "notes.txt").write_text("not code")
    assert package_fingerprint(copy) == original
    source = copy / "io" / "atomic.py"
    source.write_text(source.read_text() + "\n# edit\n")
    assert package_fingerprint(copy) != original


def test_benchmark_files_are_read_into_seconds_and_memory(tmp_path: Path) -> None:
    from resmap_core.pipeline.provenance import read_benchmarks

    (tmp_path / "fdr.tsv").write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        "1.2345\t0:00:01\t110.5\t300\t90\t95\t0\t1\t50\t0.6\n"
    )
    (tmp_path / "prepare.tsv").write_text("s\tmax_rss\n2.0\tNA\n")
    assert read_benchmarks(tmp_path) == {
        "fdr": {"seconds": 1.2345, "max_rss_MB": 110.5},
        "prepare": {"seconds": 2.0, "max_rss_MB": None},
    }


# ---- configuration -------------------------------------------------------------------------


@pytest.fixture()
def bare(tmp_path: Path) -> Path:
    return copy_workflow(tmp_path)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"p_valu": 0.05}, "p_valu"),
        ({"p_value": 2}, "2 is greater than the maximum of 0.5"),
        ({"fdr_mode": "both"}, "'both' is not one of"),
        ({"windowed_fsc": {"box": 20, "cutoff": 0.3}}, "0.3 is not one of"),
        ({"band": {"width": 0.5}}, "0.5 is greater than the maximum of 0.35"),
        ({"datasets": {"d": {"map": "m.mrc", "band": {"enabled": "no"}}}}, "'no' is not of type"),
        ({"datasets": {"d": {"half1": "a.mrc", "half2": "b.mrc", "pvalue": 0.1}}}, "pvalue"),
        ({"datasets": {"d": {"emdb": "EMD-1", "half1": "a", "half2": "b"}}}, "datasets"),
        ({"datasets": {"d": {"emdb": "11638"}}}, "does not match"),
        ({"datasets": {"bad name": {"map": "m.mrc"}}}, "bad name"),
        ({"wfsc": False}, "the key 'wfsc' is now 'windowed_fsc.enabled'"),
        ({"fsc": {"box": 24}}, "the key 'fsc.box' is now 'windowed_fsc.box'"),
        (
            {"datasets": {"d": {"map": "m.mrc", "fsc": {"cutoff": 0.143}}}},
            "dataset d: the key 'fsc.cutoff' is now 'windowed_fsc.cutoff'",
        ),
    ],
)
def test_invalid_config_stops_before_any_job_naming_the_problem(
    bare: Path, override: dict, named: str
) -> None:
    write_config(bare, override)
    proc = run_snakemake(bare, "-n")
    assert proc.returncode != 0
    assert named in proc.stdout, proc.stdout[-3000:]
    assert not (bare / "results").exists() and not (bare / "resources").exists()


def test_shipped_sheet_and_emdb_example_are_valid(bare: Path) -> None:
    proc = run_snakemake(bare, "-n", "--config", "sheet=config/datasets.tsv")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Fetching EMD-11638 for dataset EMD-11638" in proc.stdout
    proc = run_snakemake(bare, "-n", "--configfile", "config/emdb_example.yaml")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Fetching EMD-10418" in proc.stdout and "dataset demo" not in proc.stdout


def test_dataset_sheet_adds_datasets_and_is_validated(bare: Path) -> None:
    sheet = bare / "config" / "more.tsv"
    sheet.write_text(
        "dataset\thalf1\thalf2\tp_value\tfdr_mode\twindowed_fsc.enabled\tband.enabled\n"
        "again\tdemo/demo_half_map_1.mrc.gz\tdemo/demo_half_map_2.mrc.gz\t0.01\tglobal\tfalse"
        "\tfalse\n"
    )
    write_config(bare, {"sheet": "config/more.tsv"})
    proc = run_snakemake(bare, "-n")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Preparing the maps of dataset again" in proc.stdout
    assert "Preparing the maps of dataset demo" in proc.stdout
    # the dotted column reaches the windowed_fsc section of that dataset only
    assert "Computing the windowed FSC of dataset demo" in proc.stdout
    assert "Computing the windowed FSC of dataset again" not in proc.stdout
    assert "the band-energy passes of dataset demo" in proc.stdout
    assert "the band-energy passes of dataset again" not in proc.stdout
    sheet.write_text("dataset\thalf1\thalf2\tp_value\nx\ta\tb\tzero\n")
    proc = run_snakemake(bare, "-n")
    assert proc.returncode != 0
    assert "column 'p_value' must be a number" in proc.stdout
    sheet.write_text("dataset\thalf1\thalf2\tcolour\nx\ta\tb\tred\n")
    proc = run_snakemake(bare, "-n")
    assert proc.returncode != 0 and "unknown column(s) colour" in proc.stdout


def test_local_maps_on_different_grids_are_refused_by_locate(bare: Path, tmp_path: Path) -> None:
    from resmap_core.io.mrc import MapGeometry, write_map

    for name, n in (("a.mrc", 16), ("b.mrc", 18)):
        write_map(
            bare / name,
            np.zeros((n, n, n), np.float32) + 1,
            MapGeometry((n, n, n), (1.0, 1.0, 1.0)),
        )
    write_config(bare, {"datasets": {"mixed": {"half1": "a.mrc", "half2": "b.mrc"}}})
    proc = run_snakemake(bare, "resources/mixed/meta.json")
    assert proc.returncode != 0
    log = (bare / "logs/mixed/locate.log").read_text()
    assert "all maps must share one grid" in log


def test_workflow_lints_clean_and_is_formatted(bare: Path) -> None:
    proc = run_snakemake(bare, "--lint")
    assert proc.returncode == 0, proc.stdout[-3000:]
    if shutil.which("snakefmt") is None:
        pytest.skip("snakefmt is not installed")
    fmt = subprocess.run(
        ["snakefmt", "--check", "Snakefile", "workflow/"], cwd=bare, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stderr
