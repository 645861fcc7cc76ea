"""Helpers for the authorization tests: an auth-enabled app, credentials headers, small pushes."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def auth_config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """An app configuration with authentication on (cheap Argon2 parameters: testing)."""
    return {
        "data_dir": str(tmp_path / "data"),
        "auth_enabled": True,
        "storage_fsync": False,
        "testing": True,
        "base_url": "http://registry.test",
        **extra,
    }


def make_app(tmp_path: Path, **extra: Any) -> Any:
    from sciregistry.app import create_app

    return create_app(auth_config(tmp_path, **extra))


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(client: Any, repo: str, data: bytes, headers: dict[str, str]) -> str:
    digest = sha256(data)
    r = client.post(f"/v2/{repo}/blobs/uploads/?digest={digest}", data=data, headers=headers)
    assert r.status_code == 201, (r.status_code, r.data)
    return digest


@dataclass(frozen=True)
class Image:
    repo: str
    tag: str
    digest: str
    manifest: bytes
    config_digest: str
    layer_digest: str


def push_image(client: Any, repo: str, tag: str, headers: dict[str, str], salt: str = "") -> Image:
    """A one-layer image; ``salt`` makes its digests unique."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "salt": salt}).encode()
    layer = f"layer of {repo}:{tag} {salt}".encode()
    cdig = push_blob(client, repo, config, headers)
    ldig = push_blob(client, repo, layer, headers)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": cdig, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": ldig, "size": len(layer)}],
        }
    ).encode()
    r = client.put(
        f"/v2/{repo}/manifests/{tag}", data=manifest, headers={**headers, "Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201, (r.status_code, r.data)
    return Image(repo, tag, sha256(manifest), manifest, cdig, ldig)


def error_code(resp: Any) -> str | None:
    try:
        return resp.get_json()["errors"][0]["code"]  # type: ignore[no-any-return]
    except (TypeError, KeyError, IndexError):
        return None
