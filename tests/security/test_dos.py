"""#10 denial of service: manifests, run crates and upload sessions cannot tie up the registry.

- a manifest with tens of thousands of layers is handled in linear time, with bounded queries;
- a run crate is read and validated before the repository's write lock, and bounded in size;
- deeply nested JSON in a crate layer is MANIFEST_INVALID, never a 500;
- open upload sessions are capped per principal, and idle ones expire while the server runs.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from sciregistry.oci import OCI_MANIFEST, artifacts
from tests.conftest import make_config, start_server

EMPTY = {
    "mediaType": "application/vnd.oci.empty.v1+json",
    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    "size": 2,
}


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push_blob(client: Any, repo: str, data: bytes) -> dict[str, Any]:
    d = _digest(data)
    r = client.post(
        f"/v2/{repo}/blobs/uploads/?digest={d}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    return {"mediaType": "application/octet-stream", "digest": d, "size": len(data)}


def _put_manifest(client: Any, repo: str, manifest: dict[str, Any], ref: str | None = None) -> Any:
    data = json.dumps(manifest, separators=(",", ":")).encode()
    return client.put(
        f"/v2/{repo}/manifests/{ref or _digest(data)}", data=data, headers={"Content-Type": OCI_MANIFEST}
    )


def _error(resp: Any) -> dict[str, Any]:
    body = resp.get_json()
    assert body and "errors" in body, resp.get_data(as_text=True)[:500]
    return body["errors"][0]


@pytest.fixture
def make_app(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    from sciregistry.app import create_app

    apps = []

    def factory(**extra: Any) -> Any:
        app = create_app(make_config(tmp_path, database_url=database_url, **extra))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["sciregistry"].engine.dispose()


# --- manifests with very many layers ----------------------------------------------------------------


def test_manifest_with_38000_missing_layers_is_refused_quickly(make_app: Any) -> None:
    """38,000 distinct layers (3.9 MiB, under the 4 MiB cap): refused with MANIFEST_BLOB_UNKNOWN in
    linear time (before: a quadratic de-duplication held the write lock for tens of seconds, then
    more bound variables than SQLite allows made it a 503); the detail names a bounded sample."""
    client = make_app().test_client()
    layers = [{"mediaType": "x", "digest": f"sha256:{i:064x}", "size": 1} for i in range(38_000)]
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": EMPTY, "layers": layers}
    start = time.monotonic()
    r = _put_manifest(client, "big/manifest", manifest, "v1")
    took = time.monotonic() - start
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    err = _error(r)
    assert err["code"] == "MANIFEST_BLOB_UNKNOWN"
    assert err["detail"]["missing_count"] == 38_000 and len(err["detail"]["missing"]) == 100
    assert len(r.get_data()) < 20_000
    assert took < 8.0, f"refusing a 38,000-layer manifest took {took:.1f} s"


def test_manifest_with_many_layers_is_accepted_and_its_references_recorded(make_app: Any) -> None:
    """The same layer repeated 30,000 times plus a few distinct ones: stored, references de-duplicated."""
    client = make_app().test_client()
    blobs = [_push_blob(client, "big/ok", f"layer {i}".encode()) for i in range(3)]
    layers = [blobs[i % 3] for i in range(30_000)]
    r = _put_manifest(
        client,
        "big/ok",
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": EMPTY, "layers": layers},
        "v1",
    )
    assert r.status_code == 201, r.get_data(as_text=True)[:300]
    got = client.get("/v2/big/ok/manifests/v1")
    assert got.status_code == 200 and len(json.loads(got.data)["layers"]) == 30_000


def test_blob_digest_deduplication_is_linear() -> None:
    from sciregistry.oci import parse_manifest

    layers = [{"mediaType": "x", "digest": f"sha256:{i:064x}", "size": 1} for i in range(38_000)]
    data = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": EMPTY, "layers": layers + layers[:10]},
        separators=(",", ":"),
    ).encode()
    parsed = parse_manifest(data, OCI_MANIFEST)
    start = time.monotonic()
    digests = parsed.blob_digests
    assert time.monotonic() - start < 1.0
    assert len(digests) == 38_001 and digests[0] == EMPTY["digest"] and digests[1] == layers[0]["digest"]


# --- run crates -----------------------------------------------------------------------------------


def _crate_manifest(
    client: Any, repo: str, metadata: bytes, run_description: bytes | None = None
) -> dict[str, Any]:
    layers = [
        {
            **_push_blob(client, repo, metadata),
            "mediaType": artifacts.CRATE_METADATA_MEDIA_TYPE,
            "annotations": {artifacts.TITLE: artifacts.CRATE_METADATA_NAME},
        }
    ]
    if run_description is not None:
        layers.append(
            {
                **_push_blob(client, repo, run_description),
                "mediaType": artifacts.RUN_DESCRIPTION_MEDIA_TYPE,
                "annotations": {artifacts.TITLE: artifacts.RUN_DESCRIPTION_NAME},
            }
        )
    subject = _put_manifest(
        client,
        repo,
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": EMPTY,
            "artifactType": artifacts.RESULT,
            "layers": [_push_blob(client, repo, b"result")],
        },
    )
    assert subject.status_code == 201
    sub = {
        "mediaType": OCI_MANIFEST,
        "digest": subject.headers["Docker-Content-Digest"],
        "size": len(client.get(f"/v2/{repo}/manifests/{subject.headers['Docker-Content-Digest']}").data),
    }
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifacts.ROCRATE,
        "config": EMPTY,
        "layers": layers,
        "subject": sub,
    }


def test_crate_larger_than_max_crate_size_is_refused_with_a_clear_error(make_app: Any) -> None:
    client = make_app(max_crate_size=64 * 1024).test_client()
    padding = "x" * (100 * 1024)
    metadata = json.dumps({"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": [], "pad": padding})
    r = _put_manifest(client, "lab/crates", _crate_manifest(client, "lab/crates", metadata.encode()))
    assert r.status_code == 400
    err = _error(r)
    assert err["code"] == "MANIFEST_INVALID"
    assert "max_crate_size" in err["message"] and "65536" in err["message"], err
    assert err["detail"]["max_crate_size"] == 64 * 1024


@pytest.mark.parametrize("layer", ["metadata", "run_description"])
def test_deeply_nested_crate_json_is_manifest_invalid(make_app: Any, layer: str) -> None:
    client = make_app().test_client()
    nested = b"[" * 200_000 + b"]" * 200_000
    ok = json.dumps({"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": []}).encode()
    metadata, run_description = (nested, None) if layer == "metadata" else (ok, nested)
    r = _put_manifest(client, "lab/nested", _crate_manifest(client, "lab/nested", metadata, run_description))
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    err = _error(r)
    assert err["code"] == "MANIFEST_INVALID"
    assert any("nest" in p for p in err["detail"]["problems"]), err


def test_crate_nested_below_the_json_limit_but_absurdly_deep_is_refused(make_app: Any) -> None:
    """500 levels parse as JSON, but every JSON-LD walker after the parser recurses: refused early."""
    client = make_app().test_client()
    deep: Any = "leaf"
    for _ in range(500):
        deep = {"x": deep}
    metadata = json.dumps({"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": [deep]}).encode()
    r = _put_manifest(client, "lab/deep", _crate_manifest(client, "lab/deep", metadata))
    assert r.status_code == 400
    assert any("deeper than" in p for p in _error(r)["detail"]["problems"])


def test_crate_validation_runs_outside_the_repository_lock(
    make_app: Any, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """While one crate is being validated (slow: roc-validator), a push to the same repository goes
    through at once (before, validation ran inside the push transaction, holding the write lock)."""
    from sciregistry import provenance

    app = make_app()
    client = app.test_client()
    crate = _crate_manifest(
        client, "lab/lock", b'{"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": []}'
    )
    other = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": EMPTY,
        "layers": [_push_blob(client, "lab/lock", b"other layer")],
    }
    started = threading.Event()
    real = provenance.validate_run_crate

    def slow_validate(*args: Any, **kwargs: Any) -> Any:
        started.set()
        time.sleep(4)
        return real(*args, **kwargs)

    monkeypatch.setattr(provenance, "validate_run_crate", slow_validate)
    result: dict[str, Any] = {}

    def push_crate() -> None:
        result["crate"] = _put_manifest(app.test_client(), "lab/lock", crate).status_code

    t = threading.Thread(target=push_crate)
    t.start()
    assert started.wait(10)
    time.sleep(0.3)
    start = time.monotonic()
    r = _put_manifest(app.test_client(), "lab/lock", other, "other")
    took = time.monotonic() - start
    t.join(30)
    assert r.status_code == 201, r.get_data(as_text=True)[:300]
    assert result["crate"] == 400  # the crate is invalid; what matters is that it did not block
    assert took < 2.0, f"a push waited {took:.1f} s for another push's crate validation"


# --- upload sessions -------------------------------------------------------------------------------


def test_open_upload_sessions_are_capped_per_principal(make_app: Any) -> None:
    client = make_app(max_open_uploads=5).test_client()
    locations = []
    for _ in range(5):
        r = client.post("/v2/cap/repo/blobs/uploads/")
        assert r.status_code == 202
        locations.append(r.headers["Location"])
    r = client.post("/v2/cap/repo/blobs/uploads/")
    assert r.status_code == 429
    err = _error(r)
    assert err["code"] == "TOOMANYREQUESTS"
    assert "at most 5" in err["message"] and err["detail"] == {"max_open_uploads": 5}
    assert client.post("/v2/cap/other/blobs/uploads/").status_code == 429  # per principal, not per repository
    # someone else (here: another address, auth being off) is not affected
    other = client.post("/v2/cap/repo/blobs/uploads/", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 202
    # finishing or cancelling one frees a slot
    assert client.delete(locations[0]).status_code == 204
    assert client.post("/v2/cap/repo/blobs/uploads/").status_code == 202
    data = b"finished"
    assert client.put(f"{locations[1]}?digest={_digest(data)}", data=data).status_code == 201
    assert client.post("/v2/cap/repo/blobs/uploads/").status_code == 202
    # monolithic uploads (POST ?digest=) open no lasting session and still work at the cap
    assert (
        client.post(f"/v2/cap/repo/blobs/uploads/?digest={_digest(b'mono')}", data=b"mono").status_code == 201
    )


def test_idle_upload_sessions_expire_while_the_server_runs(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", env={"SCIREGISTRY_UPLOAD_IDLE_TIMEOUT": "2"})
    try:
        with requests.Session() as http:
            idle = http.post(server.url + "/v2/exp/repo/blobs/uploads/").headers["Location"]
            busy = http.post(server.url + "/v2/exp/repo/blobs/uploads/").headers["Location"]
            assert http.get(server.url + idle).status_code == 204
            deadline = time.monotonic() + 15
            gone = False
            while time.monotonic() < deadline and not gone:
                r = http.patch(server.url + busy, data=b"x")  # keeps this one active
                assert r.status_code == 202, r.text
                time.sleep(0.5)
                gone = http.get(server.url + idle).status_code == 404
            assert gone, "an idle upload session was not removed by the running server"
            r = http.get(server.url + idle)
            assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
            assert http.get(server.url + busy).status_code == 204
    finally:
        server.stop()


def test_expire_idle_uploads_is_a_plain_registry_call(make_app: Any) -> None:
    """The function the server's periodic task calls (and online gc can call)."""
    app = make_app()
    reg = app.extensions["sciregistry"].registry
    client = app.test_client()
    loc = client.post("/v2/exp/plain/blobs/uploads/").headers["Location"]
    upload_id = loc.rsplit("/", 1)[1]
    assert reg.expire_idle_uploads(3600) == []
    assert reg.expire_idle_uploads(3600, now=time.time() + 7200) == [upload_id]
    assert client.get(loc).status_code == 404


