"""Workflow crates pushed over /v2 (any OCI client): admission, the step index, lineage, impact, DOI pins.

The crate is runcrate's conversion of a real ``cwltool --podman --provenance`` run of
``workflows/gc-workflow`` (``tests/provenance/data/runcrate-gc-workflow``, exactly as written),
completed by ``run import``'s :func:`complete_crate`; its two step images are replaced by small
images pushed here (their digests are what the crate names), so this runs without podman.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from sciregistry.client.workflows import complete_crate
from sciregistry.oci import artifacts
from sciregistry.provenance import validate

from .closure import (
    File,
    Pushed,
    _empty_config,
    _layer,
    build_closure,
    digest_of,
    mint,
    push_artifact,
    push_image,
)

CRATE = Path(__file__).resolve().parents[1] / "provenance" / "data" / "runcrate-gc-workflow"
MISSING = "sha256:" + "0" * 63 + "1"


def _crate(tmp: Path, images: dict[str, str]) -> Path:
    """A copy of the runcrate crate naming ``images`` ({repository: digest}) on registry.test."""
    crate = tmp / "crate"
    shutil.copytree(CRATE, crate)
    meta = json.loads((crate / "ro-crate-metadata.json").read_text())
    for e in meta["@graph"]:
        if e.get("@type") == "ContainerImage":
            e["registry"] = "registry.test"
            e["sha256"] = images[e["name"]].split(":", 1)[1]
    (crate / "ro-crate-metadata.json").write_text(json.dumps(meta))
    return crate


def _push(client: Any, crate: Path, *, drop: str | None = None, tag: str = "wf") -> tuple[Pushed, list[File]]:
    """Complete the crate, push its outputs as the result; return the result and the crate's layers."""
    plan = complete_crate(
        crate,
        name="GC content and summary",
        description="two steps",
        license="CC-BY-4.0",
        agent="Ada Lovelace",
        orcid="https://orcid.org/0000-0002-1825-0097",
    )
    outputs = [File(t, p.read_bytes(), "text/tab-separated-values") for p, t in plan.outputs]
    result = push_artifact(client, "lab/gc-results", tag, artifacts.RESULT, outputs)
    layers = [File(artifacts.CRATE_METADATA_NAME, plan.metadata, artifacts.CRATE_METADATA_MEDIA_TYPE)]
    layers += [File(t, p.read_bytes(), "application/octet-stream") for p, t in plan.crate_files if t != drop]
    return result, layers


