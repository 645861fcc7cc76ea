"""oras-py (the ``oras`` package, 0.2.x) against a live registry: chunked and monolithic pushes of
a multi-file artifact, pulls by tag and by digest, and an ``artifactType`` + ``subject`` pair
built as bytes and PUT by our own code, listed by the referrers API.

What oras-py does on the wire (``oras/provider.py``):

- monolithic (``upload_blob(..., do_chunked=False)``, the default): ``HEAD blobs/<d>``, then
  ``POST blobs/uploads/`` and one ``PUT <location>?digest=`` with the whole body;
- chunked (``do_chunked=True, chunk_size=N``): ``POST`` (``Content-Length: 0``), one ``PATCH`` per
  ``N`` bytes with ``Content-Range: <start>-<end>``, following each response's ``Location``, then
  a ``PUT <location>?digest=`` with no body;
- ``push`` builds the manifest as a dict and PUTs it with ``json=`` (re-serialised, no
  ``artifactType``); it cannot send ``artifactType`` and computes ``Subject`` digests from
  ``json.dumps`` of a dict, so manifests with either are built as bytes here (DESIGN.md section 6).

``Registry.do_request`` retries any exception or 500 with sleeps of 3, 5, 11, 29, 83 s; the
:class:`FastRegistry` below removes that loop and sets a socket timeout, so a failure shows at
once. Distribution spec: OCI Distribution v1.1.1 (push, pull, content discovery).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import oras.defaults
import oras.oci
import oras.provider
import pytest
import requests

from .conftest import LiveRegistry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DATASET = "application/vnd.sciregistry.dataset.v1"
SBOM = "application/spdx+json"  # a generic referrer; run crates (rocrate.v1) are validated on push
TITLE = "org.opencontainers.image.title"
MIB = 1024 * 1024
BIG_SIZE = 20 * MIB
CHUNK = 8 * MIB


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Call:
    method: str
    path: str
    status: int
    content_range: str | None
    length: int


class FastRegistry(oras.provider.Registry):  # type: ignore[misc]
    """``oras.provider.Registry`` without the retry decorator on ``do_request`` and with a
    per-request timeout; every request/response is recorded in ``calls``."""

    do_request = oras.provider.Registry.do_request.__wrapped__

    def __init__(self, hostname: str, timeout: float = 30) -> None:
        super().__init__(hostname, insecure=True)
        self.calls: list[Call] = []
        self.session.request = functools.partial(self.session.request, timeout=timeout)
        self.session.hooks["response"].append(self._record)

    def _record(self, resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        req = resp.request
        body = req.body
        length = (
            len(body) if isinstance(body, (bytes, str)) else int(req.headers.get("Content-Length", 0) or 0)
        )
        content_range = req.headers.get("Content-Range")
        self.calls.append(
            Call(
                req.method or "",
                urlsplit(str(req.url)).path,
                resp.status_code,
                None if content_range is None else str(content_range),
                length,
            )
        )


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """oras-py reads ``~/.docker/config.json`` for credentials: point it at an empty home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)


@pytest.fixture
def oras_client(live_server: LiveRegistry) -> Iterator[Callable[[], FastRegistry]]:
    """``oras_client()``: a new :class:`FastRegistry` for the live server; all are closed at the
    end (an open keep-alive connection makes gunicorn's graceful stop wait)."""
    made: list[FastRegistry] = []

    def make() -> FastRegistry:
        made.append(FastRegistry(live_server.host))
        return made[-1]

    yield make
    for reg in made:
        reg.session.close()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, bytes]:
    """Three files in ``tmp_path/src``: small text, small JSON, 20 MiB of pseudo-random bytes."""
    src = tmp_path / "src"
    src.mkdir()
    big = random.Random(20).randbytes(BIG_SIZE)
    content = {
        "README.txt": b"three files, one of them big\n",
        "params.json": json.dumps({"k": 21, "min_length": 100}).encode(),
        "reads.bin": big,
    }
    for name, data in content.items():
        (src / name).write_bytes(data)
    return content


def _push(reg: FastRegistry, target: str, src: Path, names: list[str], **kw: Any) -> requests.Response:
    resp: requests.Response = reg.push(
        target=target, files=[str(src / n) for n in names], disable_path_validation=True, quiet=True, **kw
    )
    return resp


