"""Start-up time of the ``resmap`` command, and which heavy libraries each command line imports.

    python3 benchmarks/bench_startup.py [--runs 7] [--command "pass --help" ...]

Each command line runs ``--runs`` times as a fresh process (the installed ``resmap`` script
beside this interpreter, else ``python -m resmap_core``); the table gives the median wall time
and the heavy libraries the process imported, read from one extra ``python -X importtime`` run.
The first row, ``python -c pass``, is the interpreter's own start-up on this machine: nothing a
command does can be faster. Commands that need arguments are run without them on purpose: they
stop at argparse's usage error (exit 2) after importing exactly what the command imports.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

#: Libraries whose import costs tenths of a second to seconds; the CLI should touch only the ones
#: the chosen command computes with.
HEAVY = (
    "numpy",
    "scipy",
    "mrcfile",
    "matplotlib",
    "jinja2",
    "pandas",
    "snakemake",
    "yaml",
    "jsonschema",
)

COMMANDS = (
    "--help",
    "--version",
    "local --help",
    "pass --help",
    "fetch --help",
    "fsc --help",
    "report --help",
    "local",
    "pass",
)


def resmap_command() -> list[str]:
    """The installed console script beside this interpreter (no pyenv shim), else ``-m``."""
    script = Path(sysconfig.get_path("scripts")) / "resmap"
    if script.is_file():
        return [sys.executable, str(script)]
    return [sys.executable, "-m", "resmap_core"]


def wall_seconds(argv: list[str]) -> float:
    """Wall time of one run of ``argv`` (output discarded; the exit status does not matter)."""
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def heavy_imports(argv: list[str]) -> list[str]:
    """The :data:`HEAVY` libraries that ``argv`` (a Python command line) imports.

    ``-X importtime`` writes one stderr line per imported module, ``import time: self |
    cumulative | name`` with the name indented by nesting depth.
    """
    traced = [argv[0], "-X", "importtime", *argv[1:]]
    err = subprocess.run(traced, capture_output=True, text=True, check=False).stderr
    names = set()
    for line in err.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return [h for h in HEAVY if h in names]


def measure(argv: list[str], runs: int) -> tuple[float, list[str]]:
    """Median wall time over ``runs`` runs (after one warm-up) and the heavy imports."""
    wall_seconds(argv)  # warm the file-system cache; not counted
    median = statistics.median(wall_seconds(argv) for _ in range(runs))
    return median, heavy_imports(argv)


def main() -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command line (7)")
    parser.add_argument(
        "--command",
        action="append",
        default=None,
        help="a resmap command line, quoted (repeatable; default: a fixed set)",
    )
    args = parser.parse_args()
    base = resmap_command()
    print(f"resmap = {shlex.join(base)}; median of {args.runs} runs")
    print(f"{'command':<24} {'median s':>9}  heavy modules imported")
    rows = [("python -c pass", [sys.executable, "-c", "pass"])]
    rows += [(f"resmap {c}", [*base, *shlex.split(c)]) for c in args.command or COMMANDS]
    for label, argv in rows:
        seconds, heavy = measure(argv, args.runs)
        print(f"{label:<24} {seconds:>9.3f}  {', '.join(heavy) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
