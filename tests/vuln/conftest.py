"""A registry with two published results whose images are real (tar layers with package databases)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.landing import closure as closure_mod
from tests.landing.closure import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    Pushed,
    digest_of,
    push_blob,
    push_manifest,
)
from tests.landing.conftest import make_app
from tests.vuln.images import alpine_image, debian_image

DATA = Path(__file__).parent / "data"


def push_real_image(client: Any, repository: str, tag: str | None, layers: list[bytes]) -> Pushed:
    for layer in layers:
        push_blob(client, repository, layer)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [digest_of(x) for x in layers]},
        }
    ).encode()
    push_blob(client, repository, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": digest_of(x), "size": len(x)} for x in layers],
    }
    return push_manifest(client, repository, manifest, tag)


@dataclass
class World:
    app: Any
    client: Any
    vulns: Any
    debian: Any  # Closure whose image is the Debian image (dpkg, Python, conda, R, npm)
    alpine: Any  # Closure whose image is the Alpine image
    debian_doi: str
    alpine_doi: str


def records(*names: str) -> list[tuple[str, bytes]]:
    return [(n, (DATA / n).read_bytes()) for n in names]


@pytest.fixture
def world(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    app = make_app(tmp_path / "data", database_url)
    client = app.test_client()
    images = {"deb": debian_image(), "alp": alpine_image()}

    def fake_push_image(client: Any, repository: str, tag: str, *, seed: str = "") -> Pushed:
        return push_real_image(client, repository, tag, images[seed.split("-")[0]])  # "deb-2": same image

    monkeypatch.setattr(closure_mod, "push_image", fake_push_image)
    deb = closure_mod.build_closure(client, tag="d1", seed="deb", image_repo="lab/pipeline")
    alp = closure_mod.build_closure(client, tag="a1", seed="alp", image_repo="lab/alpine-tool")
    d1 = closure_mod.mint(client, deb, title="Coverage with samtools")
    a1 = closure_mod.mint(client, alp, title="Unrelated result")
    yield World(app, client, app.extensions["sciregistry"].vulns, deb, alp, d1["doi"], a1["doi"])
    app.extensions["sciregistry"].engine.dispose()


def conforms(doc: Any, component: str) -> None:
    """Assert ``doc`` is valid against ``#/components/schemas/<component>`` of docs/openapi.yaml."""
    from jsonschema import Draft202012Validator

    from sciregistry.api.ext.contract import bundled_document

    schema = {"$ref": f"#/components/schemas/{component}", "components": bundled_document()["components"]}
    errors = sorted(Draft202012Validator(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
