"""One table of defaults (resmap_core/defaults.py) and everything that must agree with it.

The library's ``Params`` and windowed-FSC constants, the download policy, every ``resmap``
option named in the table (read from the real parsers), the JSON-schema defaults, the shipped
config/config.yaml and the tables of config/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

import jsonschema
import pytest
import yaml

from resmap_core import defaults
from resmap_core.cli.commands._common import OUTSIDE_VALUES
from resmap_core.cli.main import COMMANDS, command_parser
from resmap_core.defaults import ANALYSIS, DOWNLOAD, TABLE, Default, Value

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())

#: Params field → table row (the library's names carry the unit).
PARAMS_ROWS = {
    "p_value": "p_value",
    "min_res_A": "min_res",
    "max_res_A": "max_res",
    "step_res_A": "step_res",
    "kernel": "kernel",
    "prewhiten": "prewhiten",
    "lowpass_check": "lowpass_check",
    "fdr_mode": "fdr_mode",
    "outside": "outside",
    "estimator": "estimator",
    "band_width": "band_width",
    "band_window": "band_window",
}
CLI_CASES = [(row, command) for row in TABLE if row.cli_flag for command in row.commands]
CONFIG_ROWS = [row for row in TABLE if row.config_key]


def same(a: object, b: object) -> bool:
    """Equal values of the same kind (True is not 1; NaN equals NaN)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def library_value(row: Default) -> Value:
    """The table's value as the library holds it (``outside``: the text becomes Å)."""
    if row.name == "outside":
        assert isinstance(row.value, str)
        return OUTSIDE_VALUES[row.value]
    return row.value


def lookup(tree: dict, dotted: str) -> object:
    """``tree["a"]["b"]`` for ``"a.b"``."""
    for part in dotted.split("."):
        tree = tree[part]
    return tree


def schema_property(dotted: str) -> dict:
    """The schema of config key ``dotted`` ($refs into $defs resolved)."""
    node = {"properties": SCHEMA["properties"]}
    for part in dotted.split("."):
        node = node["properties"][part]
        if "$ref" in node:
            node = lookup(SCHEMA, node["$ref"].removeprefix("#/").replace("/", "."))
    return node


# ---- the table itself --------------------------------------------------------------------------


def test_names_are_unique_and_rows_complete() -> None:
    assert len({row.name for row in TABLE}) == len(TABLE)
    known = {command.name for command in COMMANDS}
    for row in TABLE:
        assert row.group in (ANALYSIS, DOWNLOAD) and row.meaning
        assert bool(row.cli_flag) == bool(row.commands), row.name
        assert set(row.commands) <= known, row.name
        assert row.config_key or row.cli_flag, f"{row.name} is set nowhere"


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.name)
def test_yaml_text_reads_back_as_the_value(row: Default) -> None:
    assert same(yaml.safe_load(defaults.yaml_text(row.value)), row.value)


# ---- the library -------------------------------------------------------------------------------


def test_params_defaults_are_the_table() -> None:
    from resmap_core.localres.scan import Params

    fields = {f.name: f.default for f in dataclasses.fields(Params)}
    assert set(fields) == set(PARAMS_ROWS), "a Params field without a row in defaults.py"
    for field, name in PARAMS_ROWS.items():
        expected = library_value(defaults.DEFAULTS[name])
        assert same(fields[field], expected), f"Params.{field} = {fields[field]!r}, {expected!r}"


def test_windowed_fsc_constants_are_the_table() -> None:
    from resmap_core.fsc import windowed

    assert windowed.DEFAULT_BOX == defaults.value("windowed_fsc.box")
    assert windowed.DEFAULT_STEP == defaults.value("windowed_fsc.step")


def test_download_policy_and_mirror_are_the_table() -> None:
    from resmap_core.io.emdb import DEFAULT_BASE_URL, DownloadPolicy

    policy = DownloadPolicy()
    assert DEFAULT_BASE_URL == defaults.value("emdb_base_url")
    assert same(policy.timeout_s, defaults.value("download.timeout_s"))
    assert same(policy.retries, defaults.value("download.retries"))
    assert same(policy.backoff_s, defaults.value("download.backoff_s"))


