"""Validating run crates: our checks plus roc-validator's workflow-run-crate profile, offline."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from sciregistry.errors import CrateInvalid
from sciregistry.provenance import CrateFiles, read_run_crate, validate_run_crate

from .conftest import IMAGE_HEX

Doc = dict[str, Any]


def edit_metadata(crate: CrateFiles, change: Callable[[Doc, dict[str, Doc]], None]) -> bytes:
    doc = json.loads(crate.metadata)
    change(doc, {e["@id"]: e for e in doc["@graph"]})
    return json.dumps(doc).encode()


def edit_description(crate: CrateFiles, change: Callable[[Doc], None]) -> bytes:
    doc = json.loads(crate.run_description)
    change(doc)
    return json.dumps(doc).encode()


IMAGE_ID = f"#registry.example.org/lab/pipeline@sha256:{IMAGE_HEX}"


def test_valid_crate_has_no_problems_offline(crate: CrateFiles, no_network: list[object]) -> None:
    assert validate_run_crate(crate.metadata, crate.run_description) == []
    started = time.perf_counter()
    assert validate_run_crate(crate.metadata) == []
    elapsed = time.perf_counter() - started
    assert no_network == []  # nothing even tried to leave the machine
    assert elapsed < 10, f"validation took {elapsed:.1f} s"


def test_a_verdict_is_remembered_by_the_layers_digests(
    crate: CrateFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same bytes again (a CI retry, a copy to another repository) are not validated again."""
    from sciregistry.provenance import validation

    calls: list[bytes] = []
    real = validation._profile_findings
    monkeypatch.setattr(validation, "_profile_findings", lambda doc: calls.append(b"") or real(doc))
    metadata = edit_metadata(crate, lambda d, g: g["./"].update(name="remembered verdict"))
    first = validate_run_crate(metadata, crate.run_description)
    assert first == [] and len(calls) == 1
    first.append("a caller's own list")  # what a caller does with its list changes no later verdict
    assert validate_run_crate(metadata, crate.run_description) == [] and len(calls) == 1
    assert validate_run_crate(metadata) == [] and len(calls) == 2  # other layers: validated again
    unlicensed = edit_metadata(crate, lambda d, g: (g["./"].pop("license"), g["./"].update(name="x")))
    findings = validate_run_crate(unlicensed)
    assert any('"Crate license"' in p for p in findings) and len(calls) == 3
    assert validate_run_crate(unlicensed) == findings and len(calls) == 3  # findings are remembered too


