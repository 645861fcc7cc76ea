"""Run crate admission through /v2: refused crates say exactly why, and nothing of them is indexed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sciregistry.oci import OCI_MANIFEST, artifacts, compute

from .closure import File, _empty_config, _layer, build_closure


def _push_crate(client: Any, closure: Any, metadata: bytes, run_description: bytes | None = None) -> Any:
    """PUT a crate manifest by digest and return the raw response (no status assertion)."""
    layers = [File(artifacts.CRATE_METADATA_NAME, metadata, artifacts.CRATE_METADATA_MEDIA_TYPE)]
    if run_description is not None:
        layers.append(
            File(artifacts.RUN_DESCRIPTION_NAME, run_description, artifacts.RUN_DESCRIPTION_MEDIA_TYPE)
        )
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifacts.ROCRATE,
        "config": _empty_config(client, "lab/results"),
        "layers": [_layer(client, "lab/results", f) for f in layers],
        "subject": closure.result.descriptor,
    }
    data = json.dumps(manifest).encode()
    return client.put(
        f"/v2/lab/results/manifests/{compute(data)}", data=data, headers={"Content-Type": OCI_MANIFEST}
    )


def _index_counts(client: Any) -> tuple[int, int]:
    runs = client.get("/api/v1/runs?limit=1000").get_json()["items"]
    return len(runs), len([r for r in runs if r["repository"] == "lab/results"])


@pytest.fixture
def closure(client: Any) -> Any:
    return build_closure(client)


def _problems(resp: Any) -> list[str]:
    body = resp.get_json()
    assert resp.status_code == 400, body
    err = body["errors"][0]
    assert err["code"] == "MANIFEST_INVALID"
    return err["detail"]["problems"]


def test_invalid_json_ld_is_refused_and_not_indexed(client: Any, closure: Any) -> None:
    before = _index_counts(client)
    resp = _push_crate(
        client,
        closure,
        b'{"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": [',
        closure.run_description,
    )
    problems = _problems(resp)
    assert any("not valid JSON" in p or "JSON" in p for p in problems), problems
    assert _index_counts(client) == before
    refs = client.get(f"/v2/lab/results/referrers/{closure.result.digest}?artifactType={artifacts.ROCRATE}")
    assert len(refs.get_json()["manifests"]) == 1  # only the crate build_closure pushed


def test_crate_failing_the_profile_is_refused_with_the_profile_problem(client: Any, closure: Any) -> None:
    doc = json.loads(closure.crate_bytes)
    # drop the CreateAction's instrument (the Process Run Crate profile requires it)
    for entity in doc["@graph"]:
        if entity.get("@type") == "CreateAction" or "CreateAction" in (entity.get("@type") or []):
            entity.pop("instrument", None)
    before = _index_counts(client)
    resp = _push_crate(client, closure, json.dumps(doc).encode(), None)
    problems = _problems(resp)
    assert problems, "a crate without instrument must be refused"
    assert any("instrument" in p.lower() for p in problems), problems
    assert _index_counts(client) == before


def test_refused_crate_leaves_no_manifest_behind(client: Any, closure: Any) -> None:
    tampered = closure.crate_bytes.replace(closure.image.digest.split(":")[1].encode(), b"0" * 64)
    resp = _push_crate(client, closure, tampered, None)
    problems = _problems(resp)
    assert any("not in this registry" in p for p in problems), problems
    listed = client.get(f"/v2/lab/results/referrers/{closure.result.digest}").get_json()["manifests"]
    assert [m["digest"] for m in listed] == [closure.crate.digest]
