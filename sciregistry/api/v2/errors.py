"""Rendering of errors on /v2: ``{"errors":[{"code","message","detail"}]}`` with a spec code only."""

from __future__ import annotations

import json
import logging

from flask import Response, request
from werkzeug.exceptions import HTTPException

from sciregistry.errors import (
    OCI_ERROR_CODES,
    BlobUploadInvalid,
    NameInvalid,
    NameUnknown,
    RegistryError,
    ServerFault,
    SizeInvalid,
    Unsupported,
)

log = logging.getLogger("sciregistry.api.v2")
API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")


def render(err: RegistryError) -> Response:
    if isinstance(err, ServerFault):
        body = json.dumps({"errors": [{**err.to_dict(), "code": err.oci_code}]})
    else:
        if err.code not in OCI_ERROR_CODES:  # an /ext error leaking into /v2 is a bug; never send its code
            log.error("non-OCI error on /v2: %s %s", err.code, err.text)
            err = Unsupported(err.text, err.detail, status=err.http_status)
        body = json.dumps({"errors": [err.to_dict()]})
    resp = Response(body, status=err.http_status, mimetype="application/json")
    resp.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
    for k, v in err.headers.items():
        resp.headers[k] = v
    return resp


def from_http_exception(exc: HTTPException) -> RegistryError:
    """Translate werkzeug's own errors (routing, body reading) into spec codes."""
    status = exc.code or 400
    if status == 404:
        return NameUnknown("unknown /v2 endpoint or repository", status=404)
    if status == 405:
        return Unsupported("method not allowed on this endpoint", status=405)
    if status == 413:
        return SizeInvalid("request body too large", status=413)
    if status >= 500:
        return Unsupported(exc.description or "server error", status=status)
    return BlobUploadInvalid(exc.description or "bad request", status=status)


def unknown_route(exc: HTTPException) -> Response:
    """A /v2 path werkzeug's router does not serve (``app.py`` registers it for 404 under /v2): an
    empty path component is NAME_INVALID, anything else NAME_UNKNOWN."""
    if "//" in request.path:
        return render(NameInvalid("invalid repository name (empty path component)"))
    return render(from_http_exception(exc))
