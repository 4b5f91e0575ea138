"""Bad input to `resmap local`: one line on stderr, exit status 2, no output left behind.

Also how the command line starts: the sub-command table of ``resmap_core.cli.main`` against the
command modules, and which libraries building the parsers imports.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import subprocess
import sys
import textwrap

import mrcfile
import numpy as np
import pytest

from resmap_core.cli.main import COMMANDS, main
from resmap_core.io.mrc import MapGeometry, write_map
from resmap_core.testing.phantoms import band_limited_noise, half_maps, radius_A

SHAPE = (32, 32, 32)
GEOM = MapGeometry(shape=SHAPE, voxel_size_A=(1.0, 1.0, 1.0))


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    density = band_limited_noise(SHAPE, (1.0,) * 3, 4.0, rng) * (radius_A(SHAPE, (1.0,) * 3) < 9)
    h1, h2 = half_maps(density, 0.3)
    write_map(tmp_path / "h1.mrc", h1, GEOM)
    write_map(tmp_path / "h2.mrc", h2, GEOM)
    write_map(tmp_path / "small.mrc", h2[:, :, :30], MapGeometry((32, 32, 30), (1.0, 1.0, 1.0)))
    write_map(tmp_path / "coarse.mrc", h2, MapGeometry(SHAPE, (1.2, 1.2, 1.2)))
    bad = h2.copy()
    bad[3, 4, 5] = np.inf
    with mrcfile.new(tmp_path / "inf.mrc") as m:
        m.set_data(bad)
        m.voxel_size = 1.0
    with mrcfile.new(tmp_path / "novox.mrc") as m:
        m.set_data(h2)
    write_map(tmp_path / "empty_mask.mrc", np.zeros(SHAPE, np.float32), GEOM)
    write_map(tmp_path / "full_mask.mrc", np.ones(SHAPE, np.float32), GEOM)
    big = (radius_A(SHAPE, (1.0,) * 3) < 17).astype(np.float32)
    write_map(tmp_path / "big_mask.mrc", big, GEOM)
    write_map(
        tmp_path / "other_grid_mask.mrc",
        np.ones((16, 16, 16), np.float32),
        MapGeometry((16, 16, 16), (1.0, 1.0, 1.0)),
    )
    (tmp_path / "text.mrc").write_text("not a map\n" * 200)
    raw = (tmp_path / "h2.mrc").read_bytes()
    (tmp_path / "cut.mrc").write_bytes(raw[: len(raw) // 2])
    return tmp_path


CASES = [
    ("shape", ["h1.mrc", "small.mrc"], [], "differ in shape"),
    ("voxel", ["h1.mrc", "coarse.mrc"], [], "voxel size"),
    ("nan", ["h1.mrc", "inf.mrc"], [], "NaN or infinite"),
    ("novox", ["novox.mrc"], [], "--voxel-size"),
    ("empty-mask", ["h1.mrc", "h2.mrc"], ["--mask", "empty_mask.mrc"], "empty"),
    ("full-mask", ["h1.mrc", "h2.mrc"], ["--mask", "full_mask.mrc"], "whole box"),
    ("grid-mask", ["h1.mrc", "h2.mrc"], ["--mask", "other_grid_mask.mrc"], "grid"),
    ("nyquist", ["h1.mrc", "h2.mrc"], ["--min-res", "1.5"], "below Nyquist"),
    ("background", ["h1.mrc"], ["--mask", "big_mask.mrc"], "too little background"),
    ("not-mrc", ["text.mrc"], [], "not a readable MRC"),
    ("truncated", ["cut.mrc"], [], "truncated"),
    ("max-below-min", ["h1.mrc", "h2.mrc"], ["--min-res", "5", "--max-res", "4"], "below"),
]


@pytest.mark.parametrize(("name", "inputs", "extra", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_exit_2_and_no_output(files, capsys, name, inputs, extra, message):
    out = files / "out.mrc"
    args = ["local", *[str(files / f) for f in inputs], "--out", str(out), "--quiet"]
    args += [str(files / a) if a.endswith(".mrc") else a for a in extra]
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert message in err
    assert not out.exists() and not out.with_suffix(".json").exists()
    assert not [p for p in files.iterdir() if p.name.startswith(".")]


def test_process_exit_status_is_2_without_traceback(files):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "resmap_core",
            "local",
            str(files / "text.mrc"),
            "--out",
            str(files / "o.mrc"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("resmap local: error:")


# --- out-of-range option values, every sub-command ---------------------------------------------
# Each bad value must stop the command before it reads or writes anything: argparse's one-line
# error (after its usage lines) or an InputError line, exit status 2, no traceback, no file.

BAD_NUMBERS = ["nan", "inf", "-inf", "1e999", "abc", ""]


def _option_cases() -> list[tuple[str, str, str]]:
    """(command, option, bad value) for every numeric option of every sub-command."""
    cases: list[tuple[str, str, str]] = []
    for command in ("local", "prepare"):
        cases += [(command, "--threads", v) for v in ("0", "-1", "1.5", "4097", str(2**70), "x")]
        cases += [(command, "--p-value", v) for v in ("0", "1", "1.5", "-0.05", *BAD_NUMBERS)]
        for option in ("--min-res", "--max-res", "--step-res"):
            cases += [(command, option, v) for v in ("0", "-1", *BAD_NUMBERS)]
        cases += [(command, "--step-res", "0.001")]
        cases += [(command, "--voxel-size", v) for v in ("0", "-1", "1e-300", "1e300", "nan")]
        cases += [(command, "--voxel-size", "inf")]
    cases += [("pass", "--wavelength", v) for v in ("0", "-2", *BAD_NUMBERS)]
    cases += [("pass", "--threads", v) for v in ("0", "-3", "2.0", "4097")]
    cases += [("fdr", "--p-value", v) for v in ("0", "1", "2", "nan", "inf")]
    for command in ("fsc", "wfsc"):
        cases += [(command, "--threads", v) for v in ("0", "-1", "4097")]
        cases += [(command, "--voxel-size", v) for v in ("0", "nan", "inf", "1e-300")]
    cases += [("fsc", "--soft-edge", v) for v in ("-1", "nan", "inf")]
    cases += [("wfsc", "--cutoff", v) for v in ("0", "nan", "inf")]
    cases += [("fetch", "--timeout", v) for v in ("0", "-1", "nan", "inf", "1e10")]
    cases += [("fetch", "--retries", v) for v in ("-1", "21", "1.5", "nan")]
    cases += [("fetch", "--backoff", v) for v in ("-1", "601", "nan", "inf")]
    cases += [("fetch", "--voxel-size", v) for v in ("0", "nan", "inf")]
    cases += [("locate", "--voxel-size", v) for v in ("0", "-1", "nan", "inf")]
    return cases


OPTION_CASES = _option_cases()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Valid inputs for every sub-command (half maps and prepared data) in one folder."""
    root = tmp_path_factory.mktemp("cli_options")
    rng = np.random.default_rng(0)
    density = band_limited_noise(SHAPE, (1.0,) * 3, 4.0, rng) * (radius_A(SHAPE, (1.0,) * 3) < 9)
    h1, h2 = half_maps(density, 0.3)
    write_map(root / "h1.mrc", h1, GEOM)
    write_map(root / "h2.mrc", h2, GEOM)
    prepared = ["prepare", str(root / "h1.mrc"), str(root / "h2.mrc")]
    assert main([*prepared, "--out", str(root / "prep.npz"), "--quiet"]) == 0
    return root


