"""A live registry with content, for the browser tests and ``scripts/screenshots.py``.

A real gunicorn server (authentication on, port 0) populated the way a lab would populate it:
``sciregistry demo`` (image, dataset, run, DOI) run twice through its Python entry point, once
into the public namespace ``lab`` and once into grace's personal (private) namespace, plus an
SBOM-like artifact attached to the public image as a referrer.

    admin  (administrator)           grace (owns lab, public; and grace, private)
    lab/gc-content:1.0.0  <-subject- application/spdx+json SBOM
    lab/reads:v1  ->  run "GC content of the sample reads (k=3)"  ->  lab/gc-results  ->  DOI (public)
    grace/...      the same, private; its DOI opens with a reviewer token
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "admin-password-1"
GRACE_PASSWORD = "grace-password-1"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Site:
    url: str
    server: Any
    public: Any  # sciregistry.cli.demo.DemoResult
    private: Any
    reviewer_token: str
    sbom_digest: str

    @property
    def public_doi(self) -> str:
        return str(self.public.doi)

    @property
    def private_doi(self) -> str:
        return str(self.private.doi)


def _root_conftest() -> Any:
    sys.path.insert(0, str(ROOT / "tests"))
    from cli_commands import root_conftest

    return root_conftest()


def _services(data_dir: Path) -> Any:
    from sciregistry.app import build_services
    from sciregistry.config import load_config

    cfg = load_config(
        overrides={"data_dir": str(data_dir), "auth_enabled": True, "testing": True}, environ={}
    )
    return build_services(cfg, migrate=False)


def _attach_sbom(url: str, token: str, repository: str, image_digest: str) -> str:
    """Push a small SPDX document as an artifact whose subject is the image (raw OCI calls)."""
    import requests

    auth = {"Authorization": f"Bearer {token}"}
    sbom = json.dumps(
        {
            "spdxVersion": "SPDX-2.3",
            "name": "gc-content image",
            "packages": [{"name": "busybox", "versionInfo": "1.35"}],
        }
    ).encode()
    empty = b"{}"
    for blob in (sbom, empty):
        d = "sha256:" + hashlib.sha256(blob).hexdigest()
        r = requests.post(
            f"{url}/v2/{repository}/blobs/uploads/?digest={d}",
            data=blob,
            timeout=30,
            headers={**auth, "Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 201, r.text
    head = requests.head(f"{url}/v2/{repository}/manifests/{image_digest}", headers=auth, timeout=30)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/spdx+json",
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": "sha256:" + hashlib.sha256(empty).hexdigest(),
            "size": 2,
        },
        "layers": [
            {
                "mediaType": "application/spdx+json",
                "digest": "sha256:" + hashlib.sha256(sbom).hexdigest(),
                "size": len(sbom),
                "annotations": {"org.opencontainers.image.title": "sbom.spdx.json"},
            }
        ],
        "subject": {
            "mediaType": head.headers["Content-Type"],
            "digest": image_digest,
            "size": int(head.headers["Content-Length"]),
        },
    }
    body = json.dumps(manifest).encode()
    d = "sha256:" + hashlib.sha256(body).hexdigest()
    r = requests.put(
        f"{url}/v2/{repository}/manifests/{d}",
        data=body,
        timeout=30,
        headers={**auth, "Content-Type": manifest["mediaType"]},
    )
    assert r.status_code == 201, r.text
    return d


def start_site(tmp: Path) -> Site:
    """Start the server in ``tmp`` and populate it (about 10 s). The caller stops ``site.server``."""
    from sciregistry.cli.demo import run_demo

    data = tmp / "data"
    server = _root_conftest().start_server(
        data,
        env={
            "SCIREGISTRY_AUTH_ENABLED": "true",
            "SCIREGISTRY_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "SCIREGISTRY_TESTING": "true",
        },
    )
    try:
        svc = _services(data)
        accounts = svc.accounts
        accounts.create_user("grace", GRACE_PASSWORD)
        accounts.create_namespace("lab", "grace", public=True)
        token = accounts.create_token(user="grace", description="site population").secret
        workflows = ROOT / "workflows"
        public = run_demo(
            server.url,
            repo_prefix="lab",
            token=token,
            workflows=workflows,
            workdir=tmp / "w1",
            agent="Grace Hopper",
            label="demo",
        )
        private = run_demo(
            server.url,
            repo_prefix="grace",
            token=token,
            workflows=workflows,
            workdir=tmp / "w2",
            agent="Grace Hopper",
            label="embargoed",
        )
        image_digest = public.image.rsplit("@", 1)[1]
        sbom = _attach_sbom(server.url, token, "lab/gc-content", image_digest)
        reviewer = accounts.create_token(
            reviewer_doi=private.doi, expires_in=3600, description="journal review", created_by="grace"
        ).secret
        svc.engine.dispose()
    except BaseException:
        server.stop()
        raise
    return Site(server.url, server, public, private, reviewer, sbom)
