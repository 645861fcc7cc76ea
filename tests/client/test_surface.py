"""The client's public surface and its layer rule (DESIGN.md section 2)."""

from __future__ import annotations

import subprocess
import sys

from sciregistry import client


def test_exported_members() -> None:
    assert sorted(client.__all__) == [
        "Artifact",
        "CredentialStore",
        "Credentials",
        "ImageInfo",
        "Impact",
        "ImportedRun",
        "Lineage",
        "ManifestBytes",
        "PulledArtifact",
        "RecordedRun",
        "Registry",
        "Run",
        "RunFile",
        "RunInput",
        "RunList",
        "TransportError",
    ]
    for name in client.__all__:
        assert getattr(client, name).__module__.startswith("sciregistry.client"), name
    for method in (
        "push_dataset",
        "pull",
        "record_run",
        "import_run",
        "runs",
        "run",
        "run_for",
        "lineage",
        "impact",
        "blob_exists",
        "upload_blob",
        "download_blob",
        "put_manifest",
        "get_manifest",
        "referrers",
        "tags",
        "export_layout",
        "push_layout",
        "resolve",
        "reproduce",
    ):
        assert callable(getattr(client.Registry, method)), method


def test_client_never_imports_server_layers() -> None:
    code = (
        "import sys, sciregistry.client, sciregistry.client.artifacts, sciregistry.client.oci, "
        "sciregistry.client.credentials, sciregistry.client.models, sciregistry.client.transport\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy', 'werkzeug') or "
        "m.startswith(('sciregistry.storage', 'sciregistry.registry', 'sciregistry.db', 'sciregistry.api', "
        "'sciregistry.app')))\nprint(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
