"""skopeo (containers/image) against a live registry: push an OCI layout, read it back byte for
byte, copy it back into a new layout with every digest preserved, copy a multi-arch image index
with ``--all``, delete by digest.

Implements the client side of OCI Distribution v1.1.1 (pull, push, content management) as
skopeo drives it: blob HEAD, POST + PUT uploads, manifest PUT/GET by tag and digest, DELETE.
Plain HTTP on 127.0.0.1 needs ``--dest-tls-verify=false`` / ``--src-tls-verify=false`` (skopeo
tries HTTPS first, then falls back to HTTP).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from .conftest import LiveRegistry, ToolEnv
from .oci_image import (
    OCI_INDEX,
    OCI_MANIFEST,
    BuiltImage,
    build_image_layout,
    build_index_layout,
    read_layout,
)

SKOPEO = shutil.which("skopeo")
pytestmark = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed (apt-get install skopeo)")

Skopeo = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def skopeo(tool_env: ToolEnv) -> Skopeo:
    """``skopeo(*args, check=True)``: run skopeo with the private policy, registries.d, registries.conf
    (skopeo 1.9 ignores ``CONTAINERS_REGISTRIES_CONF``; ``--registries-conf`` is a hidden flag) and tmpdir."""

    def run(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [
            *tool_env.prefix,
            str(SKOPEO),
            "--policy",
            str(tool_env.policy),
            "--registries.d",
            str(tool_env.registries_d),
            "--registries-conf",
            tool_env.env["CONTAINERS_REGISTRIES_CONF"],
            "--tmpdir",
            str(tool_env.tmpdir),
            *args,
        ]
        proc = subprocess.run(
            cmd, env=tool_env.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed (rc={proc.returncode}):\n{proc.stderr}")
        return proc

    return run


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    return build_image_layout(tmp_path_factory.mktemp("layout") / "img", "v1")


@pytest.fixture(scope="module")
def index_image(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    return build_index_layout(tmp_path_factory.mktemp("layout") / "multi", "multi")


def test_copy_image_roundtrip(
    skopeo: Skopeo, live_server: LiveRegistry, image: BuiltImage, tmp_path: Path
) -> None:
    remote = f"docker://{live_server.host}/lab/img:v1"
    skopeo("copy", "--dest-tls-verify=false", "--preserve-digests", f"oci:{image.layout}:{image.tag}", remote)

    raw = skopeo("inspect", "--tls-verify=false", "--raw", remote).stdout
    assert raw.encode() == image.manifest_bytes

    info = json.loads(skopeo("inspect", "--tls-verify=false", remote).stdout)
    assert info["Digest"] == image.manifest_digest
    assert info["Layers"] == image.blob_digests[1:]
    assert info["Labels"] == {"org.sciregistry.test": "clients"}

    head = requests.head(
        f"{live_server.url}/v2/lab/img/manifests/v1", timeout=10, headers={"Accept": OCI_MANIFEST}
    )
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == image.manifest_digest
    assert head.headers["Content-Type"] == OCI_MANIFEST
    assert int(head.headers["Content-Length"]) == len(image.manifest_bytes)

    # pulled back by tag, into a fresh layout: same manifest bytes, same digests everywhere
    back = tmp_path / "back"
    skopeo("copy", "--src-tls-verify=false", "--preserve-digests", remote, f"oci:{back}:v1")
    pulled = read_layout(back, "v1")
    assert pulled.manifest_digest == image.manifest_digest
    assert pulled.manifest_bytes == image.manifest_bytes
    assert pulled.blob_digests == image.blob_digests
    for digest in image.blob_digests:
        assert (back / "blobs" / "sha256" / digest[7:]).read_bytes() == (
            image.layout / "blobs" / "sha256" / digest[7:]
        ).read_bytes()

    # and by digest
    by_digest = tmp_path / "by-digest"
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--preserve-digests",
        f"docker://{live_server.host}/lab/img@{image.manifest_digest}",
        f"oci:{by_digest}:pinned",
    )
    assert read_layout(by_digest, "pinned").manifest_digest == image.manifest_digest


def test_second_tag_reuses_blobs(skopeo: Skopeo, live_server: LiveRegistry, image: BuiltImage) -> None:
    """A second push of the same image finds every blob present (HEAD 200) and adds only a tag."""
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--preserve-digests",
        f"oci:{image.layout}:{image.tag}",
        f"docker://{live_server.host}/lab/img:v2",
    )
    tags = json.loads(
        skopeo("list-tags", "--tls-verify=false", f"docker://{live_server.host}/lab/img").stdout
    )
    assert tags == {"Repository": f"{live_server.host}/lab/img", "Tags": ["v1", "v2"]}
    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{live_server.host}/lab/img:v2").stdout
    assert raw.encode() == image.manifest_bytes


def test_copy_between_repositories(skopeo: Skopeo, live_server: LiveRegistry, image: BuiltImage) -> None:
    """docker:// to docker:// on the same registry: skopeo knows (blob-info cache) that the layers
    are in ``lab/src`` and mounts them (``POST ...?mount=<d>&from=lab/src`` -> 201); it always
    re-uploads the config."""
    host = live_server.host
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--preserve-digests",
        f"oci:{image.layout}:{image.tag}",
        f"docker://{host}/lab/src:v1",
    )
    copy = skopeo(
        "--debug",
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--preserve-digests",
        f"docker://{host}/lab/src:v1",
        f"docker://{host}/lab/dst/nested:v1",
    )
    for digest in image.blob_digests[1:]:  # layers are mounted ...
        assert f"from=lab%2Fsrc&mount={digest.replace(':', '%3A')}" in copy.stderr
    assert copy.stderr.count("mount OK") == 3
    assert copy.stderr.count("PATCH ") == 1  # ... the config is streamed (POST, one PATCH, PUT)
    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{host}/lab/dst/nested:v1").stdout
    assert raw.encode() == image.manifest_bytes
    for digest in image.blob_digests:
        r = requests.get(f"{live_server.url}/v2/lab/dst/nested/blobs/{digest}", timeout=10)
        assert r.status_code == 200
        assert r.content == (image.layout / "blobs" / "sha256" / digest[7:]).read_bytes()


def test_copy_index_all(
    skopeo: Skopeo, live_server: LiveRegistry, index_image: BuiltImage, tmp_path: Path
) -> None:
    remote = f"docker://{live_server.host}/lab/multi:v1"
    skopeo(
        "copy",
        "--all",
        "--dest-tls-verify=false",
        "--preserve-digests",
        f"oci:{index_image.layout}:{index_image.tag}",
        remote,
    )

    raw = skopeo("inspect", "--tls-verify=false", "--raw", remote).stdout
    assert raw.encode() == index_image.manifest_bytes
    head = requests.head(
        f"{live_server.url}/v2/lab/multi/manifests/v1", timeout=10, headers={"Accept": OCI_INDEX}
    )
    assert head.headers["Docker-Content-Digest"] == index_image.manifest_digest
    assert head.headers["Content-Type"] == OCI_INDEX
    for child in index_image.child_digests:
        r = requests.head(
            f"{live_server.url}/v2/lab/multi/manifests/{child}", timeout=10, headers={"Accept": OCI_MANIFEST}
        )
        assert (r.status_code, r.headers["Docker-Content-Digest"]) == (200, child)

    # without --all skopeo resolves the index to one platform (Digest stays the index's)
    for arch in ("amd64", "arm64"):
        info = json.loads(skopeo("--override-arch", arch, "inspect", "--tls-verify=false", remote).stdout)
        assert (info["Architecture"], info["Digest"]) == (arch, index_image.manifest_digest)

    back = tmp_path / "back"
    skopeo("copy", "--all", "--src-tls-verify=false", "--preserve-digests", remote, f"oci:{back}:v1")
    pulled = read_layout(back, "v1")
    assert pulled.manifest_digest == index_image.manifest_digest
    assert pulled.media_type == OCI_INDEX
    assert pulled.child_digests == index_image.child_digests
    assert pulled.blob_digests == index_image.blob_digests


DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def test_docker_formats(
    skopeo: Skopeo, live_server: LiveRegistry, image: BuiltImage, index_image: BuiltImage
) -> None:
    """``--format v2s2`` converts to Docker schema 2 (manifest and manifest list): stored and
    served with the Docker media type; schema 1 (``v2s1``) is refused with MANIFEST_INVALID."""
    host = live_server.host
    skopeo(
        "copy",
        "--format",
        "v2s2",
        "--dest-tls-verify=false",
        f"oci:{image.layout}:{image.tag}",
        f"docker://{host}/lab/docker:v1",
    )
    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{host}/lab/docker:v1").stdout
    doc = json.loads(raw)
    assert doc["mediaType"] == DOCKER_MANIFEST
    assert [layer["digest"] for layer in doc["layers"]] == image.blob_digests[1:]
    head = requests.head(f"{live_server.url}/v2/lab/docker/manifests/v1", timeout=10)
    assert head.headers["Content-Type"] == DOCKER_MANIFEST
    assert head.headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(raw.encode()).hexdigest()

    skopeo(
        "copy",
        "--all",
        "--format",
        "v2s2",
        "--dest-tls-verify=false",
        f"oci:{index_image.layout}:{index_image.tag}",
        f"docker://{host}/lab/dockerlist:v1",
    )
    head = requests.head(f"{live_server.url}/v2/lab/dockerlist/manifests/v1", timeout=10)
    assert (head.status_code, head.headers["Content-Type"]) == (200, DOCKER_LIST)

    v1 = skopeo(
        "copy",
        "--format",
        "v2s1",
        "--dest-tls-verify=false",
        f"oci:{image.layout}:{image.tag}",
        f"docker://{host}/lab/schema1:v1",
        check=False,
    )
    assert v1.returncode != 0
    assert "manifest invalid" in v1.stderr


def test_delete_by_digest(skopeo: Skopeo, live_server: LiveRegistry, image: BuiltImage) -> None:
    host = live_server.host
    for repo in ("lab/del", "lab/keep"):
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--preserve-digests",
            f"oci:{image.layout}:{image.tag}",
            f"docker://{host}/{repo}:v1",
        )
    skopeo("delete", "--tls-verify=false", f"docker://{host}/lab/del@{image.manifest_digest}")

    r = requests.get(f"{live_server.url}/v2/lab/del/manifests/{image.manifest_digest}", timeout=10)
    assert r.status_code == 404
    assert [e["code"] for e in r.json()["errors"]] == ["MANIFEST_UNKNOWN"]
    r = requests.get(f"{live_server.url}/v2/lab/del/manifests/v1", timeout=10)
    assert r.status_code == 404
    assert "v1" not in (
        requests.get(f"{live_server.url}/v2/lab/del/tags/list", timeout=10).json().get("tags") or []
    )

    gone = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{host}/lab/del:v1", check=False)
    assert gone.returncode != 0
    assert "manifest unknown" in gone.stderr.lower()

    again = skopeo(
        "delete", "--tls-verify=false", f"docker://{host}/lab/del@{image.manifest_digest}", check=False
    )
    assert again.returncode != 0

    # the same manifest in another repository is untouched
    kept = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{host}/lab/keep:v1").stdout
    assert kept.encode() == image.manifest_bytes