def test_a_validator_failure_is_not_remembered(crate: CrateFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    """roc-validator raising may be the environment, not the crate: the next push validates again."""
    from sciregistry.provenance import validation

    real = validation._profile_findings

    def broken(doc: Doc) -> tuple[list[str], bool]:
        raise OSError("cache directory gone")

    metadata = edit_metadata(crate, lambda d, g: g["./"].update(name="validator failure"))
    monkeypatch.setattr(validation, "_profile_findings", broken)
    assert validate_run_crate(metadata) == [
        "workflow-run-crate: validator failed: OSError: cache directory gone"
    ]
    monkeypatch.setattr(validation, "_profile_findings", real)
    assert validate_run_crate(metadata) == []


def test_a_check_skipped_for_a_cache_miss_is_not_remembered(
    crate: CrateFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check the offline cache could not serve is reported, and the crate is validated again."""
    from types import SimpleNamespace

    from sciregistry.provenance import validation

    skipped = SimpleNamespace(message="offline cache miss", check=SimpleNamespace(name="Context"))
    result = SimpleNamespace(get_issues=lambda min_severity: [], skipped_check_details=[skipped])
    metadata = edit_metadata(crate, lambda d, g: g["./"].update(name="cache miss"))
    with monkeypatch.context() as m:
        m.setattr(validation, "_validator", lambda: SimpleNamespace(validate=lambda metadata_dict: result))
        assert validate_run_crate(metadata) == [
            'workflow-run-crate: check "Context" skipped: offline cache miss'
        ]
    assert validate_run_crate(metadata) == []


def test_profile_findings_are_reported(crate: CrateFiles, no_network: list[object]) -> None:
    metadata = edit_metadata(crate, lambda d, g: g["./"].pop("license"))
    problems = validate_run_crate(metadata)
    assert (
        'workflow-run-crate: workflow-ro-crate-1.0 "Crate license" [./]: The Crate (Root Data Entity) must '
        "specify a license, which should be a URL but can also be a string"
    ) in problems
    assert no_network == []


def test_formal_parameter_without_additional_type(crate: CrateFiles, no_network: list[object]) -> None:
    metadata = edit_metadata(crate, lambda d, g: g["#param/mode"].pop("additionalType"))
    problems = validate_run_crate(metadata)
    assert (
        "FormalParameter '#param/mode': additionalType None is not one of ['Boolean', 'Float', 'Integer', "
        "'Text']"
    ) in problems
    assert (
        'workflow-run-crate: workflow-run-crate-0.5 "FormalParameter additionalType" [./#param/mode]: '
        "FormalParameter MUST have an additionalType"
    ) in problems


def test_unknown_context_is_a_problem_not_a_download(crate: CrateFiles, no_network: list[object]) -> None:
    metadata = edit_metadata(crate, lambda d, g: d["@context"].append("https://example.org/context"))
    problems = validate_run_crate(metadata)
    assert problems[0] == (
        "@context refers to contexts that cannot be resolved offline: ['https://example.org/context']"
    )
    assert any("Unable to retrieve the JSON-LD context" in p for p in problems[1:])
    assert no_network == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda d, g: g["#run"].pop("containerImage"),
            "container image: entity '#run' has no containerImage",
        ),
        (
            lambda d, g: g[IMAGE_ID].__setitem__("sha256", f"sha256:{IMAGE_HEX}"),
            (
                f"ContainerImage '{IMAGE_ID}': sha256 must be the bare 64-hex manifest digest, "
                f"got 'sha256:{IMAGE_HEX}'"
            ),
        ),
        (
            lambda d, g: g["#run"].__setitem__("actionStatus", "http://schema.org/FailedActionStatus"),
            (
                "CreateAction actionStatus is 'http://schema.org/FailedActionStatus', "
                "expected 'http://schema.org/CompletedActionStatus'"
            ),
        ),
        (lambda d, g: d["@graph"].remove(g["./"]), "root data entity './' is not in @graph"),
        (
            lambda d, g: d["@graph"].remove(g["ro-crate-metadata.json"]),
            "metadata descriptor 'ro-crate-metadata.json' is not in @graph",
        ),
        (lambda d, g: d.pop("@context"), "ro-crate-metadata.json has no @context"),
        (
            lambda d, g: g["#run"].pop("instrument"),
            "no CreateAction has the main workflow 'sciregistry-run.json' as instrument",
        ),
    ],
)
def test_invalid_crate_yields_precise_problem(
    crate: CrateFiles, no_network: list[object], change: Callable[[Doc, dict[str, Doc]], None], problem: str
) -> None:
    metadata = edit_metadata(crate, change)
    assert problem in validate_run_crate(metadata, crate.run_description)
    with pytest.raises(CrateInvalid) as info:
        read_run_crate(metadata, crate.run_description)
    assert problem in info.value.detail


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        (
            b'{"@context": "x", "@graph": [}',
            "ro-crate-metadata.json is not valid JSON: Expecting value at line 1 column 30",
        ),
        (
            b"\xff{}",
            (
                "ro-crate-metadata.json is not UTF-8: 'utf-8' codec can't decode byte 0xff in position 0: "
                "invalid start byte"
            ),
        ),
        (b"[1]", "ro-crate-metadata.json must be a JSON object, got list"),
    ],
)
def test_unreadable_metadata(metadata: bytes, problem: str) -> None:
    assert validate_run_crate(metadata) == [problem]
    with pytest.raises(CrateInvalid) as info:
        read_run_crate(metadata)
    assert info.value.text == problem


def test_truncated_crate_is_broken_json(crate: CrateFiles) -> None:
    problems = validate_run_crate(crate.metadata[:-20])
    assert len(problems) == 1 and problems[0].startswith("ro-crate-metadata.json is not valid JSON: ")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda d: d["parameters"][0].__setitem__("value", 21),
            (
                "parameter 'min_quality' differs: ro-crate-metadata.json has 20 (integer), "
                "sciregistry-run.json has 21 (integer)"
            ),
        ),
        (
            lambda d: d["parameters"].pop(),
            (
                "parameter 'paired' differs: ro-crate-metadata.json has True (boolean), "
                "sciregistry-run.json has no such parameter"
            ),
        ),
        (
            lambda d: d["image"].__setitem__("digest", "sha256:" + "0" * 64),
            (
                f"image digest differs: ro-crate-metadata.json has sha256:{IMAGE_HEX} "
                "(sha256 of ContainerImage), "
                f"sciregistry-run.json has 'sha256:{'0' * 64}'"
            ),
        ),
        (
            lambda d: d["outputs"][0].__setitem__("size", 1),
            (
                "output 'counts.tsv' differs: ro-crate-metadata.json has "
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 / 1234 bytes, "
                "sciregistry-run.json has "
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 / 1 bytes"
            ),
        ),
        (
            lambda d: d["outputs"][0].__setitem__("sha256", "zz"),
            "sciregistry-run.json: $.outputs[0].sha256: 'zz' does not match '^[a-f0-9]{64}$'",
        ),
        (lambda d: d.pop("runtime"), "sciregistry-run.json: $: 'runtime' is a required property"),
    ],
)
def test_crate_and_run_description_must_agree(
    crate: CrateFiles, change: Callable[[Doc], None], problem: str
) -> None:
    description = edit_description(crate, change)
    with pytest.raises(CrateInvalid) as info:
        read_run_crate(crate.metadata, description)
    assert problem in info.value.detail
    assert problem in validate_run_crate(crate.metadata, description)


def test_run_description_bytes_are_bound_by_sha256(crate: CrateFiles) -> None:
    reformatted = json.dumps(json.loads(crate.run_description)).encode()  # same content, other bytes
    with pytest.raises(
        CrateInvalid,
        match=r"^sciregistry-run.json: sha256 in ro-crate-metadata.json is '[0-9a-f]{64}', "
        r"the file's is [0-9a-f]{64}$",
    ):
        read_run_crate(crate.metadata, reformatted)
