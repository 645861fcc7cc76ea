"""The JSON Schemas: one source tree (schemas/), one byte-identical copy in the package, all valid 2020-12."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from sciregistry.provenance import load_schema, schema_names, validate

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "schemas"
PACKAGED = ROOT / "sciregistry" / "data" / "schemas"
EXPECTED = [
    "api/error.json",
    "api/impact.json",
    "api/lineage.json",
    "api/run-list.json",
    "api/run.json",
    "dataset-annotations.schema.json",
    "reproduction-report.schema.json",
    "result-annotations.schema.json",
    "run.schema.json",
]
DIGEST = "sha256:" + "ab" * 32


def tree(base: Path) -> dict[str, bytes]:
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def test_package_copy_is_byte_identical() -> None:
    source, packaged = tree(SOURCE), tree(PACKAGED)
    assert sorted(source) == EXPECTED
    assert sorted(packaged) == sorted(source), (
        "run: rm -r sciregistry/data/schemas && cp -r schemas sciregistry/data/"
    )
    for name, content in source.items():
        assert packaged[name] == content, f"sciregistry/data/schemas/{name} differs from schemas/{name}"


def test_loader_sees_every_packaged_schema() -> None:
    assert schema_names() == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_schema_is_valid_2020_12(name: str) -> None:
    schema = json.loads((SOURCE / name).read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://sciregistry.org/schemas/{name}"
    Draft202012Validator.check_schema(schema)  # raises SchemaError when invalid
    assert load_schema(name) == schema
    assert load_schema(schema["$id"]) == schema


def test_metaschema_check_can_fail() -> None:
    with pytest.raises(SchemaError):
        Draft202012Validator.check_schema({"type": "object", "required": "name"})


def test_load_schema_names_and_copies() -> None:
    assert load_schema("run") == load_schema("run.schema.json")
    assert load_schema("api/run")["title"] == "Run"
    load_schema("run")["title"] = "changed"
    assert load_schema("run")["title"] == "sciregistry run description"
    with pytest.raises(KeyError, match="unknown schema 'nope'"):
        load_schema("nope")


def api_run(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": "r-1",
        "repository": "lab/results",
        "result_digest": DIGEST,
        "crate_digest": DIGEST,
        "image": {"repository": "lab/pipeline", "digest": DIGEST, "index_digest": None, "tag": "1.2"},
        "parameters": [{"name": "min_quality", "value": 20, "type": "integer"}],
        "inputs": [{"name": "reads", "repository": "lab/reads", "digest": DIGEST}],
        "outputs": [{"path": "counts.tsv", "sha256": "ab" * 32, "size": 3}],
        "agent": {"name": "Ada Lovelace", "orcid": "https://orcid.org/0000-0002-1825-0097"},
        "started": "2024-05-01T12:00:00Z",
        "ended": "2024-05-01T12:05:00+02:00",
        "created_at": "2024-05-01T12:06:00Z",
    }
    body.update(changes)
    return body


def test_api_bodies() -> None:
    assert validate("api/run", api_run()) == []
    assert validate("api/run", api_run(agent=None)) == []
    assert validate("api/run-list", {"items": [api_run()], "next": None}) == []
    assert validate(
        "api/run-list", {"items": [api_run(started="yesterday")], "next": "/api/v1/runs?page=2"}
    ) == ["$.items[0].started: 'yesterday' is not a 'date-time'"]
    assert (
        validate("api/error", {"errors": [{"code": "CRATE_INVALID", "message": "x", "detail": ["y"]}]}) == []
    )
    assert validate("api/error", {"errors": []}) == ["$.errors: [] should be non-empty"]
    node = {
        "subject": {"repository": "lab/results", "digest": DIGEST},
        "produced_by": api_run(),
        "inputs": [
            {"subject": {"repository": "lab/reads", "digest": DIGEST}, "produced_by": None, "inputs": []}
        ],
    }
    assert validate("api/lineage", node) == []
    assert validate(
        "api/lineage", {**node, "inputs": [{"subject": {}, "produced_by": None, "inputs": []}]}
    ) == [
        "$.inputs[0].subject: 'digest' is a required property",
        "$.inputs[0].subject: 'repository' is a required property",
    ]
    impact = {
        "subject": {"repository": "lab/reads", "digest": DIGEST},
        "runs": [api_run()],
        "dois": [{"doi": "10.5072/abcd-1234", "repository": "lab/results", "result_digest": DIGEST}],
    }
    assert validate("api/impact", impact) == []
    assert validate("api/impact", {**impact, "dois": [{**impact["dois"][0], "doi": "10.5072/ABCD"}]}) == [  # type: ignore[index]
        "$.dois[0].doi: '10.5072/ABCD' does not match '^10\\\\.[0-9]{4,9}/[^A-Z\\\\s]+$'"
    ]


def test_annotations() -> None:
    good = {
        "org.opencontainers.image.title": "Reads",
        "org.opencontainers.image.created": "2024-05-01T12:00:00Z",
        "org.sciregistry.license": "CC-BY-4.0",
        "org.sciregistry.creators": "Ada Lovelace <https://orcid.org/0000-0002-1825-0097>; Alan Turing",
        "com.example.anything": "free",
    }
    assert validate("dataset-annotations", good) == []
    assert validate("result-annotations", {}) == []
    assert validate("dataset-annotations", {"org.sciregistry.creators": "Ada <0000-0002-1825-0097>"}) == [
        "$: 'org.opencontainers.image.title' is a required property",
        "$[\"org.sciregistry.creators\"]: 'Ada <0000-0002-1825-0097>' does not match "
        + repr(load_schema("dataset-annotations")["$defs"]["creators"]["pattern"]),
    ]
    layer = load_schema("result-annotations")["$defs"]["layer"]
    assert Draft202012Validator(layer).is_valid({"org.opencontainers.image.title": "plots/hist.png"})
    assert not Draft202012Validator(layer).is_valid({"org.opencontainers.image.title": "../escape"})
    assert not Draft202012Validator(layer).is_valid({"org.opencontainers.image.title": "/abs"})


def test_run_description_schema() -> None:
    doc = {
        "version": "1",
        "command": "run {n}",
        "parameters": [{"name": "n", "value": 1.5, "type": "integer"}],
        "inputs": [
            {"name": "reads", "reference": f"lab/reads@{DIGEST}", "digest": DIGEST, "mount": "/in/reads"}
        ],
        "outputs": [],
        "image": {"registry": "127.0.0.1:5000", "name": "lab/pipeline", "digest": DIGEST},
        "runtime": {"kind": "oci", "env": {"A": "1"}},
        "started": "2024-05-01T12:00:00Z",
        "ended": "2024-05-01T12:00:00",
    }
    assert validate("run", doc) == [
        "$.ended: '2024-05-01T12:00:00' is not a 'date-time'",
        "$.inputs[0].mount: '/in/reads' does not match '^/in/[A-Za-z0-9_][A-Za-z0-9_.-]*/$'",
        "$.parameters[0].value: 1.5 is not of type 'integer'",
    ]
