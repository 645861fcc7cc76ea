"""Helpers shared by the live-server tests: raw HTTP (nothing normalised), pushes, the server fixtures.

``start_server`` and ``LiveServer`` live in ``tests/conftest.py``; pytest imports that file under
the module name ``conftest`` and may replace it with another directory's ``conftest.py``, so it is
located here by path rather than by ``from conftest import ...``.
"""

from __future__ import annotations

import hashlib
import http.client as httpclient
import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT_CONFTEST = Path(__file__).resolve().parent.parent / "conftest.py"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def root_conftest() -> ModuleType:
    for mod in list(sys.modules.values()):
        file = getattr(mod, "__file__", None)
        if file and Path(file).resolve() == ROOT_CONFTEST and hasattr(mod, "start_server"):
            return mod
    name = "_sciregistry_root_conftest"
    spec = importlib.util.spec_from_file_location(name, ROOT_CONFTEST)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def start_server(data_dir: Path, **kw: Any) -> Any:
    """``tests/conftest.py:start_server`` (real gunicorn on 127.0.0.1:0, own process group)."""
    return root_conftest().start_server(data_dir, **kw)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    header_list: list[tuple[str, str]] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        """The first spec error code of the body, None when the body is not an OCI error."""
        try:
            return self.json()["errors"][0]["code"]
        except (ValueError, KeyError, IndexError, TypeError):
            return None


def send(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    chunks: list[bytes] | None = None,
    timeout: float = 30,
) -> Reply:
    """One request over a fresh connection. ``path`` is sent byte for byte (``..``, ``%2e``, ``//``
    are not normalised); ``Content-Length`` is added for ``body`` unless given; ``chunks`` sends a
    chunked body."""
    conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        hdrs = {"Host": f"127.0.0.1:{port}", **(headers or {})}
        if chunks is not None:
            hdrs.setdefault("Transfer-Encoding", "chunked")
        elif body is not None and not any(k.lower() == "content-length" for k in hdrs):
            hdrs["Content-Length"] = str(len(body))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        try:
            if chunks is not None:
                for c in chunks:
                    if c:
                        conn.send(b"%x\r\n%s\r\n" % (len(c), c))
                conn.send(b"0\r\n\r\n")
            elif body:
                conn.send(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (413...) and close before reading everything
        resp = conn.getresponse()
        data = resp.read()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, resp.getheaders())
    finally:
        conn.close()


def push_blob(port: int, name: str, data: bytes) -> str:
    digest = sha256(data)
    r = send(
        port,
        "POST",
        f"/v2/{name}/blobs/uploads/?digest={digest}",
        body=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status == 201, (r.status, r.body)
    return digest


def start_upload(port: int, name: str) -> str:
    r = send(port, "POST", f"/v2/{name}/blobs/uploads/")
    assert r.status == 202, (r.status, r.body)
    return r.headers["location"]


def image_manifest(
    layers: list[tuple[str, int]], config: tuple[str, str, int] | None = None, **extra: Any
) -> bytes:
    cfg = config or (OCI_EMPTY, EMPTY_JSON_DIGEST, 2)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": cfg[0], "digest": cfg[1], "size": cfg[2]},
        "layers": [{"mediaType": "application/octet-stream", "digest": d, "size": s} for d, s in layers],
        **extra,
    }
    return json.dumps(doc, indent=2).encode()


def push_manifest(port: int, name: str, ref: str, data: bytes, media_type: str = OCI_MANIFEST) -> str:
    r = send(port, "PUT", f"/v2/{name}/manifests/{ref}", body=data, headers={"Content-Type": media_type})
    assert r.status == 201, (r.status, r.body)
    return r.headers["docker-content-digest"]


def log_tracebacks(server: Any) -> list[str]:
    """Lines of the server's combined output that start a Python traceback."""
    return [line for line in list(server.log) if "Traceback" in line]