def _argv(root, out, command: str) -> list[str]:
    """A valid command line of ``command`` reading from ``root`` and writing only into ``out``."""
    h = [str(root / "h1.mrc"), str(root / "h2.mrc")]
    prep = str(root / "prep.npz")
    return {
        "local": ["local", *h, "--out", str(out / "local.mrc")],
        "prepare": ["prepare", *h, "--out", str(out / "prep.npz")],
        "pass": ["pass", prep, "--wavelength", "3", "--out", str(out / "pass.npz")],
        "fdr": ["fdr", prep, str(root / "missing_pass.npz"), "--out", str(out / "l.mrc")],
        "fsc": ["fsc", *h, "--out", str(out / "fsc.json")],
        "wfsc": ["wfsc", *h, "--out", str(out / "wfsc.mrc")],
        "fetch": [
            "fetch",
            "EMD-11638",
            "--out-dir",
            str(out / "dl"),
            "--meta",
            str(out / "meta.json"),
            "--base-url",
            (out / "no_mirror").as_uri(),
        ],
        "locate": ["locate", "--dataset", "d", "--half1", h[0], "--half2", h[1]]
        + ["--out", str(out / "meta.json")],
    }[command]


def _run_main(argv: list[str]) -> int:
    """``main`` as the console command runs it: argparse's SystemExit becomes the status."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _assert_one_error_line(err: str, command: str) -> str:
    """Exactly one line on stderr, ``resmap COMMAND: error: ...``, and no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    assert lines[0].startswith(f"resmap {command}: error: "), err
    return lines[0]


