"""The audit of writes on /v2: an ``after_request`` hook installed when authentication is on.

Every successful write is one audit row (uploads when they complete, not each chunk), keyed on the
route the dispatcher matched (:mod:`sciregistry.oci.routes`) and the method:

    manifest           PUT     manifest.push    <name>@<digest> (detail: tag)
    manifest           DELETE  manifest.delete  <name>@<digest> or <name>:<tag>
    blob-upload        POST    blob.push        <name>@<digest> (201 only: monolithic; a mount is blob.mount)
    blob-upload-chunk  PUT     blob.push        <name>@<digest>
    blob-upload-chunk  DELETE  upload.cancel    <name>
    blob               DELETE  blob.delete      <name>@<digest>

The row is written after the handler's transaction has committed, in a transaction of its own,
before the response is sent: a write whose audit row fails to commit has still happened.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request

from sciregistry.api.auth_gate import AuthGate
from sciregistry.errors import NameInvalid
from sciregistry.oci import is_digest, routes

WRITE_ACTIONS: dict[tuple[str, str], str] = {
    (routes.MANIFEST.name, "PUT"): "manifest.push",
    (routes.MANIFEST.name, "DELETE"): "manifest.delete",
    (routes.BLOB_UPLOAD.name, "POST"): "blob.push",
    (routes.BLOB_UPLOAD_CHUNK.name, "PUT"): "blob.push",
    (routes.BLOB_UPLOAD_CHUNK.name, "DELETE"): "upload.cancel",
    (routes.BLOB.name, "DELETE"): "blob.delete",
}


def audit_write(resp: Response) -> Response:
    """Record a successful write on /v2 with the gate's ``record`` (who, from where, what)."""
    if request.method in ("GET", "HEAD", "PATCH", "OPTIONS") or resp.status_code >= 400:
        return resp
    if not request.path.startswith("/v2/"):
        return resp
    try:
        found = routes.match(request.path)
    except NameInvalid:
        return resp
    if found is None:
        return resp
    route, params = found
    action = WRITE_ACTIONS.get((route.name, request.method))
    if action is None:
        return resp
    if route is routes.BLOB_UPLOAD and resp.status_code != 201:
        return resp  # a session was opened: the blob is recorded when the upload completes
    if route is routes.BLOB_UPLOAD and request.args.get("mount"):
        action = "blob.mount"
    name = params["name"]
    digest = resp.headers.get("Docker-Content-Digest")
    ref = params.get("ref") or params.get("digest")
    if digest:
        target = f"{name}@{digest}"
    elif ref and action.startswith(("manifest", "blob.delete")):
        target = f"{name}@{ref}" if is_digest(ref) else f"{name}:{ref}"
    else:
        target = name
    detail: dict[str, Any] = {"status": resp.status_code}
    if ref and action.startswith("manifest") and not is_digest(ref):
        detail["tag"] = ref
    if action == "blob.mount":
        detail["from"] = request.args.get("from")
    gate = current_app.extensions["sciregistry"].gate
    if isinstance(gate, AuthGate):
        gate.record(action=action, target=target, detail=detail)
    return resp
