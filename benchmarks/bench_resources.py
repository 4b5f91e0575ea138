"""Peak memory and wall time of every workflow stage's ``resmap`` command, and the resource model.

Each case writes synthetic maps (1 Å voxels; two lobes filling ~3 % of the box, a ball
filling ~30 % (15 % in single mode); split or single mode; with or without a mask file; cubic
or not) and runs the commands the workflow's rules run — prepare, wavelengths, pass (each
wavelength of a 2.2–12.2 Å grid in 2 Å steps, plus the widest window the default grid allows),
fdr, locfilt, fsc, wfsc, report, report-index — each as its own process. Peak RSS is the kernel's
high-water mark of that process (``os.wait4``'s ``ru_maxrss``), wall time from start to exit.
Commands that take ``--threads`` run with 1 and 2.

The fit: per stage, the linear model of ``resmap_core.pipeline.resources.features`` (coefficients
≥ 0) that stays at or above every measured peak with the smallest worst ratio model / peak, and
for CPU time (user + system, which does not depend on what else the machine runs) the smallest
mean ratio (a linear program each). The tables give, per measurement, the
peak and the committed model's request (``MEMORY_MARGIN`` × model) with their ratio, then the
fitted coefficients (as Python to paste into ``resources.MODELS``) and the requests the model
makes for boxes beyond the measured ones (extrapolated).

    python3 benchmarks/bench_resources.py --save benchmarks/resource_measurements.tsv
    python3 benchmarks/bench_resources.py --load benchmarks/resource_measurements.tsv
    python3 benchmarks/bench_resources.py --boxes 64 96        # a quick look
    python3 benchmarks/bench_resources.py --write-shim /tmp/shim      # then, in a workflow copy:
    PATH=/tmp/shim:$PATH RESMAP_PEAKS=$PWD/peaks.jsonl snakemake --cores 2
    python3 benchmarks/bench_resources.py --workflow RUN_DIR --peaks RUN_DIR/peaks.jsonl

``--workflow`` compares the committed model with the ``benchmark:`` files of a workflow run
(its results/*/benchmarks, logs/*/benchmarks and logs/benchmarks). Snakemake's ``max_rss`` is
the largest sum of RSS over the job's processes (the shell included), sampled every 0.5 s for
the first 15 s and every 30 s after, so it misses short peaks; the shim (``--write-shim``), a
``resmap`` first on PATH, runs each job under the probe and logs its true peak (``--peaks``).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from resmap_core.io.benchmarks import JobTimes, read_benchmark_folder  # noqa: E402
from resmap_core.pipeline.resources import (  # noqa: E402
    MEMORY_FLOOR_MB,
    MEMORY_MARGIN,
    MODELS,
    JobSize,
    StageModel,
    dataset_size,
    features,
    job_request,
    map_voxels,
)

RESMAP = [sys.executable, "-m", "resmap_core.cli.main"]
GRID = ["--min-res", "2.2", "--max-res", "12.2", "--step-res", "2"]
THREADS = (1, 2)
#: Features each stage's model may use (others are not known when the job is scheduled).
MEMORY_FEATURES = {
    "prepare": ("base", "Mvoxels", "Mvoxels_split", "extra_threads", "thread_slab_Mvoxels"),
    "wavelengths": ("base", "Mvoxels", "Mvoxels_split"),
    "lrs_pass": (
        "base",
        "Mvoxels",
        "Mvoxels_split",
        "Mmask_voxels",
        "extra_threads",
        "thread_slab_Mvoxels",
    ),
    "band_pass": ("base", "Mvoxels", "Mvoxels_split", "Mmask_voxels", "extra_threads"),
    "fdr": ("base", "Mvoxels", "Mvoxels_split", "Mmask_voxels"),
    "fsc": ("base", "Mvoxels", "extra_threads", "thread_slab_Mvoxels"),
    "wfsc": ("base", "Mvoxels", "Mmask_voxels", "extra_threads", "thread_slab_Mvoxels"),
    "dataset_report": ("base", "Mvoxels", "Mvoxels_split"),
    "report_index": ("base",),
    "locfilt": ("base", "Mvoxels", "extra_threads", "thread_slab_Mvoxels"),
}
#: Least coefficients, where the measured boxes cannot show a term that larger ones will have:
#: each thread of a pass holds its slab's temporaries, about twice the slab budget of
#: localres/lrs.py (a second thread adds 1.4–1.8× the budget at 64³–128³, where the slabs set
#: the peak); from 256³ on the peak lies elsewhere at two threads, but many threads add up.
MIN_COEFFICIENTS = {"lrs_pass": {"thread_slab_Mvoxels": 2.0}}
SECONDS_FEATURES = {
    stage: tuple(f for f in names if "thread" not in f) for stage, names in MEMORY_FEATURES.items()
}
COLUMNS = (
    "stage",
    "case",
    "shape_zyx",
    "split",
    "mask_voxels",
    "threads",
    "wavelength_A",
    "peak_MB",
    "seconds",
    "cpu_seconds",
)


@dataclass(frozen=True)
class Case:
    """Synthetic input: box (z, y, x), particle (``lobes`` ~3 %, ``ball`` ~30 % or ``ball15``
    ~15 % of the box), split or single mode, whether a mask file is given (else prepare builds
    one). Single mode needs background around the particle for its noise, hence ``ball15``."""

    shape: tuple[int, int, int]
    particle: str
    split: bool = True
    mask_file: bool = True

    @property
    def name(self) -> str:
        """e.g. ``128x128x128-ball-split`` (x × y × z)."""
        box = "x".join(str(n) for n in self.shape[::-1])
        mode = "split" if self.split else "single"
        return f"{box}-{self.particle}-{mode}" + ("" if self.mask_file else "-automask")


def default_cases(boxes: list[int], particles: tuple[str, ...]) -> list[Case]:
    """Cubic boxes in both particles and modes, an automatic mask, and three non-cubic boxes
    (those whose longest edge lies within ``boxes``' range); only the ``particles`` named."""
    cases = [Case((n, n, n), "lobes") for n in boxes]
    cases += [Case((n, n, n), "ball") for n in boxes if n % 64 == 0]
    cases += [Case((n, n, n), "ball15", split=False) for n in boxes if n % 64 == 0]
    cases += [Case((n, n, n), "lobes", mask_file=False) for n in boxes if n in (96, 192)]
    odd = [Case((160, 128, 96), "lobes"), Case((176, 192, 224), "ball")]
    odd.append(Case((144, 112, 80), "ball15", split=False))
    cases += [c for c in odd if min(boxes) <= max(c.shape) <= max(boxes)]
    return [c for c in cases if c.particle in particles]


def write_inputs(case: Case, folder: Path) -> dict[str, Path]:
    """The case's maps (and mask) as MRC files in ``folder``: {role: path}."""
    from resmap_core.io.mrc import MapGeometry, write_map
    from resmap_core.testing.phantoms import (
        compact_particle,
        dense_particle,
        noise_sigma_for_snr,
        noisy_half_maps,
    )

    folder = folder.resolve()
    spacing = (1.0, 1.0, 1.0)
    if case.particle == "lobes":
        density, mask = compact_particle(case.shape, spacing, 4.0)
    else:
        fill = 0.30 if case.particle == "ball" else 0.15
        density, mask = dense_particle(case.shape, spacing, 4.0, fill_fraction=fill)
    sigma = noise_sigma_for_snr(density, mask, 1.0)
    half1, half2 = noisy_half_maps(density, spacing, sigma, seed=sum(case.shape))
    geometry = MapGeometry(shape=case.shape, voxel_size_A=spacing)
    files = {"half1": folder / "half1.mrc", "half2": folder / "half2.mrc"}
    if not case.split:
        files = {"map": folder / "map_in.mrc"}
    for (_, path), data in zip(files.items(), (half1, half2), strict=False):
        write_map(path, data, geometry)
    if case.mask_file:
        files["mask"] = folder / "mask_in.mrc"
        write_map(files["mask"], mask.astype(np.float32), geometry)
    return files


#: Runs its arguments as a child and prints the child's peak RSS (KiB), wall seconds, CPU
#: seconds (user + system) and exit status. It is a small process of its own because Linux
#: carries the parent's high-water RSS into a child's ``ru_maxrss`` across fork + exec: started
#: from this (large) process, every command would show at least this process's own peak.
_PROBE = (
    "import os, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "wall = time.perf_counter() - start\n"
    "cpu = usage.ru_utime + usage.ru_stime\n"
    "print(usage.ru_maxrss, wall, cpu, os.waitstatus_to_exitcode(status))\n"
)


#: The probe of a workflow run (:func:`write_shim`): runs ``resmap`` with its arguments, passes
#: the exit status on, and appends a JSON line (arguments, peak RSS MB, wall and CPU seconds) to
#: the file named by $RESMAP_PEAKS.
_LOGGING_PROBE = (
    "import json, os, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "child = subprocess.Popen([sys.executable, '-m', 'resmap_core.cli.main', *sys.argv[1:]])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "record = {'args': sys.argv[1:], 'peak_MB': usage.ru_maxrss / 1024,\n"
    "          'wall_s': time.perf_counter() - start, 'cpu_s': usage.ru_utime + usage.ru_stime}\n"
    "with open(os.environ['RESMAP_PEAKS'], 'a') as fh:\n"
    "    fh.write(json.dumps(record) + '\\n')\n"
    "code = os.waitstatus_to_exitcode(status)\n"
    "sys.exit(code if code >= 0 else 128 - code)\n"
)


def write_shim(folder: Path) -> Path:
    """``folder/resmap``: a shell script that runs resmap under the logging probe. With
    ``folder`` first on PATH and RESMAP_PEAKS naming a file, a workflow run records the true
    peak of every job (Snakemake's benchmark files sample it)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "resmap"
    probe = f"{shlex.quote(sys.executable)} -c {shlex.quote(_LOGGING_PROBE)}"
    path.write_text(f'#!/bin/sh\nexec {probe} "$@"\n')
    path.chmod(0o755)
    return path


def measure(args: list[str], cwd: Path) -> tuple[float, float, float]:
    """Run ``resmap ARGS`` in ``cwd``; (peak RSS MB of that process, wall s, CPU s).

    Raises RuntimeError with the command's stderr when it fails.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    probe = [sys.executable, "-c", _PROBE, *RESMAP, *args]
    proc = subprocess.run(probe, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    fields = proc.stdout.split()
    if proc.returncode != 0 or len(fields) != 4 or fields[3] != "0":
        raise RuntimeError(f"resmap {' '.join(args)}: {proc.stderr[-2000:]}")
    return int(fields[0]) / 1024.0, float(fields[1]), float(fields[2])


def _row(stage: str, case: Case, threads: int, lam: float, m: tuple) -> dict:
    """One measurement as a table row (see COLUMNS; box and mask voxels set later)."""
    return {
        "stage": stage,
        "case": case.name,
        "shape_zyx": "x".join(str(n) for n in case.shape),
        "split": int(case.split),
        "mask_voxels": 0,
        "threads": threads,
        "wavelength_A": lam,
        "peak_MB": round(m[0], 1),
        "seconds": round(m[1], 2),
        "cpu_seconds": round(m[2], 2),
    }


def _pass_wavelengths(grid: list[float], shape: tuple[int, ...]) -> list[float]:
    """The grid plus the widest window of the default grid (edge ≤ ¼ of the shortest edge)."""
    widest = float(2 * ((min(shape) // 4 - 1) // 2))  # λ = 2r Å on 1 Å voxels: edge 2r + 1
    return grid + ([widest] if widest > grid[-1] else [])


#: Stages whose passes run on the analysed grid (the rows give that grid's box).
PASS_STAGES = ("lrs_pass", "band_pass")
#: Commands every later stage needs (run, but recorded only when selected).
NEEDED = ("prepare", "wavelengths")


def run_stages(
    case: Case, folder: Path, log: bool, stages: tuple[str, ...] = tuple(MEMORY_FEATURES)
) -> list[dict]:
    """The ``stages`` of ``case`` in ``folder`` (and the commands they need); their rows."""
    files = write_inputs(case, folder)
    maps = [str(files[k]) for k in ("half1", "half2", "map") if k in files]
    mask = ["--mask", str(files["mask"])] if "mask" in files else []
    rows: list[dict] = []
    ran: set[str] = set()

    def record(stage: str, args: list[str], threads: int = 1, lam: float = 0.0) -> None:
        if stage not in stages and (stage not in NEEDED or stage in ran):
            return  # a needed command not measured runs once
        ran.add(stage)
        rows.append(_row(stage, case, threads, lam, measure(args, folder)))
        if log:
            r = rows[-1]
            line = f"  {case.name} {stage} T{threads} {lam:g}: {r['peak_MB']} MB"
            line += f" {r['seconds']} s wall {r['cpu_seconds']} s CPU"
            print(line, file=sys.stderr, flush=True)

    prep = ["prepare", *maps, *mask, *GRID, "--out", "prep.npz", "--quiet"]
    prep += ["--mask-out", "mask.mrc", "--map-out", "map.mrc"]
    for t in THREADS:
        record("prepare", [*prep, "--threads", str(t)], t)
    record("wavelengths", ["wavelengths", "prep.npz", "--out", "grid.json", "--quiet"])
    grid = json.loads((folder / "grid.json").read_text())
    chain = [float(w) for w in grid["wavelengths_A"]]
    for lam in _pass_wavelengths(chain, case.shape):
        for t in THREADS if lam in (chain[0], chain[-1]) or lam not in chain else (1,):
            out = f"pass_{lam:g}.npz" if lam in chain else "pass_extra.npz"
            args = ["pass", "prep.npz", "--wavelength", str(lam), "--out", out, "--quiet"]
            record("lrs_pass", [*args, "--threads", str(t)], t, lam)
            band = [*args, "--estimator", "band", "--out", f"band_{out}"]
            record("band_pass", [*band, "--threads", str(t)], t, lam)
    if not set(stages) - {*NEEDED, *PASS_STAGES}:
        return [_sized(row, case, folder) for row in rows if row["stage"] in stages]
    passes = [f"pass_{lam:g}.npz" for lam in chain]
    record("fdr", ["fdr", "prep.npz", *passes, "--out", "local.mrc", "--quiet"])
    for t in THREADS:
        filtered = ["locfilt", "map.mrc", "local.mrc", "--out", "locfilt.mrc", "--quiet"]
        record("locfilt", [*filtered, "--threads", str(t)], t)
    report = ["report", "--name", case.name, "--out", "report/index.html", "--quiet"]
    report += ["--map", "map.mrc", "--local", "local.mrc", "--mask", "mask.mrc"]
    if case.split:
        halves = [str(files["half1"]), str(files["half2"])]
        for t in THREADS:
            fsc = ["fsc", *halves, *mask, "--out", "fsc.json", "--quiet"]
            record("fsc", [*fsc, "--threads", str(t)], t)
            wfsc = ["wfsc", *halves, "--mask", "mask.mrc", "--out", "wfsc.mrc", "--quiet"]
            record("wfsc", [*wfsc, "--threads", str(t)], t)
        report += ["--fsc", "fsc.json", "--wfsc", "wfsc.mrc"]
    record("dataset_report", report)
    record("report_index", ["report-index", "--out", "index.html", "report", "--quiet"])
    return [_sized(row, case, folder) for row in rows if row["stage"] in stages]


def _sized(row: dict, case: Case, folder: Path) -> dict:
    """``row`` with the box and mask voxels the workflow's resource functions would give its
    job (``dataset_size`` on the case's meta.json and wavelengths grid)."""
    meta = folder / "meta.json"
    meta.write_text(
        json.dumps({"shape_zyx": list(case.shape), "mode": ("single", "split")[case.split]})
    )
    analysed = row["stage"] in PASS_STAGES
    size = dataset_size(meta, folder / "grid.json", analysed_grid=analysed)
    shape = json.loads((folder / "grid.json").read_text())["shape_zyx"]
    if analysed:
        row["shape_zyx"] = "x".join(str(n) for n in shape)
    return {**row, "mask_voxels": size.mask_voxels}


def job_size(row: dict) -> JobSize:
    """The model's view of a measured job."""
    shape = [int(n) for n in str(row["shape_zyx"]).split("x")]
    return JobSize(
        voxels=int(np.prod(shape)),
        mask_voxels=int(row["mask_voxels"]),
        split=bool(int(row["split"])),
        threads=int(row["threads"]),
    )


def _design(rows: list[dict], names: tuple[str, ...], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix (rows × ``names``) and the measured ``key`` of each row."""
    x = np.array([[features(job_size(r))[n] for n in names] for r in rows])
    return x, np.array([float(r[key]) for r in rows])


def _solve(cost: np.ndarray, a_ub: np.ndarray, b_ub: np.ndarray, bounds: list) -> np.ndarray:
    """``linprog`` (HiGHS): minimise cost·v subject to a_ub·v ≤ b_ub within ``bounds``."""
    from scipy.optimize import linprog

    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if not res.success:
        raise RuntimeError(f"fit failed: {res.message}")
    return res.x


def _rounded(names: tuple[str, ...], coefficients: np.ndarray) -> dict[str, float]:
    """Coefficients rounded up to 0.001 (so the printed model stays an upper envelope)."""
    return {n: float(np.ceil(c * 1000) / 1000) for n, c in zip(names, coefficients, strict=True)}


def fit_memory(
    rows: list[dict], names: tuple[str, ...], least: dict[str, float]
) -> dict[str, float]:
    """Coefficients ≥ 0 with model ≥ peak for every row and the smallest worst ratio
    model / peak, then, at that worst ratio, the smallest mean ratio.

    Jobs whose request is the floor (1.5 × peak < MEMORY_FLOOR_MB) only bound the model from
    above by the floor ÷ MEMORY_MARGIN, so they do not drive the worst ratio. ``least``: lower
    bounds of some coefficients (:data:`MIN_COEFFICIENTS`).
    """
    x, y = _design(rows, names, "peak_MB")
    k, tiny = len(names), 1.5 * y < MEMORY_FLOOR_MB
    cap = np.full(int(tiny.sum()), (MEMORY_FLOOR_MB - 1) / MEMORY_MARGIN)
    below = np.c_[-x, np.zeros(len(y))]  # model ≥ peak
    within = np.c_[x[~tiny], -y[~tiny]]  # model ≤ t × peak
    floored = np.c_[x[tiny], np.zeros(len(cap))]  # model ≤ floor ÷ margin
    a_ub = np.r_[below, within, floored]
    b_ub = np.r_[-y, np.zeros(len(within)), cap]
    bounds = [(least.get(n, 0.0), None) for n in names] + [(1, None)]
    worst = _solve(np.r_[np.zeros(k), 1.0], a_ub, b_ub, bounds)[k] * (1 + 1e-9)
    b_ub = np.r_[-y, worst * y[~tiny], cap]
    mean = _solve((x / y[:, None]).sum(axis=0), np.r_[-x, x[~tiny], x[tiny]], b_ub, bounds[:k])
    return _rounded(names, mean)


def fit_seconds(rows: list[dict], names: tuple[str, ...]) -> dict[str, float]:
    """Coefficients ≥ 0 with model ≥ CPU seconds for every row and the smallest mean ratio."""
    x, y = _design(rows, names, "cpu_seconds")
    cost = (x / y[:, None]).sum(axis=0)
    return _rounded(names, _solve(cost, -x, -y, [(0, None)] * len(names)))


def fit_models(rows: list[dict]) -> dict[str, StageModel]:
    """One :class:`StageModel` per stage measured."""
    out = {}
    for stage, names in MEMORY_FEATURES.items():
        mine = [r for r in rows if r["stage"] == stage]
        if mine:
            memory = fit_memory(mine, names, MIN_COEFFICIENTS.get(stage, {}))
            seconds = fit_seconds(mine, SECONDS_FEATURES[stage])
            out[stage] = StageModel(memory_MB=memory, seconds=seconds)
    return out


def print_rows(rows: list[dict], models: dict[str, StageModel], title: str) -> None:
    """Measured peak and time against ``models``: model, request and request / peak."""
    print(f"\n{title}")
    head = f"{'stage':<15}{'case':<28}{'T':>2}{'λ Å':>6}{'mask Mvox':>10}{'peak MB':>9}"
    print(
        head + f"{'model':>8}{'request':>9}{'req/peak':>9}{'wall s':>8}{'cpu s':>8}{'model s':>8}"
    )
    for r in rows:
        model = models[r["stage"]]
        size = job_size(r)
        peak = float(r["peak_MB"])
        print(
            f"{r['stage']:<15}{r['case']:<28}{r['threads']:>2}{float(r['wavelength_A']):>6.1f}"
            f"{int(r['mask_voxels']) / 1e6:>10.3f}{peak:>9.0f}{model.peak_MB(size):>8.0f}"
            f"{_request_MB(model, r):>9.0f}{_request_MB(model, r) / peak:>9.2f}"
            f"{float(r['seconds']):>8.1f}{float(r['cpu_seconds']):>8.1f}{model.cpu_s(size):>8.1f}"
        )


def _request_MB(model: StageModel, row: dict) -> int:
    """The memory request of ``model`` for a measured job (first attempt)."""
    return model.request(job_size(row))["mem_mb"]


def print_summary(rows: list[dict], models: dict[str, StageModel]) -> None:
    """Per stage: request / peak over the jobs asking for more than the floor (and how many
    ask for the floor), the least model / CPU time."""
    print(f"\n{'stage':<15}{'jobs':>5}{'at floor':>9}{'req/peak min':>13}{'max':>6}", end="")
    print(f"{'model s/CPU s min':>18}")
    for stage in MEMORY_FEATURES:
        mine = [r for r in rows if r["stage"] == stage]
        if not mine or stage not in models:
            continue
        m = models[stage]
        ratios = [_request_MB(m, r) / float(r["peak_MB"]) for r in mine]
        above = [
            q for q, r in zip(ratios, mine, strict=True) if _request_MB(m, r) > MEMORY_FLOOR_MB
        ]
        low, high = (f"{min(above):>13.2f}", f"{max(above):>6.2f}") if above else ("-", "-")
        sec = min(m.cpu_s(job_size(r)) / float(r["cpu_seconds"]) for r in mine)
        print(f"{stage:<15}{len(mine):>5}{len(mine) - len(above):>9}{low:>13}{high:>6}{sec:>18.2f}")


def _dict_literal(values: dict[str, float], indent: str) -> str:
    """``{"name": value, ...}`` over the nonzero values, one per line, with trailing commas."""
    items = "".join(f'{indent}    "{k}": {v:g},\n' for k, v in values.items() if v)
    return "{\n" + items + indent + "}"


def print_python(models: dict[str, StageModel]) -> None:
    """The fitted models as the literal of ``resources.MODELS`` (as ``ruff format`` keeps it)."""
    print("\nMODELS: dict[str, StageModel] = {")
    for stage, m in models.items():
        print(f'    "{stage}": StageModel(')
        print(f"        memory_MB={_dict_literal(m.memory_MB, '        ')},")
        print(f"        seconds={_dict_literal(m.seconds, '        ')},")
        print("    ),")
    print("}")


def print_extrapolation() -> None:
    """Requests of the committed model for boxes beyond the measured ones (mask 30 %)."""
    boxes = (256, 512, 768, 1024)
    print("\nrequests of the committed model, mem_mb / runtime min (mask 30 % of the box, split;")
    print("measured up to 384³, beyond extrapolated)")
    print(f"{'stage':<15}" + "".join(f"{f'{n}³ T{t}':>17}" for n in boxes for t in (1, 2)))
    for stage in MODELS:
        cells = []
        for n in boxes:
            for t in (1, 2):
                req = job_request(stage, JobSize(n**3, int(0.3 * n**3), True, t))
                cells.append(f"{req['mem_mb']:>10} / {req['runtime']:>4}")
        print(f"{stage:<15}" + "".join(f"{c:>17}" for c in cells))


def machine() -> str:
    """One line: date, CPU, cores, memory, Python and NumPy versions."""
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if "model name" in line)
    except (OSError, StopIteration):
        pass
    today = datetime.date.today().isoformat()
    versions = f"Python {platform.python_version()}, NumPy {np.__version__}"
    return f"{today}, {cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GB, {versions}"


HEADER = "# bench_resources.py measurements: "


def save(path: Path, rows: list[dict], header: str) -> None:
    """Measurements as TSV, with a '#' line naming the machine and date."""
    with open(path, "w", newline="") as fh:
        fh.write(f"{HEADER}{header}\n")
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def load_header(path: Path) -> str:
    """The machine-and-date line of a file written by :func:`save`."""
    with open(path) as fh:
        return fh.readline().removeprefix(HEADER).strip()


def load(path: Path) -> list[dict]:
    """Rows of a file written by :func:`save`."""
    with open(path, newline="") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


#: Threads of each rule as workflow/rules/*.smk declares them (the benchmark files do not say).
RULE_THREADS = {"prepare": 2, "fsc": 2, "wfsc": 2, "locfilt": 2}


def _rule_of(job: str) -> str:
    """The rule of a benchmark file's name: ``pass_lambda_4.7A`` → ``lrs_pass``,
    ``band_pass_lambda_4.7A`` → ``band_pass``, ``report`` → ``dataset_report``, else the name
    itself."""
    if job.startswith("pass_lambda_"):
        return "lrs_pass"
    if job.startswith("band_pass_lambda_"):
        return "band_pass"
    return {"report": "dataset_report"}.get(job, job)


def _run_job_size(run: Path, dataset: str | None, rule: str) -> JobSize:
    """The size the workflow's resource functions give a job of ``rule`` in ``run``."""
    threads = RULE_THREADS.get(rule, 1)
    if dataset is None:
        return JobSize(voxels=0)
    meta = run / "resources" / dataset / "meta.json"
    if rule == "fsc":
        half1 = json.loads(meta.read_text())["files"]["half1"]["path"]
        return JobSize(voxels=map_voxels(run / half1), threads=threads)
    grid = run / "results" / dataset / "wavelengths.json"
    return dataset_size(meta, grid, threads, analysed_grid=rule in PASS_STAGES)


def _peak_key(args: list[str]) -> tuple[str | None, str]:
    """(dataset, benchmark job name) of a logged ``resmap`` command line, from its ``--out``
    (results/DATASET/... or reports/DATASET/...) and, for a pass, its ``--wavelength``."""
    out = Path(args[args.index("--out") + 1]) if "--out" in args else Path()
    parts = out.parts
    dataset = parts[1] if len(parts) > 2 and parts[0] in ("results", "reports") else None
    command = args[0] if args else ""
    if command == "pass" and "--wavelength" in args:
        return dataset, f"pass_lambda_{args[args.index('--wavelength') + 1]}A"
    return dataset, {"report": "report", "report-index": "report_index"}.get(command, command)


def read_peaks(path: Path | None) -> dict[tuple[str | None, str], float]:
    """Largest logged peak (MB) per (dataset, job) of a RESMAP_PEAKS file; none without one."""
    peaks: dict[tuple[str | None, str], float] = {}
    for line in path.read_text().splitlines() if path else []:
        record = json.loads(line)
        key = _peak_key(record["args"])
        peaks[key] = max(peaks.get(key, 0.0), float(record["peak_MB"]))
    return peaks


def print_workflow_run(run: Path, peaks_file: Path | None = None) -> None:
    """Every benchmark file of the workflow run in ``run``: Snakemake's max_rss, the true peak
    logged by the shim (``--peaks``), and the committed model's request."""
    peaks = read_peaks(peaks_file)
    folders = [(d.parent.name, d) for d in sorted(run.glob("results/*/benchmarks"))]
    folders += [(d.parent.name, d) for d in sorted(run.glob("logs/*/benchmarks"))]
    folders += [(None, run / "logs" / "benchmarks")]
    print(f"\nworkflow run {run}: Snakemake benchmark files against the committed model")
    head = f"{'dataset':<12}{'job':<20}{'max_rss':>8}{'peak MB':>8}{'1.2×model':>10}{'mem_mb':>7}"
    print(head + f"{'req/peak':>9}{'wall s':>7}{'runtime':>8}")
    for dataset, folder in folders:
        for job, times in read_benchmark_folder(folder).items():
            print(_workflow_row(run, dataset, job, times, peaks.get((dataset, job))))


def _workflow_row(
    run: Path, dataset: str | None, job: str, times: JobTimes, peak: float | None
) -> str:
    """One line of :func:`print_workflow_run` (request / the true peak where logged, else
    / max_rss); a rule without a model gets the profile's default resources, shown as '-'."""
    rule = _rule_of(job)
    nan = float("nan")
    rss, seconds = times.max_rss_MB or nan, times.seconds or nan
    start = f"{dataset or '-':<12}{job:<20}{rss:>8.0f}{peak or nan:>8.0f}"
    if rule not in MODELS:
        return start + f"{'-':>10}{'-':>7}{'-':>9}{seconds:>7.1f}{'-':>8}"
    size = _run_job_size(run, dataset, rule)
    request = job_request(rule, size)
    unfloored = MEMORY_MARGIN * MODELS[rule].peak_MB(size)
    ratio = request["mem_mb"] / (peak or rss)
    return (
        start + f"{unfloored:>10.0f}{request['mem_mb']:>7}{ratio:>9.2f}{seconds:>7.1f}"
        f"{request['runtime']:>8}"
    )


def measure_cases(args: argparse.Namespace) -> tuple[str, list[dict]]:
    """Run the cases; with ``--save``, the file is rewritten after each case and cases it
    already holds are skipped (a run that stopped resumes where it was)."""
    header, rows = machine(), []
    if args.save and args.save.is_file():
        rows = load(args.save)
        header = load_header(args.save)
    stages = tuple(args.stages)
    done = {row["case"] for row in rows if row["stage"] in stages}
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        for case in default_cases(sorted(args.boxes), tuple(args.particles)):
            if case.name in done:
                continue
            folder = Path(tmp) / case.name
            folder.mkdir()
            rows += run_stages(case, folder, args.verbose, stages)
            if args.save:
                save(args.save, rows, header)
    return header, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, nargs="*", default=[64, 96, 128, 160, 192, 256])
    parser.add_argument(
        "--particles", nargs="*", default=["lobes", "ball", "ball15"], help="cases to run"
    )
    parser.add_argument("--save", type=Path, help="write (or complete) a measurements TSV")
    parser.add_argument(
        "--stages",
        nargs="*",
        default=list(MEMORY_FEATURES),
        choices=list(MEMORY_FEATURES),
        help="stages to measure (the commands they need run unrecorded)",
    )
    parser.add_argument("--load", type=Path, help="fit and print measurements of a TSV file")
    parser.add_argument("--work", type=Path, help="folder for the maps (default: temporary)")
    parser.add_argument("--verbose", action="store_true", help="each job on stderr as it ends")
    parser.add_argument("--workflow", type=Path, help="compare a workflow run's benchmark files")
    parser.add_argument("--peaks", type=Path, help="with --workflow: the run's RESMAP_PEAKS file")
    parser.add_argument("--write-shim", type=Path, metavar="DIR", help="write DIR/resmap")
    args = parser.parse_args()
    if args.write_shim:
        print(write_shim(args.write_shim))
        return
    if args.workflow:
        print_workflow_run(args.workflow, args.peaks)
        return
    if args.load:
        rows = load(args.load)
        header = load_header(args.load)
    else:
        header, rows = measure_cases(args)
    print(f"measured: {header}")
    fitted = fit_models(rows)
    print("\nfitted now:")
    print_summary(rows, fitted)
    print_python(fitted)
    if set(MODELS) != set(fitted):
        print("\nresources.MODELS covers other stages: paste the fitted MODELS above")
        return
    print_rows(rows, MODELS, f"committed model (MEMORY_MARGIN = {MEMORY_MARGIN})")
    print_summary(rows, MODELS)
    print_extrapolation()


if __name__ == "__main__":
    main()