def _push_crate(client: Any, result: Pushed, layers: list[File]) -> tuple[Any, str]:
    """PUT the crate manifest by digest (as any OCI client would); return the response and the digest."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": artifacts.ROCRATE,
        "config": _empty_config(client, "lab/gc-results"),
        "layers": [_layer(client, "lab/gc-results", f) for f in layers],
        "subject": result.descriptor,
    }
    data = json.dumps(manifest, separators=(",", ":")).encode()
    digest = digest_of(data)
    return client.put(
        f"/v2/lab/gc-results/manifests/{digest}",
        data=data,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    ), digest


@pytest.fixture
def images(fresh_app: Any) -> dict[str, str]:
    client = fresh_app.test_client()
    return {
        "lab/gc-content": push_image(client, "lab/gc-content", "1.0.0").digest,
        "lab/gc-summary": push_image(client, "lab/gc-summary", "1.0.0").digest,
    }


def test_workflow_crate_admitted_indexed_and_pinned(
    fresh_app: Any, images: dict[str, str], tmp_path: Path
) -> None:
    client = fresh_app.test_client()
    result, layers = _push(client, _crate(tmp_path, images))
    resp, crate_digest = _push_crate(client, result, layers)
    assert resp.status_code == 201, resp.get_data(as_text=True)

    lineage = client.get(f"/api/v1/lineage/lab/gc-results@{result.digest}").get_json()
    assert validate("api/lineage.json", lineage) == []  # the documented API shape, steps included
    run = lineage["produced_by"]
    assert run["crate_digest"] == crate_digest
    assert run["workflow"]["language"] == "cwl" and run["workflow"]["path"] == "packed.cwl"
    assert len(run["workflow"]["input_files"]) == 4
    assert [
        (s["name"], s["image"]["repository"], s["image"]["digest"], s["command"]) for s in run["steps"]
    ] == [
        ("main/gc", "lab/gc-content", images["lab/gc-content"], "packed.cwl#gc.cwl"),
        ("main/stats", "lab/gc-summary", images["lab/gc-summary"], "packed.cwl#summary.cwl"),
    ]
    assert [{p["name"]: p["value"] for p in s["parameters"]} for s in run["steps"]] == [
        {"k": "3", "min_length": "0"},
        {"min_gc": "0.5"},
    ]
    gc_table = next(o for o in run["steps"][0]["outputs"] if o["size"] == 511)
    assert run["steps"][1]["inputs"] == [gc_table]  # step 2 read what step 1 wrote
    assert sorted(p["name"] for p in run["parameters"]) == ["k", "min_gc", "min_length"]
    assert len(run["outputs"]) == 3

    for digest in images.values():  # impact of either step image: one indexed lookup finds the result
        impact = client.get(f"/api/v1/impact/{digest}").get_json()
        assert impact["results"] == [{"repository": "lab/gc-results", "digest": result.digest}]

    record = client.post(
        "/api/v1/dois",
        json={"reference": f"registry.test/lab/gc-results@{result.digest}", "title": "GC workflow"},
    )
    assert record.status_code == 201, record.get_data(as_text=True)
    doi = record.get_json()["doi"]
    meta = record.get_json()["metadata"]
    compiled = [
        r["relatedIdentifier"] for r in meta["relatedIdentifiers"] if r["relationType"] == "IsCompiledBy"
    ]
    assert [c.rsplit("/manifests/", 1)[1] for c in compiled] == [
        images["lab/gc-content"],
        images["lab/gc-summary"],
    ]
    technical = next(
        d["description"] for d in meta["descriptions"] if d["descriptionType"] == "TechnicalInfo"
    )
    assert (
        f"Step 2 main/stats: container image registry.test/lab/gc-summary@{images['lab/gc-summary']}."
        in technical
    )
    for repo, digest in images.items():
        refused = client.delete(f"/v2/{repo}/manifests/{digest}")
        assert refused.status_code == 403
        assert f"{digest} is pinned by DOI {doi}" in refused.get_json()["errors"][0]["message"]
    # the crate's layers (packed.cwl, the input files) are pinned with it
    blob = next(f for f in layers if f.path == "packed.cwl")
    assert client.delete(f"/v2/lab/gc-results/blobs/{blob.digest}").status_code in (403, 405)

    page = client.get(f"/doi/{doi}", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'id="steps"' in page
    first = page.index(f"lab/gc-content@{images['lab/gc-content']}")
    second = page.index(f"lab/gc-summary@{images['lab/gc-summary']}")
    assert first < second
    assert "packed.cwl#gc.cwl" in page and "min_gc=0.5" in page


def test_crate_naming_an_image_the_registry_lacks_is_refused(
    fresh_app: Any, images: dict[str, str], tmp_path: Path
) -> None:
    client = fresh_app.test_client()
    result, layers = _push(client, _crate(tmp_path, {**images, "lab/gc-summary": MISSING}))
    resp, digest = _push_crate(client, result, layers)
    assert resp.status_code == 400
    body = resp.get_json()["errors"][0]
    assert body["code"] == "MANIFEST_INVALID"
    assert body["detail"]["problems"] == [
        f"step 'main/stats': image lab/gc-summary@{MISSING} is not in this registry (push it first)"
    ]
    assert client.get(f"/v2/lab/gc-results/manifests/{digest}").status_code == 404  # nothing stored
    assert client.get(f"/api/v1/lineage/lab/gc-results@{result.digest}").get_json()["produced_by"] is None


def test_every_missing_step_image_is_named_once(
    fresh_app: Any, images: dict[str, str], tmp_path: Path
) -> None:
    client = fresh_app.test_client()
    other = "sha256:" + "0" * 63 + "2"
    result, layers = _push(client, _crate(tmp_path, {"lab/gc-content": other, "lab/gc-summary": MISSING}))
    resp, _digest = _push_crate(client, result, layers)
    assert resp.status_code == 400
    assert resp.get_json()["errors"][0]["detail"]["problems"] == [
        f"step 'main/gc': image lab/gc-content@{other} is not in this registry (push it first)",
        f"step 'main/stats': image lab/gc-summary@{MISSING} is not in this registry (push it first)",
    ]


def test_crate_without_its_workflow_definition_is_refused(
    fresh_app: Any, images: dict[str, str], tmp_path: Path
) -> None:
    client = fresh_app.test_client()
    result, layers = _push(client, _crate(tmp_path, images), drop="packed.cwl")
    resp, _digest = _push_crate(client, result, layers)
    assert resp.status_code == 400
    assert resp.get_json()["errors"][0]["detail"]["problems"] == [
        "workflow definition 'packed.cwl' is not a layer of the crate artifact: the crate must carry it"
    ]


def test_single_image_runs_are_their_one_step(fresh_app: Any) -> None:
    client = fresh_app.test_client()
    c = build_closure(client)
    lineage = client.get(f"/api/v1/lineage/{c.result_ref}").get_json()
    assert validate("api/lineage.json", lineage) == []
    run = lineage["produced_by"]
    assert run["workflow"] is None
    assert [(s["name"], s["image"]["digest"], s["command"]) for s in run["steps"]] == [
        (c.run.name, c.image.digest, c.run.command)
    ]
    assert run["image"]["digest"] == c.image.digest and run["command"] == c.run.command  # unchanged fields
    mint(client, c, title="single")
