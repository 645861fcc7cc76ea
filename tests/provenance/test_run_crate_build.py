"""Building and reading run crates (Workflow Run Crate 0.5 on RO-Crate 1.1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rocrate.rocrate import ROCrate

from sciregistry.errors import CrateInvalid
from sciregistry.provenance import (
    COMPLETED_ACTION_STATUS,
    DOCKER_IMAGE,
    Agent,
    CrateFiles,
    FileRef,
    Parameter,
    RunRecord,
    build_run_crate,
    read_run_crate,
    validate,
    validate_run_crate,
)

from .conftest import COUNTS_SHA, IMAGE_HEX, READS_HEX, RESULT_HEX, make_run


def graph(crate: CrateFiles) -> dict[str, dict[str, Any]]:
    return {e["@id"]: e for e in json.loads(crate.metadata)["@graph"]}


def test_build_is_deterministic(run: RunRecord) -> None:
    first, second = build_run_crate(run), build_run_crate(make_run())
    assert first.metadata == second.metadata
    assert first.run_description == second.run_description


def test_context_profiles_and_root(crate: CrateFiles) -> None:
    doc = json.loads(crate.metadata)
    assert doc["@context"] == [
        "https://w3id.org/ro/crate/1.1/context",
        "https://w3id.org/ro/terms/workflow-run/context",
    ]
    g = graph(crate)
    assert g["ro-crate-metadata.json"]["conformsTo"] == [
        {"@id": "https://w3id.org/ro/crate/1.1"},
        {"@id": "https://w3id.org/workflowhub/workflow-ro-crate/1.0"},
    ]
    root = g["./"]
    assert root["conformsTo"] == [
        {"@id": "https://w3id.org/ro/wfrun/process/0.5"},
        {"@id": "https://w3id.org/ro/wfrun/workflow/0.5"},
        {"@id": "https://w3id.org/workflowhub/workflow-ro-crate/1.0"},
    ]
    assert root["datePublished"] == "2024-05-01T14:05:30+02:00"  # run.ended, never "now"
    assert root["mainEntity"] == {"@id": "sciregistry-run.json"}
    assert root["license"] == {"@id": "https://spdx.org/licenses/CC-BY-4.0"}
    assert g["https://spdx.org/licenses/CC-BY-4.0"]["identifier"] == "CC-BY-4.0"


def test_create_action_shape(crate: CrateFiles) -> None:
    g = graph(crate)
    action = g["#run"]
    assert action["@type"] == "CreateAction"
    assert action["actionStatus"] == COMPLETED_ACTION_STATUS == "http://schema.org/CompletedActionStatus"
    assert action["instrument"] == {"@id": "sciregistry-run.json"}
    assert action["startTime"] == "2024-05-01T12:00:00+00:00"
    assert action["agent"] == {"@id": "https://orcid.org/0000-0002-1825-0097"}
    assert g["https://orcid.org/0000-0002-1825-0097"] == {
        "@id": "https://orcid.org/0000-0002-1825-0097",
        "@type": "Person",
        "name": "Ada Lovelace",
    }

    image = g[action["containerImage"]["@id"]]
    assert image == {
        "@id": f"#registry.example.org/lab/pipeline@sha256:{IMAGE_HEX}",
        "@type": "ContainerImage",
        "additionalType": {"@id": DOCKER_IMAGE},
        "registry": "registry.example.org",
        "name": "lab/pipeline",
        "tag": "1.2",
        "sha256": IMAGE_HEX,
    }

    objects = [g[o["@id"]] for o in action["object"]]
    dataset = objects[0]
    assert dataset["@type"] == "Dataset"
    assert dataset["@id"] == f"#registry.example.org/lab/reads@sha256:{READS_HEX}"
    assert dataset["identifier"] == f"registry.example.org/lab/reads@sha256:{READS_HEX}"
    assert [g[p["@id"]]["sha256"] for p in dataset["hasPart"]] == ["1" * 64, "2" * 64]
    values = {o["name"]: o["value"] for o in objects[1:]}
    assert values == {"min_quality": 20, "mode": "fast", "ratio": 0.25, "paired": True}
    for value in objects[1:]:
        formal = g[value["exampleOfWork"]["@id"]]
        assert formal["@type"] == "FormalParameter"
        assert formal["workExample"] == {"@id": value["@id"]}
    assert g["#param/min_quality"]["additionalType"] == "Integer"
    assert g["#param/paired"]["additionalType"] == "Boolean"

    results = [g[r["@id"]] for r in action["result"]]
    assert [(r["@id"], r.get("sha256"), r.get("contentSize")) for r in results] == [
        ("counts.tsv", COUNTS_SHA, 1234),
        ("plots/hist.png", "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752", 99),
        (f"#registry.example.org/lab/results@sha256:{RESULT_HEX}", None, None),
    ]


def test_run_description_is_schema_valid_and_described(crate: CrateFiles) -> None:
    description = json.loads(crate.run_description)
    assert validate("run.schema.json", description) == []
    assert description["image"] == {
        "registry": "registry.example.org",
        "name": "lab/pipeline",
        "tag": "1.2",
        "digest": f"sha256:{IMAGE_HEX}",
    }
    assert description["inputs"][0]["mount"] == "/in/reads/"
    assert description["runtime"] == {"kind": "oci"}
    entity = graph(crate)["sciregistry-run.json"]
    assert entity["@type"] == ["File", "SoftwareSourceCode", "ComputationalWorkflow"]
    assert entity["encodingFormat"] == "application/vnd.sciregistry.run.v1+json"
    assert entity["contentSize"] == len(crate.run_description)
    assert entity["text"] == description["command"]


def test_read_back_gives_equal_values(run: RunRecord, crate: CrateFiles) -> None:
    assert read_run_crate(crate.metadata, crate.run_description) == run
    assert read_run_crate(crate.metadata) == run


@pytest.mark.parametrize(
    "changes",
    [
        {
            "agent": None,
            "license": None,
            "description": "",
            "result_reference": None,
            "parameters": [],
            "inputs": [],
        },
        {"agent": Agent("Alan Turing"), "license": "https://example.org/licence", "outputs": []},
        {"workflow": FileRef("workflow/Snakefile", "7" * 64, 42, "text/x-snakemake")},
        # times not recorded: absent from the crate, None again when read back
        {"started": None, "ended": None, "recorded": datetime(2024, 5, 2, 9, 0, tzinfo=UTC)},
    ],
)
def test_variants_round_trip(changes: dict[str, object]) -> None:
    run = make_run(**changes)
    crate = build_run_crate(run)
    assert read_run_crate(crate.metadata, crate.run_description) == run


def test_a_run_without_times_needs_the_time_it_was_recorded() -> None:
    run = make_run(started=None, ended=None)
    with pytest.raises(CrateInvalid, match="recorded"):
        build_run_crate(run)
    crate = build_run_crate(
        make_run(started=None, ended=None, recorded=datetime(2024, 5, 2, 9, 0, tzinfo=UTC))
    )
    doc = json.loads(crate.metadata)
    action = next(e for e in doc["@graph"] if e.get("@type") == "CreateAction")
    assert "startTime" not in action and "endTime" not in action
    root = next(e for e in doc["@graph"] if e["@id"] == "./")
    assert root["datePublished"] == "2024-05-02T09:00:00+00:00"
    assert validate_run_crate(crate.metadata, crate.run_description) == []


def test_ro_crate_py_reads_the_written_crate(tmp_path: Path, crate: CrateFiles) -> None:
    (tmp_path / "ro-crate-metadata.json").write_bytes(crate.metadata)
    (tmp_path / "sciregistry-run.json").write_bytes(crate.run_description)
    loaded = ROCrate(tmp_path)
    assert loaded.version == "1.1"
    action = loaded.get("#run")
    assert action.type == "CreateAction"
    assert action["containerImage"]["sha256"] == IMAGE_HEX
    values = {o["name"]: o["value"] for o in action["object"] if o.type == "PropertyValue"}
    assert values == {"min_quality": 20, "mode": "fast", "ratio": 0.25, "paired": True}
    assert loaded.mainEntity.id == "sciregistry-run.json"


def test_parameter_types_are_inferred() -> None:
    assert [Parameter("a", v).type for v in ("x", 3, 2.5, False)] == [
        "string",
        "integer",
        "number",
        "boolean",
    ]
    assert Parameter("a", 3, "number").value == 3.0
    with pytest.raises(ValueError, match="value 'x' is not of type 'integer'"):
        Parameter("a", "x", "integer")


def test_build_rejects_a_run_description_outside_the_schema() -> None:
    with pytest.raises(CrateInvalid) as info:
        build_run_crate(make_run(parameters=[Parameter("min quality", 20)]))
    assert info.value.text == (
        "sciregistry-run.json does not satisfy run.schema.json: $.parameters[0].name: "
        "'min quality' does not match '^[A-Za-z_][A-Za-z0-9_.-]*$'"
    )


def test_build_rejects_outputs_clashing_with_crate_layers() -> None:
    with pytest.raises(CrateInvalid, match="'sciregistry-run.json' is used twice or clashes"):
        build_run_crate(make_run(outputs=[FileRef("sciregistry-run.json", COUNTS_SHA, 1)]))