# ---- the command line ---------------------------------------------------------------------------


def option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action:
    """The action of ``flag`` in ``parser``."""
    matches = [a for a in parser._actions if flag in a.option_strings]
    assert len(matches) == 1, f"{parser.prog} has no option {flag}"
    return matches[0]


@pytest.mark.parametrize(
    ("row", "command"), CLI_CASES, ids=[f"{c}{r.cli_flag}" for r, c in CLI_CASES]
)
def test_cli_default_is_the_table(row: Default, command: str) -> None:
    assert row.cli_flag is not None
    action = option(command_parser(command), row.cli_flag)
    given = action.default
    if isinstance(given, str) and callable(action.type):
        given = action.type(given)  # argparse converts string defaults, so compare converted
    if row.cli_flag.startswith("--no-"):
        # a switch that turns a true default off
        assert row.value is True and given is False, f"resmap {command} {row.cli_flag}"
        return
    expected = library_value(row)
    assert same(given, expected), f"resmap {command} {row.cli_flag}: {given!r}, table {expected!r}"
    if action.choices is not None:
        assert row.value in action.choices


# ---- the workflow ------------------------------------------------------------------------------


@pytest.mark.parametrize("row", CONFIG_ROWS, ids=lambda r: r.name)
def test_schema_default_is_the_table(row: Default) -> None:
    assert row.config_key is not None
    node = schema_property(row.config_key)
    assert "default" in node, f"{row.config_key} has no default in config.schema.yaml"
    assert same(node["default"], row.value), f"{row.config_key}: {node['default']!r}"


@pytest.mark.parametrize("row", CONFIG_ROWS, ids=lambda r: r.name)
def test_shipped_config_sets_the_table_value(row: Default) -> None:
    assert row.config_key is not None
    assert same(lookup(CONFIG, row.config_key), row.value), row.config_key


def test_every_schema_parameter_has_a_row() -> None:
    """The workflow takes every default it applies from the table (common.smk's DEFAULTS)."""
    analysis = defaults.config_defaults(ANALYSIS)
    parameters = SCHEMA["$defs"]["parameters"]
    assert set(analysis) == set(parameters)
    for key, section in analysis.items():
        if isinstance(section, dict):
            assert set(section) == set(parameters[key]["properties"]), key
    download = defaults.config_defaults(DOWNLOAD)
    assert set(download["download"]) == set(SCHEMA["properties"]["download"]["properties"])


def test_the_defaults_are_a_valid_config() -> None:
    cfg = {"datasets": {}, **defaults.config_defaults(ANALYSIS)}
    cfg |= defaults.config_defaults(DOWNLOAD)
    jsonschema.validate(cfg, SCHEMA)


@pytest.mark.parametrize(("key", "field"), [("band.width", "band_width"),
                                            ("band.window", "band_window")])  # fmt: skip
def test_schema_bounds_of_the_band_constants_are_those_the_library_accepts(
    key: str, field: str
) -> None:
    """A config the schema accepts never stops a band job (``Params.check``), and the other way
    round."""
    from resmap_core.errors import InputError
    from resmap_core.localres.params import Params

    node = schema_property(key)
    for value in (node["minimum"], node["maximum"]):
        Params(**{field: value}).check()
    for value in (0.99 * node["minimum"], 1.01 * node["maximum"]):
        with pytest.raises(InputError):
            Params(**{field: value}).check()


def test_common_smk_takes_its_defaults_from_the_table() -> None:
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert "DEFAULTS = config_defaults(ANALYSIS)" in common
    assert "DOWNLOAD_DEFAULTS = config_defaults(DOWNLOAD)" in common


@pytest.mark.parametrize("group", [ANALYSIS, DOWNLOAD])
def test_config_readme_shows_the_table(group: str) -> None:
    readme = (REPO / "config" / "README.md").read_text()
    assert defaults.markdown_table(group) in readme, (
        f"the {group} table of config/README.md differs from resmap_core/defaults.py; "
        "print it with: python -m resmap_core.defaults"
    )
