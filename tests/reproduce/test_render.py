"""render_command, default output directories and the report schema (no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sciregistry.client.reproduce import VERDICTS, default_out_dir, format_value, render_command
from sciregistry.provenance import load_schema, validate

ROOT = Path(__file__).resolve().parents[2]


def test_render_replaces_each_placeholder_with_its_value() -> None:
    assert (
        render_command(
            "gc-content.sh --k {k} --min-length {min_length} /in/reads /out", {"k": 3, "min_length": 100}
        )
        == "gc-content.sh --k 3 --min-length 100 /in/reads /out"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3, "3"),
        (-1, "-1"),
        (0.25, "0.25"),
        (True, "true"),
        (False, "false"),
        ("fast", "fast"),
        ("ref/hg38.fa", "ref/hg38.fa"),
        ("a b", "'a b'"),
        ("x;rm -rf /", "'x;rm -rf /'"),
        ("$(id)", "'$(id)'"),
        ("it's", "'it'\"'\"'s'"),
        ("", "''"),
        ("*.fa", "'*.fa'"),
    ],
)
def test_values_are_quoted_unless_plain(value: object, text: str) -> None:
    assert format_value(value) == text
    assert render_command("run {v}", {"v": value}) == f"run {text}"


def test_unknown_placeholder_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"\{mode\}.*recorded parameters: k"):
        render_command("count --k {k} --mode {mode}", {"k": 1})


def test_shell_braces_are_not_placeholders() -> None:
    assert (
        render_command("echo ${HOME} {k} && awk '{print $1}'", {"k": 2})
        == "echo ${HOME} 2 && awk '{print $1}'"
    )


def test_unused_parameters_and_repeats() -> None:
    assert render_command("{a}-{a}", {"a": "x", "unused": 1}) == "x-x"


def test_non_scalar_value_is_refused() -> None:
    with pytest.raises(ValueError, match="not a scalar"):
        format_value(["a"])


@pytest.mark.parametrize(
    ("doi", "name"),
    [("10.5072/abcd-1234", "reproduce-abcd-1234"), ("10.5438/ZENODO.12/X Y", "reproduce-zenodo.12-x-y")],
)
def test_default_out_dir(doi: str, name: str) -> None:
    assert default_out_dir(doi) == Path(name)


def test_schema_copies_are_byte_identical() -> None:
    source = ROOT / "schemas" / "reproduction-report.schema.json"
    packaged = ROOT / "sciregistry" / "data" / "schemas" / "reproduction-report.schema.json"
    assert source.read_bytes() == packaged.read_bytes()
    schema = load_schema("reproduction-report.schema.json")
    assert schema["$id"] == "https://sciregistry.org/schemas/reproduction-report.schema.json"
    assert tuple(schema["properties"]["verdict"]["enum"]) == VERDICTS


def test_schema_rejects_an_unknown_verdict() -> None:
    problems = validate("reproduction-report.schema.json", {"verdict": "MAYBE"})
    assert any("MAYBE" in p for p in problems)
    assert any("'doi' is a required property" in p for p in problems)


def test_cli_module_registers_the_command() -> None:
    from sciregistry.cli import main
    from sciregistry.cli import reproduce as _  # noqa: F401

    assert "reproduce" in main.commands
    params = {p.name for p in main.commands["reproduce"].params}
    assert {"registry", "out_dir", "runtime", "attach", "insecure", "as_json"} <= params
    assert json.dumps(sorted(params))  # the names are plain strings
