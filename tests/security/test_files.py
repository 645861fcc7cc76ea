"""#10 world-readable data: whatever the umask of the shell that starts ``sciregistry serve``, the
database, blobs, uploads and keys are readable by the server's account only (files 0600,
directories 0700), and a data directory created earlier with looser modes is tightened at start."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import requests

from tests.conftest import start_server


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_serve_keeps_data_private_under_umask_022(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # an existing installation, created with the usual umask (directories 0755, files 0644)
    (data_dir / "storage").mkdir(parents=True, mode=0o755)
    os.chmod(data_dir, 0o755)
    old = os.umask(0o022)
    try:
        server = start_server(
            data_dir,
            env={
                "SCIREGISTRY_AUTH_ENABLED": "true",
                "SCIREGISTRY_TESTING": "true",
                "SCIREGISTRY_ADMIN_PASSWORD": "a password for the test",
            },
        )
    finally:
        os.umask(old)
    try:
        blob = b"private bytes"
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        auth = ("admin", "a password for the test")
        r = requests.post(
            f"{server.url}/v2/admin/private/blobs/uploads/?digest={digest}", data=blob, auth=auth, timeout=10
        )
        assert r.status_code == 201, r.text
        r = requests.post(f"{server.url}/v2/admin/private/blobs/uploads/", auth=auth, timeout=10)
        assert r.status_code == 202, r.text  # an open upload session: its file too
        requests.get(f"{server.url}/v2/", auth=("admin", "wrong"), timeout=10)  # an audit row
    finally:
        server.stop()

    assert _mode(data_dir) == 0o700
    loose = []
    for root, dirs, files in os.walk(data_dir):
        for name in dirs + files:
            path = Path(root) / name
            if path.is_symlink():
                continue
            if _mode(path) & 0o077:
                loose.append(f"{path.relative_to(data_dir)} {oct(_mode(path))}")
    assert not loose, "readable by others: " + ", ".join(loose)
    assert (data_dir / "registry.db").exists()
    assert any((data_dir / "storage" / "blobs").rglob(digest.split(":")[1]))
