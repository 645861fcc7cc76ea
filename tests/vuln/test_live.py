"""A real server (gunicorn, two worker processes, each with its scanner thread): a push answers at
once, the image is scanned in the background exactly once, and its SBOM and report are referrers
that any OCI client discovers; `sciregistry scan --watch` works the same queue from outside."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.cli_commands import clean_env, root_conftest, sciregistry_cli
from tests.vuln.conftest import DATA
from tests.vuln.images import alpine_image

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
pytestmark = pytest.mark.slow  # two server start-ups (about 30 s on an idle 2-core machine)


def _push(url: str, repo: str, tag: str, layers: list[bytes]) -> str:
    import hashlib

    def blob(data: bytes) -> dict[str, object]:
        d = "sha256:" + hashlib.sha256(data).hexdigest()
        r = requests.post(f"{url}/v2/{repo}/blobs/uploads/?digest={d}", data=data, timeout=30)
        assert r.status_code == 201, r.text
        return {"digest": d, "size": len(data)}

    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config)},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(x)} for x in layers
            ],
        }
    ).encode()
    r = requests.put(
        f"{url}/v2/{repo}/manifests/{tag}", data=manifest, headers={"Content-Type": OCI_MANIFEST}, timeout=30
    )
    assert r.status_code == 201, r.text
    return r.headers["Docker-Content-Digest"]


def _wait_done(url: str, ref: str, deadline: float = 30) -> dict[str, object]:
    end = time.monotonic() + deadline
    while True:
        doc = requests.get(f"{url}/api/v1/images/{ref}/vulnerabilities", timeout=10).json()
        if doc["images"] and doc["images"][0]["state"] in ("done", "error"):
            return doc["images"][0]  # type: ignore[no-any-return]
        assert time.monotonic() < end, doc
        time.sleep(0.2)


def test_server_threads_and_scan_watch(tmp_path: Path) -> None:
    conftest = root_conftest()
    data = tmp_path / "data"
    sciregistry_cli("vulndb", "import", str(DATA / "distro"), data_dir=data)
    server = conftest.start_server(
        data, env={"SCIREGISTRY_SCAN_IN_SERVER": "true", "SCIREGISTRY_SCAN_POLL_SECONDS": "1"}
    )
    try:
        t = time.monotonic()
        digest = _push(server.url, "lab/alpine", "3.18", alpine_image())
        assert time.monotonic() - t < 5  # the push did not wait for a scan
        image = _wait_done(server.url, f"lab/alpine@{digest}")
        assert image["state"] == "done" and [f["id"] for f in image["findings"]] == ["TEST-ALPINE-2023-0001"]
        refs = requests.get(f"{server.url}/v2/lab/alpine/referrers/{digest}", timeout=10).json()["manifests"]
        assert sorted(m["artifactType"] for m in refs) == [
            "application/vnd.cyclonedx+json",
            "application/vnd.sciregistry.vulnerability-report.v1+json",
        ]
        time.sleep(2.5)  # both workers polled again: nobody scanned it a second time
        refs = requests.get(f"{server.url}/v2/lab/alpine/referrers/{digest}", timeout=10).json()["manifests"]
        assert len(refs) == 2
    finally:
        server.stop()

    # the same queue worked by `sciregistry scan --watch` while a server without scanner threads runs
    server = conftest.start_server(data)
    watch = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("sciregistry")),
            "scan",
            "--watch",
            "--poll",
            "1",
            "--data-dir",
            str(data),
        ],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        good = alpine_image()[0]
        corrupt = good[:-1] + bytes([good[-1] ^ 0xFF])  # the gzip trailer's length no longer matches
        digest = _push(server.url, "lab/alpine", "again", [corrupt])
        image = _wait_done(server.url, f"lab/alpine@{digest}")
        assert image["state"] == "error" and "corrupt compressed stream" in str(image["error"]), image
    finally:
        watch.send_signal(signal.SIGTERM)
        out = watch.communicate(timeout=30)[0].decode()
        server.stop()
    assert watch.returncode == 0, out