def _assert_pulled(paths: list[str], outdir: Path, files: dict[str, bytes]) -> None:
    assert sorted(Path(p).name for p in paths) == sorted(files)
    for name, data in files.items():
        got = (outdir / name).read_bytes()
        assert len(got) == len(data) and got == data, name


def test_chunked_push_and_pull(
    live_server: LiveRegistry,
    oras_client: Callable[[], FastRegistry],
    files: dict[str, bytes],
    tmp_path: Path,
) -> None:
    reg = oras_client()
    target = f"{live_server.host}/lab/data:chunked"
    resp = _push(reg, target, tmp_path / "src", list(files), do_chunked=True, chunk_size=CHUNK)
    assert resp.status_code == 201
    manifest_digest = resp.headers["Docker-Content-Digest"]

    # the big blob went up as PATCHes of 8, 8 and 4 MiB with contiguous Content-Ranges
    big_digest = sha256_digest(files["reads.bin"])
    patches = [c for c in reg.calls if c.method == "PATCH" and c.length > 2 * MIB]
    assert [(c.content_range, c.status) for c in patches] == [
        (f"0-{CHUNK - 1}", 202),
        (f"{CHUNK}-{2 * CHUNK - 1}", 202),
        (f"{2 * CHUNK}-{BIG_SIZE - 1}", 202),
    ]
    final = [c for c in reg.calls if c.method == "PUT" and "/blobs/uploads/" in c.path]
    assert len(final) == len(files) + 1  # + the empty config
    assert all(c.status == 201 for c in final)

    head = requests.head(f"{live_server.url}/v2/lab/data/blobs/{big_digest}", timeout=10)
    assert (head.status_code, int(head.headers["Content-Length"])) == (200, BIG_SIZE)

    # the stored manifest is exactly what oras-py sent, and lists the three files
    man = requests.get(
        f"{live_server.url}/v2/lab/data/manifests/chunked", timeout=10, headers={"Accept": OCI_MANIFEST}
    )
    assert sha256_digest(man.content) == manifest_digest == man.headers["Docker-Content-Digest"]
    layers = man.json()["layers"]
    assert {layer["annotations"][TITLE]: (layer["digest"], layer["size"]) for layer in layers} == {
        n: (sha256_digest(d), len(d)) for n, d in files.items()
    }

    out = tmp_path / "pulled"
    paths = oras_client().pull(target=target, outdir=str(out))
    _assert_pulled(paths, out, files)

    out2 = tmp_path / "by-digest"
    paths = oras_client().pull(target=f"{live_server.host}/lab/data@{manifest_digest}", outdir=str(out2))
    _assert_pulled(paths, out2, files)


def test_monolithic_push_and_pull(
    live_server: LiveRegistry,
    oras_client: Callable[[], FastRegistry],
    files: dict[str, bytes],
    tmp_path: Path,
) -> None:
    reg = oras_client()
    target = f"{live_server.host}/lab/mono:v1"
    resp = _push(
        reg,
        target,
        tmp_path / "src",
        list(files),
        manifest_annotations={"org.opencontainers.image.description": "monolithic"},
    )
    assert resp.status_code == 201
    assert not [c for c in reg.calls if c.method == "PATCH"]
    puts = [c for c in reg.calls if c.method == "PUT" and "/blobs/uploads/" in c.path]
    assert sorted(c.length for c in puts) == sorted([2, *(len(d) for d in files.values())])

    manifest = reg.get_manifest(target)
    assert manifest["annotations"] == {"org.opencontainers.image.description": "monolithic"}
    assert manifest["config"]["digest"] == oras.defaults.blank_config_hash

    # a second push of the same files uploads nothing: every blob HEAD answers 200
    again = oras_client()
    assert _push(again, f"{live_server.host}/lab/mono:v2", tmp_path / "src", list(files)).status_code == 201
    assert [c.method for c in again.calls if c.method in ("POST", "PATCH")] == []

    out = tmp_path / "pulled"
    _assert_pulled(oras_client().pull(target=target, outdir=str(out)), out, files)
    tags = requests.get(f"{live_server.url}/v2/lab/mono/tags/list", timeout=10).json()
    assert tags == {"name": "lab/mono", "tags": ["v1", "v2"]}


def _put_manifest(base: str, repo: str, ref: str, data: bytes) -> requests.Response:
    return requests.put(
        f"{base}/v2/{repo}/manifests/{ref}", data=data, timeout=10, headers={"Content-Type": OCI_MANIFEST}
    )


