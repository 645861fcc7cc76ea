"""Fixtures for the client tests: the session's shared live registry, an isolated config home, helpers.

Each module pushes to repositories of its own (``lab-x/...`` names differ between modules, ``cli/...``
for the CLI), so they share ``shared_server`` (tests/conftest.py) instead of starting one each.

Images for runs are tiny synthetic OCI images (:func:`push_tiny_image`), so the run tests do not
need busybox; the image layout test builds the real gc-content image with
``workflows/gc-content/build_image.py`` (loaded by path) and skips without ``/bin/busybox``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from cli_commands import load_by_path

from sciregistry.client import Registry
from sciregistry.oci import OCI_CONFIG, OCI_MANIFEST, compute

ROOT = Path(__file__).resolve().parents[2]
BUILD_IMAGE = ROOT / "workflows" / "gc-content" / "build_image.py"
BUSYBOX = Path("/bin/busybox")


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Credentials go to a temporary config home; no SCIREGISTRY_* credentials leak in."""
    home = tmp_path / "config-home"
    monkeypatch.setenv("SCIREGISTRY_CONFIG_HOME", str(home))
    for var in ("SCIREGISTRY_USERNAME", "SCIREGISTRY_PASSWORD", "SCIREGISTRY_TOKEN", "SCIREGISTRY_REGISTRY"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def registry(shared_server) -> Iterator[Registry]:  # type: ignore[no-untyped-def]
    reg = Registry(shared_server.url, progress=False, use_stored_credentials=False)
    yield reg
    reg.close()


def push_tiny_image(reg: Registry, repo: str, tag: str, marker: str = "tiny") -> str:
    """Push a one-layer OCI image (config + a small layer) and return its manifest digest."""
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": []},
            "marker": marker,
        },
        separators=(",", ":"),
    ).encode()
    layer = f"layer of {marker}\n".encode()
    c = reg.upload_blob(repo, config, media_type=OCI_CONFIG)
    ly = reg.upload_blob(repo, layer, media_type="application/vnd.oci.image.layer.v1.tar")
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": c.to_dict(), "layers": [ly.to_dict()]},
        indent=2,
    ).encode()  # indented: bytes must be kept
    digest = reg.put_manifest(repo, tag, manifest, OCI_MANIFEST)
    assert digest == compute(manifest)
    return digest


def load_build_image() -> ModuleType:
    module: ModuleType = load_by_path("gc_content_build_image_for_client", BUILD_IMAGE)
    return module


@pytest.fixture(scope="session")
def gc_layout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The gc-content image as an OCI layout: ``(layout dir, manifest digest)``, tag ``t1``."""
    if not BUSYBOX.is_file():
        pytest.skip(f"{BUSYBOX} not installed (apt-get install busybox-static)")
    layout = tmp_path_factory.mktemp("gc-layout") / "oci"
    digest = load_build_image().build_image(layout, "t1", BUSYBOX)
    return layout, digest


def write_tree(root: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files