@pytest.mark.parametrize(
    ("command", "option", "value"), OPTION_CASES, ids=[f"{c}{o}={v}" for c, o, v in OPTION_CASES]
)
def test_out_of_range_option_gives_one_error_line_exit_2_and_no_output(
    workdir, tmp_path, capsys, command, option, value
):
    before = sorted(workdir.rglob("*"))
    code = _run_main([*_argv(workdir, tmp_path, command), f"{option}={value}", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert option in _assert_one_error_line(err, command)
    assert sorted(workdir.rglob("*")) == before
    assert not any(tmp_path.iterdir())


# Values argparse cannot judge alone: each needs the inputs (the prepared grid, the half maps).
RUN_TIME_CASES = [
    ("pass", ["--wavelength", "1.5"], "below Nyquist"),
    ("pass", ["--wavelength", "1e6"], "wider than the prepared box"),
    ("pass", ["--wavelength", "1e300"], "wider than the prepared box"),
    ("wfsc", ["--cutoff", "1"], "--cutoff"),
    ("wfsc", ["--box", "3"], "--box"),
    ("wfsc", ["--step", "0"], "--step"),
    ("local", ["--min-res", "1.5"], "below Nyquist"),
    ("local", ["--min-res", "6", "--max-res", "5"], "below"),
]


@pytest.mark.parametrize(
    ("command", "extra", "message"),
    RUN_TIME_CASES,
    ids=[f"{c}{'='.join(e)}" for c, e, _ in RUN_TIME_CASES],
)
def test_out_of_range_for_the_inputs_gives_one_line_exit_2_and_no_output(
    workdir, tmp_path, capsys, command, extra, message
):
    before = sorted(workdir.rglob("*"))
    # argparse keeps the last value given: the bad one overrides the valid command line's
    code = _run_main([*_argv(workdir, tmp_path, command), *extra, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert message in _assert_one_error_line(err, command)
    assert sorted(workdir.rglob("*")) == before
    assert not any(tmp_path.iterdir())


def _console_command() -> list[str]:
    """The installed ``resmap`` script, else the module (the same ``main``)."""
    script = shutil.which("resmap")
    return [script] if script else [sys.executable, "-m", "resmap_core"]


@pytest.mark.parametrize(
    "extra",
    [["--threads", "0"], ["--p-value", "nan"], ["--min-res", "inf"], ["--voxel-size", "-1"]],
    ids=lambda e: "=".join(e),
)
def test_console_command_refuses_bad_values_without_traceback(workdir, tmp_path, extra):
    out = tmp_path / "console.mrc"
    h = [str(workdir / "h1.mrc"), str(workdir / "h2.mrc")]
    proc = subprocess.run(
        [*_console_command(), "local", *h, "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert extra[0] in _assert_one_error_line(proc.stderr, "local")
    assert not out.exists() and not out.with_suffix(".json").exists()


# --- start-up: the table of sub-commands and what the parsers import ---------------------------

#: Libraries that only the report (Matplotlib, Jinja2) or the workflow (pandas, Snakemake) need.
HEAVY = ("matplotlib", "jinja2", "pandas", "snakemake")


def _modules_imported_by(code: str) -> set[str]:
    """The names in ``sys.modules`` after ``code`` runs in a fresh interpreter.

    ``code`` may call ``main``; its exit (``--help``, a usage error) and output are swallowed.
    """
    script = (
        "import io, json, sys\n"
        "from contextlib import redirect_stderr, redirect_stdout\n"
        "with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):\n"
        "    try:\n"
        f"{textwrap.indent(textwrap.dedent(code).strip(), ' ' * 8)}\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout))


@pytest.mark.parametrize(
    "code",
    [
        "from resmap_core.cli.main import build_parser; build_parser()",
        "from resmap_core.cli.main import main; main(['--help'])",
    ],
    ids=["build_parser", "--help"],
)
def test_top_level_help_imports_no_command_module_and_no_heavy_library(code):
    modules = _modules_imported_by(code)
    assert not [m for m in modules if m.startswith("resmap_core.cli.commands.")]
    assert not [m for m in HEAVY if m in modules]


@pytest.mark.parametrize(
    "argv", [["local", "--help"], ["pass", "--help"], ["local"], ["pass"]], ids=" ".join
)
def test_scan_commands_import_neither_report_nor_workflow_libraries(argv):
    modules = _modules_imported_by(f"from resmap_core.cli.main import main; main({argv!r})")
    assert not [m for m in HEAVY if m in modules]
    # only the chosen command's module is imported
    chosen = next(c.module for c in COMMANDS if c.name == argv[0])
    loaded = {m.rsplit(".", 1)[1] for m in modules if m.startswith("resmap_core.cli.commands.")}
    assert chosen in loaded
    assert not loaded & ({c.module for c in COMMANDS} - {chosen})


@pytest.mark.parametrize("module", sorted({c.module for c in COMMANDS}))
def test_command_table_names_and_help_are_those_the_module_registers(module):
    """``resmap --help`` lists the table; the module's own parsers must say the same."""
    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(f"resmap_core.cli.commands.{module}").register(sub)
    registered = {action.dest: action.help for action in sub._choices_actions}
    listed = {c.name: c.help for c in COMMANDS if c.module == module}
    assert registered == listed


def test_no_library_module_needs_the_workflow_extra():
    """pandas, PyYAML, jsonschema and Snakemake come only with ``pip install .[workflow]``."""
    modules = _modules_imported_by(
        """
        import importlib, pkgutil, resmap_core
        for info in pkgutil.walk_packages(resmap_core.__path__, "resmap_core."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
        """
    )
    assert "resmap_core.report.build" in modules  # every module was imported
    assert not [m for m in ("pandas", "yaml", "jsonschema", "snakemake") if m in modules]