def _upload(reg: FastRegistry, target: str, path: Path, media_type: str) -> dict[str, Any]:
    layer: dict[str, Any] = oras.oci.NewLayer(str(path), media_type=media_type)
    layer["annotations"] = {TITLE: path.name}
    assert reg.upload_blob(str(path), target, layer).status_code in (200, 201)
    return layer


def test_artifact_type_and_referrers(
    live_server: LiveRegistry,
    oras_client: Callable[[], FastRegistry],
    files: dict[str, bytes],
    tmp_path: Path,
) -> None:
    reg = oras_client()
    repo = "lab/dataset"
    target = f"{live_server.host}/{repo}:v1"
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"{}")
    config = {"mediaType": OCI_EMPTY, "digest": sha256_digest(b"{}"), "size": 2, "data": "e30="}
    _upload(reg, target, empty, OCI_EMPTY)

    src = tmp_path / "src"
    layers = [
        _upload(reg, target, src / "README.txt", "text/plain"),
        _upload(reg, target, src / "params.json", "application/json"),
    ]
    dataset = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": DATASET,
            "config": config,
            "layers": layers,
            "annotations": {TITLE: "two small files"},
        },
        indent=1,
    ).encode()
    r = _put_manifest(live_server.url, repo, "v1", dataset)
    assert r.status_code == 201, r.text
    dataset_digest = sha256_digest(dataset)
    assert r.headers["Docker-Content-Digest"] == dataset_digest
    assert "OCI-Subject" not in r.headers

    sbom = tmp_path / "sbom.spdx.json"
    sbom.write_bytes(json.dumps({"spdxVersion": "SPDX-2.3", "name": "dataset", "packages": []}).encode())
    sbom_layer = _upload(reg, target, sbom, SBOM)
    referrer = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SBOM,
            "config": config,
            "layers": [sbom_layer],
            "subject": {"mediaType": OCI_MANIFEST, "digest": dataset_digest, "size": len(dataset)},
            "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
        },
        separators=(",", ":"),
    ).encode()
    referrer_digest = sha256_digest(referrer)
    r = _put_manifest(live_server.url, repo, referrer_digest, referrer)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == referrer_digest
    assert r.headers["OCI-Subject"] == dataset_digest

    # GET by tag returns the bytes as pushed (indent=1 survives), with the stored media type
    got = requests.get(
        f"{live_server.url}/v2/{repo}/manifests/v1", timeout=10, headers={"Accept": OCI_MANIFEST}
    )
    assert (got.content, got.headers["Content-Type"]) == (dataset, OCI_MANIFEST)

    r = requests.get(f"{live_server.url}/v2/{repo}/referrers/{dataset_digest}", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == OCI_INDEX
    assert "OCI-Filters-Applied" not in r.headers
    assert r.json() == {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": referrer_digest,
                "size": len(referrer),
                "artifactType": SBOM,
                "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
            }
        ],
    }

    filtered = requests.get(
        f"{live_server.url}/v2/{repo}/referrers/{dataset_digest}", params={"artifactType": SBOM}, timeout=10
    )
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in filtered.json()["manifests"]] == [referrer_digest]
    other = requests.get(
        f"{live_server.url}/v2/{repo}/referrers/{dataset_digest}",
        params={"artifactType": DATASET},
        timeout=10,
    )
    assert (other.status_code, other.json()["manifests"]) == (200, [])

    # oras-py reads both back: the dataset files by tag, the SBOM manifest by digest
    out = tmp_path / "pulled"
    paths = oras_client().pull(target=target, outdir=str(out))
    assert sorted(Path(p).name for p in paths) == ["README.txt", "params.json"]
    assert (out / "params.json").read_bytes() == files["params.json"]
    assert oras_client().get_manifest(f"{live_server.host}/{repo}@{referrer_digest}") == json.loads(referrer)


def test_fast_registry_fails_fast(live_server: LiveRegistry, oras_client: Callable[[], FastRegistry]) -> None:
    """Without oras-py's retry loop a missing manifest fails at once (not after ~2 minutes)."""
    import time

    reg = oras_client()
    start = time.monotonic()
    with pytest.raises(ValueError, match="Issue with"):
        reg.get_manifest(f"{live_server.host}/lab/nothing:here")
    assert time.monotonic() - start < 5
    assert [(c.method, c.status) for c in reg.calls] == [("GET", 404)]
    assert os.environ["HOME"].endswith("home")
