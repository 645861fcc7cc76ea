"""podman against a live registry: load an OCI layout, push it, pull it back, run it.

The invocation that works on the CI host (Debian 12, root, cgroup v1, no systemd) is
(DESIGN.md section 6)::

    podman --root <tmp>/root --runroot <run> --tmpdir <run>/libpod \\
           --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime runc \\
           <command> ...
    ... run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 <image> ...

(without the ``--ulimit`` flags runc fails with "error setting rlimit type 7: operation not
permitted"). The store flags are ``sciregistry.client.runtimes.podman_store_flags``, the others
its ``PODMAN_GLOBAL_FLAGS`` and ``RUN_FLAGS``, what ``sciregistry reproduce`` runs: the store under
the test's temporary directory keeps the machine's image store untouched; see ``conftest.py``
for HOME, registries.conf and the blob-info cache.

The module skips, with podman's own error, when ``podman info`` fails; the run test skips when a
trivial ``run`` fails or /bin/busybox was not available to build a runnable image.

``podman push`` re-encodes the manifest (compact JSON) and, unless the blob-info cache knows the
compressed form of a layer, recompresses layers, so the pushed manifest digest differs from the
layout's; what must survive is the config (the image ID) and therefore every layer's diff_id.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from sciregistry.client.runtimes import PODMAN_GLOBAL_FLAGS, RUN_FLAGS, podman_store_flags

from .conftest import LiveRegistry, ToolEnv
from .oci_image import HELLO_TEXT, OCI_MANIFEST, BuiltImage, build_image_layout

PODMAN = shutil.which("podman")


@dataclass(frozen=True)
class Podman:
    """podman bound to a private store; ``cmd(...)`` raises with stderr unless ``check=False``."""

    base: tuple[str, ...]
    env: dict[str, str]

    def cmd(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*self.base, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed (rc={proc.returncode}):\n{proc.stderr}")
        return proc

    def run(self, image: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cmd("run", *RUN_FLAGS, image, *args, check=False)

    def reset(self) -> None:
        """Remove every image from the private store."""
        self.cmd("rmi", "--all", "--force")
        assert self.cmd("images", "--quiet").stdout.strip() == ""


@pytest.fixture(scope="module")
def podman(tool_env: ToolEnv) -> Iterator[Podman]:
    if PODMAN is None:
        pytest.skip("podman cannot run here: podman is not installed (apt-get install podman runc)")
    store = tool_env.root / "podman"
    # podman refuses a runroot longer than 50 characters (pytest-xdist's per-worker temporary
    # directories are longer): the run state goes to a short directory of its own
    runroot = Path(tempfile.mkdtemp(prefix="srpm"))
    base = (*tool_env.prefix, PODMAN, *podman_store_flags(store, runroot), *PODMAN_GLOBAL_FLAGS)
    pm = Podman(base, tool_env.env)
    try:
        try:
            info = pm.cmd("info", "--format", "json", check=False, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"podman cannot run here: podman info: {type(exc).__name__}: {exc}")
        if info.returncode != 0:
            pytest.skip(
                f"podman cannot run here: podman info failed (rc={info.returncode}): {info.stderr.strip()}"
            )
        assert json.loads(info.stdout)["store"]["graphRoot"] == str(store / "root")
        yield pm
        pm.cmd("rmi", "--all", "--force", check=False)
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    return build_image_layout(tmp_path_factory.mktemp("layout") / "img", "v1")


def _load(podman: Podman, image: BuiltImage) -> str:
    """``podman pull oci:<layout>:<tag>``; returns the image ID (= the config digest's hex).

    podman 4.3 names such an image ``localhost/<layout path>``, so the path must be lowercase
    (else: "repository name must be lowercase")."""
    assert str(image.layout) == str(image.layout).lower(), (
        f"podman needs a lowercase layout path: {image.layout}"
    )
    out = podman.cmd("pull", "--quiet", f"oci:{image.layout}:{image.tag}").stdout.split()
    return out[-1]


@pytest.fixture(scope="module")
def can_run(podman: Podman, image: BuiltImage) -> str | None:
    """None when a trivial ``podman run`` works here, else the reason it does not."""
    if not image.has_busybox:
        return "/bin/busybox is not available to build a runnable image (apt-get install busybox-static)"
    image_id = _load(podman, image)
    try:
        proc = podman.run(image_id, "/bin/sh", "-c", "echo ok")
    except subprocess.TimeoutExpired as exc:
        return f"trivial run timed out: {exc}"
    podman.reset()
    if proc.returncode != 0 or proc.stdout.strip() != "ok":
        return f"trivial run failed (rc={proc.returncode}): {proc.stderr.strip()}"
    return None


@dataclass(frozen=True)
class Pushed:
    ref: str
    digest: str
    image_id: str


@pytest.fixture(scope="module")
def pushed(
    podman: Podman, image: BuiltImage, live_server: LiveRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Pushed:
    """The layout loaded into podman and pushed as ``lab/podman:v1``; the store is emptied after."""
    image_id = _load(podman, image)
    config_digest = image.blob_digests[0]
    assert image_id == config_digest.removeprefix("sha256:")
    ref = f"{live_server.host}/lab/podman:v1"
    digestfile = tmp_path_factory.mktemp("push") / "digest"
    podman.cmd("push", "--tls-verify=false", "--digestfile", str(digestfile), image_id, f"docker://{ref}")
    podman.reset()
    return Pushed(ref, digestfile.read_text().strip(), image_id)


def test_push_stores_what_podman_sent(pushed: Pushed, image: BuiltImage, live_server: LiveRegistry) -> None:
    r = requests.get(
        f"{live_server.url}/v2/lab/podman/manifests/v1", timeout=10, headers={"Accept": OCI_MANIFEST}
    )
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == pushed.digest
    assert r.headers["Content-Type"] == OCI_MANIFEST
    manifest = r.json()
    assert manifest["config"]["digest"] == image.blob_digests[0]
    assert len(manifest["layers"]) == 3
    for desc in [manifest["config"], *manifest["layers"]]:
        head = requests.head(f"{live_server.url}/v2/lab/podman/blobs/{desc['digest']}", timeout=10)
        assert (head.status_code, int(head.headers["Content-Length"])) == (200, desc["size"])
    config = requests.get(f"{live_server.url}/v2/lab/podman/blobs/{image.blob_digests[0]}", timeout=10)
    assert config.content == (image.layout / "blobs" / "sha256" / pushed.image_id).read_bytes()


def test_pull_back(podman: Podman, pushed: Pushed) -> None:
    podman.cmd("pull", "--tls-verify=false", pushed.ref)
    try:
        info = json.loads(podman.cmd("image", "inspect", pushed.ref).stdout)[0]
        assert info["Id"] == pushed.image_id
        assert info["Digest"] == pushed.digest
        assert info["Architecture"] == "amd64"
        by_digest = pushed.ref.rsplit(":", 1)[0] + "@" + pushed.digest
        podman.cmd("pull", "--tls-verify=false", by_digest)
        assert json.loads(podman.cmd("image", "inspect", by_digest).stdout)[0]["Id"] == pushed.image_id
    finally:
        podman.reset()


def test_run_pulled_image(podman: Podman, pushed: Pushed, can_run: str | None) -> None:
    if can_run is not None:
        pytest.skip(f"podman cannot run containers here: {can_run}")
    podman.cmd("pull", "--tls-verify=false", pushed.ref)
    try:
        proc = podman.run(
            pushed.ref,
            "/bin/sh",
            "-c",
            "cat /etc/sciregistry/hello.txt && wc -l < /data/numbers.txt && busybox | head -1",
        )
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert lines[0] == HELLO_TEXT.decode().strip()
        assert lines[1].strip() == "100"
        assert lines[2].startswith("BusyBox v")
    finally:
        podman.reset()