def test_concurrent_crate_validations_are_bounded(make_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation is CPU-bound and serialised per process: a flood of crate pushes may occupy only a
    few server threads; the rest are told to retry (429 TOOMANYREQUESTS with Retry-After)."""
    from sciregistry import provenance
    from sciregistry.registry.runs import RunIndex

    app = make_app()
    client = app.test_client()
    crate = _crate_manifest(
        client, "lab/flood", b'{"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": []}'
    )
    release = threading.Event()
    real = provenance.validate_run_crate

    def held(*args: Any, **kwargs: Any) -> Any:
        release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(provenance, "validate_run_crate", held)
    n = RunIndex.MAX_CONCURRENT_VALIDATIONS + 2
    codes: list[Any] = []

    def push() -> None:
        r = _put_manifest(app.test_client(), "lab/flood", crate)
        codes.append((r.status_code, _error(r)["code"], r.headers.get("Retry-After")))

    threads = [threading.Thread(target=push) for _ in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(codes) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("/v2/").status_code == 200  # everybody else is still served
    release.set()
    for t in threads:
        t.join(30)
    assert sorted(codes).count((429, "TOOMANYREQUESTS", "5")) == 2, codes
    assert [c for c in codes if c[0] != 429] == [
        (400, "MANIFEST_INVALID", None)
    ] * RunIndex.MAX_CONCURRENT_VALIDATIONS
