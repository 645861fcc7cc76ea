"""With authentication on: a private image's findings, and what a vulnerability reaches there,
are visible to its namespace's members only."""

from __future__ import annotations

from pathlib import Path

from tests.authz.support import basic, make_app, push_blob
from tests.vuln.conftest import records
from tests.vuln.images import alpine_image


def test_private_findings_invisible_to_others(tmp_path: Path) -> None:
    import json

    from tests.landing.closure import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, digest_of

    app = make_app(tmp_path)
    svc = app.extensions["sciregistry"]
    acc = svc.accounts
    acc.create_user("admin", "admin-password-1", admin=True)
    acc.create_user("olivia", "olivia-password")
    acc.create_user("oscar", "oscar-password")
    acc.create_namespace("lab", "olivia")  # private
    client = app.test_client()
    olivia, oscar = basic("olivia", "olivia-password"), basic("oscar", "oscar-password")
    layers = alpine_image()
    for layer in layers:
        push_blob(client, "lab/tool", layer, olivia)
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    push_blob(client, "lab/tool", config, olivia)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": digest_of(x), "size": len(x)} for x in layers],
        }
    ).encode()
    r = client.put(
        "/v2/lab/tool/manifests/v1", data=manifest, headers={**olivia, "Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.data
    digest = r.headers["Docker-Content-Digest"]
    svc.vulns.import_records(records("distro/ALPINE-0000-busybox.json"))
    svc.vulns.drain()

    url = f"/api/v1/images/lab/tool@{digest}/vulnerabilities"
    r = client.get(url, headers=olivia)
    assert r.status_code == 200
    assert [f["id"] for f in r.get_json()["images"][0]["findings"]] == ["TEST-ALPINE-2023-0001"]
    r = client.get(url, headers=oscar)
    assert r.status_code == 404 and "TEST-ALPINE" not in r.get_data(as_text=True)
    assert client.get(url).status_code in (401, 404)

    affected = "/api/v1/vulnerabilities/TEST-ALPINE-2023-0001/affected"
    assert [i["repository"] for i in client.get(affected, headers=olivia).get_json()["images"]] == [
        "lab/tool"
    ]
    assert client.get(affected, headers=oscar).get_json()["images"] == []
    # pushing a scan request needs write access
    assert client.post(f"/api/v1/images/lab/tool@{digest}/scan", headers=oscar).status_code in (403, 404)
    r = client.post(f"/api/v1/images/lab/tool@{digest}/scan", headers=olivia)
    assert r.status_code == 202
    from tests.vuln.conftest import conforms

    conforms(r.get_json(), "ScanQueued")
    svc.engine.dispose()
