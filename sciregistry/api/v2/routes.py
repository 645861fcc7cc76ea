"""The OCI Distribution v1.1.1 HTTP surface: a handler for every /v2 route.

The routes themselves (names, methods, paths, the action each method needs) are the table of
:mod:`sciregistry.oci.routes`, shared with the access gate and the client:

    GET               /v2/                                       check (auth)
    GET               /v2/_catalog?n=&last=                      catalog
    GET HEAD PUT DEL  /v2/<name>/manifests/<reference>           manifests
    POST              /v2/<name>/blobs/uploads/                  start upload / monolithic / mount
    GET PATCH PUT DEL /v2/<name>/blobs/uploads/<uuid>            upload session
    GET HEAD DEL      /v2/<name>/blobs/<digest>                  blobs
    GET               /v2/<name>/tags/list?n=&last=              tags
    GET               /v2/<name>/referrers/<digest>?artifactType= referrers

Paths are matched by that table (not by werkzeug's router) so that a bad repository name is
NAME_INVALID and an unknown route is a spec error. The access gate checks the route's action for
the method (pull, push, delete) before the handler runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException

from sciregistry.api.v2.body import DirectBody, GuardedBody
from sciregistry.api.v2.errors import API_VERSION_HEADER, from_http_exception, render
from sciregistry.errors import (
    BlobUploadInvalid,
    DigestInvalid,
    ManifestInvalid,
    RegistryError,
    SizeInvalid,
    Unsupported,
)
from sciregistry.oci import MAX_MANIFEST_SIZE, parse_digest, referrers_index, routes, validate_name

bp = Blueprint("v2", __name__)

Handler = Callable[..., Response]
ENV_ROUTE = "sciregistry.route"


def services() -> Any:
    return current_app.extensions["sciregistry"]


# --- helpers -------------------------------------------------------------------------------------


def _empty(status: int, headers: dict[str, str] | None = None) -> Response:
    resp = Response(b"", status=status)
    del resp.headers["Content-Type"]
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


_DIGITS = re.compile(r"[0-9]+")


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not _DIGITS.fullmatch(raw) or len(raw) > 9:  # ASCII digits only ("²".isdigit() is True)
        raise Unsupported(f"query parameter {name} must be a non-negative integer", status=400)
    return int(raw)


def _content_length() -> int | None:
    raw = request.headers.get("Content-Length")
    if raw is None:
        return None
    if not _DIGITS.fullmatch(raw.strip()) or len(raw.strip()) > 19:
        raise SizeInvalid("invalid Content-Length")
    return int(raw)


def _body_stream(error: type[RegistryError] = BlobUploadInvalid) -> Any:
    """The request body as a stream, never read whole; a failed read raises ``error``. A chunked
    body needs a server that sets ``wsgi.input_terminated`` (gunicorn does); otherwise it would be
    read as empty: refuse it."""
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if chunked and not request.environ.get("wsgi.input_terminated"):
        raise Unsupported("chunked request bodies need a server that terminates input", status=501)
    stream = None if chunked else DirectBody.wrap(request.environ, _content_length())
    return GuardedBody(stream or request.stream, request.environ, error)


_RANGE = re.compile(r"^(?:bytes[ =])?([0-9]{1,19})-([0-9]{1,19})(?:/(?:[0-9]+|\*))?$")


def _content_range() -> tuple[int, int] | None:
    raw = request.headers.get("Content-Range")
    if raw is None:
        return None
    m = _RANGE.match(raw.strip())
    if not m:
        raise BlobUploadInvalid("invalid Content-Range", {"Content-Range": raw[:100]}, status=416)
    start, end = int(m.group(1)), int(m.group(2))
    if end < start:
        raise BlobUploadInvalid("invalid Content-Range", {"Content-Range": raw[:100]}, status=416)
    return start, end


def upload_headers(repository: str, upload_id: str, size: int) -> dict[str, str]:
    """Location, Range and Docker-Upload-UUID of an upload session (202/204 answers and the 416 error)."""
    return {
        "Location": routes.BLOB_UPLOAD_CHUNK.url(name=repository, upload_id=upload_id),
        "Range": f"0-{max(size - 1, 0)}",
        "Docker-Upload-UUID": upload_id,
    }


@contextmanager
def _upload_state_on_416(name: str, upload_id: str) -> Iterator[None]:
    """A chunk out of order (416) tells the client where the session stands: its upload headers
    with the offset the registry expected."""
    try:
        yield
    except BlobUploadInvalid as err:
        expected = err.detail.get("expected_start") if isinstance(err.detail, dict) else None
        if err.http_status == 416 and isinstance(expected, int):
            for k, v in upload_headers(name, upload_id, expected).items():
                err.headers.setdefault(k, v)
        raise


def _next_link(
    path: str, n: int | None, last: str | None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    if last is None or n is None:
        return {}
    q = {"n": str(n), "last": last, **(extra or {})}
    return {"Link": f'<{path}?{urlencode(q, quote_via=quote)}>; rel="next"'}


# --- base and catalog ----------------------------------------------------------------------------


def check() -> Response:
    resp = Response(b"{}", mimetype="application/json")
    return resp


def _last_arg() -> str | None:
    """The pagination cursor; NUL and other control characters can never be in a name or tag."""
    last = request.args.get("last")
    if last is not None:
        last = "".join(ch for ch in last if ch >= " ")[:256]
    return last


def catalog() -> Response:
    n, last = _int_arg("n"), _last_arg()
    page = services().registry.catalog(n, last, visible=services().gate.visible_filter())
    import json

    resp = Response(json.dumps({"repositories": page.items}), mimetype="application/json")
    resp.headers.update(_next_link(routes.CATALOG.url(), n, page.last))
    return resp


# --- manifests -----------------------------------------------------------------------------------


def get_manifest(name: str, ref: str) -> Response:
    m = services().registry.get_manifest(name, ref, touch=request.method == "HEAD")
    headers = {"Docker-Content-Digest": m.digest, "Content-Type": m.media_type, "ETag": f'"{m.digest}"'}
    if request.method == "HEAD":
        resp = _empty(200, headers)
        resp.headers["Content-Length"] = str(m.size)
        return resp
    resp = Response(m.content, status=200, headers=headers)
    return resp


def put_manifest(name: str, ref: str) -> Response:
    length = _content_length()
    if length is not None and length > MAX_MANIFEST_SIZE:
        raise ManifestInvalid("manifest exceeds 4 MiB", {"size": length}, status=413)
    data = _body_stream(ManifestInvalid).read(MAX_MANIFEST_SIZE + 1)
    if len(data) > MAX_MANIFEST_SIZE:
        raise ManifestInvalid("manifest exceeds 4 MiB", status=413)
    if length is not None and len(data) != length:  # the client stopped early: never store a prefix
        raise SizeInvalid("body shorter than Content-Length", {"expected": length, "received": len(data)})
    pushed = services().registry.put_manifest(
        name, ref, data, request.headers.get("Content-Type"), can_read=services().gate.read_check()
    )
    headers = {
        "Location": routes.MANIFEST.url(name=name, ref=pushed.digest),
        "Docker-Content-Digest": pushed.digest,
    }
    if pushed.subject:
        headers["OCI-Subject"] = pushed.subject
    return _empty(201, headers)


def delete_manifest(name: str, ref: str) -> Response:
    services().registry.delete_manifest(name, ref)
    return _empty(202)


# --- blobs ---------------------------------------------------------------------------------------


def get_blob(name: str, digest: str) -> Response:
    reg = services().registry
    blob = reg.stat_blob(name, digest, touch=request.method == "HEAD")
    headers = {
        "Docker-Content-Digest": blob.digest,
        "Content-Type": "application/octet-stream",
        "Accept-Ranges": "bytes",
        "ETag": f'"{blob.digest}"',
    }
    if request.method == "HEAD":
        resp = _empty(200, headers)
        resp.headers["Content-Length"] = str(blob.size)
        return resp
    url = reg.store.redirect_url(blob.digest)
    if url:
        return _empty(307, {**headers, "Location": url})
    start, end, status = 0, blob.size - 1, 200
    rng = request.headers.get("Range")
    if rng and (not rng.strip().lower().startswith("bytes=") or "," in rng):
        rng = None  # RFC 9110 14.2: ignore a Range the server does not support, send the whole blob
    if rng:
        parsed = _parse_range(rng, blob.size)
        if parsed is None:
            raise BlobUploadInvalid(
                "range not satisfiable",
                {"Range": rng[:100], "size": blob.size},
                status=416,
                headers={"Content-Range": f"bytes */{blob.size}"},
            )
        start, end = parsed
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{blob.size}"
    f = reg.open_blob(blob.digest)
    length = max(end - start + 1, 0)
    if start:
        f.seek(start)
    wrapper = request.environ.get("wsgi.file_wrapper")
    if wrapper is not None and status == 200 and services().config.blob_sendfile:
        body = wrapper(f, 1 << 20)
    else:
        body = _limited(f, length)
    resp = Response(body, status=status, headers=headers, direct_passthrough=True)
    resp.headers["Content-Length"] = str(length)
    return resp


def _limited(f: Any, length: int) -> Any:
    try:
        while length > 0:
            b = f.read(min(1 << 20, length))
            if not b:
                break
            length -= len(b)
            yield b
    finally:
        f.close()


_BYTES_RANGE = re.compile(r"^bytes=([0-9]{0,19})-([0-9]{0,19})$", re.IGNORECASE)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Parse one ``bytes=a-b``, ``a-`` or ``-n`` range (RFC 9110); None when unsatisfiable."""
    m = _BYTES_RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):
        n = int(m.group(2))
        if n == 0 or size == 0:
            return None
        return max(size - n, 0), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


def delete_blob(name: str, digest: str) -> Response:
    services().registry.delete_blob(name, digest)
    return _empty(202)


# --- uploads -------------------------------------------------------------------------------------


def start_upload(name: str) -> Response:
    reg = services().registry
    mount, source = request.args.get("mount"), request.args.get("from")
    digest = request.args.get("digest")
    if mount is not None:
        parse_digest(mount)
        if source is not None:
            validate_name(source)
        gate = services().gate
        blob = reg.mount_blob(name, mount, source, can_read=gate.read_check())
        if blob is not None:
            return _empty(
                201,
                {
                    "Location": routes.BLOB.url(name=name, digest=blob.digest),
                    "Docker-Content-Digest": blob.digest,
                },
            )
    if digest is not None:
        parse_digest(digest)
        blob = reg.upload_blob(name, digest, _body_stream(), _content_length())
        return _empty(
            201,
            {
                "Location": routes.BLOB.url(name=name, digest=blob.digest),
                "Docker-Content-Digest": blob.digest,
            },
        )
    status = reg.start_upload(name, _upload_owner(), services().config.max_open_uploads)
    return _empty(202, upload_headers(name, status.upload_id, 0))


def _upload_owner() -> str:
    """Whose upload sessions a new one counts against: the principal, else the client address."""
    who = services().gate.principal_name()
    return f"user:{who}" if who else f"addr:{request.remote_addr or '-'}"


def upload_status(name: str, upload_id: str) -> Response:
    status = services().registry.upload_status(name, upload_id)
    return _empty(204, upload_headers(name, upload_id, status.size))


def patch_upload(name: str, upload_id: str) -> Response:
    rng = _content_range()
    length = _content_length()
    if rng is not None and length is not None and rng[1] - rng[0] + 1 != length:
        raise BlobUploadInvalid("Content-Range does not match Content-Length", status=416)
    if rng is not None and length is None:
        length = rng[1] - rng[0] + 1
    with _upload_state_on_416(name, upload_id):
        status = services().registry.append_upload(
            name, upload_id, _body_stream(), rng[0] if rng else None, length
        )
    return _empty(202, upload_headers(name, upload_id, status.size))


def put_upload(name: str, upload_id: str) -> Response:
    digest = request.args.get("digest")
    if not digest:
        raise DigestInvalid("the digest query parameter is required")
    rng = _content_range()
    length = _content_length()
    if rng is not None and length is None:
        length = rng[1] - rng[0] + 1
    with _upload_state_on_416(name, upload_id):
        blob = services().registry.finish_upload(
            name, upload_id, digest, _body_stream(), length, rng[0] if rng else None
        )
    return _empty(
        201,
        {"Location": routes.BLOB.url(name=name, digest=blob.digest), "Docker-Content-Digest": blob.digest},
    )


def cancel_upload(name: str, upload_id: str) -> Response:
    services().registry.cancel_upload(name, upload_id)
    return _empty(204)


# --- tags and referrers --------------------------------------------------------------------------


def list_tags(name: str) -> Response:
    import json

    n, last = _int_arg("n"), _last_arg()
    page = services().registry.list_tags(name, n, last)
    resp = Response(json.dumps({"name": name, "tags": page.items}), mimetype="application/json")
    resp.headers.update(_next_link(routes.TAGS.url(name=name), n, page.last))
    return resp


def referrers(name: str, digest: str) -> Response:
    artifact_type = request.args.get("artifactType")
    descs = services().registry.referrers(name, digest, artifact_type)
    resp = Response(referrers_index(descs), mimetype="application/vnd.oci.image.index.v1+json")
    if artifact_type is not None:
        resp.headers["OCI-Filters-Applied"] = "artifactType"
    return resp


# --- dispatch ------------------------------------------------------------------------------------
# The paths, methods and actions are the route table of sciregistry.oci.routes; here each route
# gets its handler.

HANDLERS: dict[tuple[str, str], Handler] = {
    (routes.MANIFEST.name, "GET"): get_manifest,
    (routes.MANIFEST.name, "HEAD"): get_manifest,
    (routes.MANIFEST.name, "PUT"): put_manifest,
    (routes.MANIFEST.name, "DELETE"): delete_manifest,
    (routes.BLOB_UPLOAD.name, "POST"): start_upload,
    (routes.BLOB_UPLOAD_CHUNK.name, "GET"): upload_status,
    (routes.BLOB_UPLOAD_CHUNK.name, "PATCH"): patch_upload,
    (routes.BLOB_UPLOAD_CHUNK.name, "PUT"): put_upload,
    (routes.BLOB_UPLOAD_CHUNK.name, "DELETE"): cancel_upload,
    (routes.BLOB.name, "GET"): get_blob,
    (routes.BLOB.name, "HEAD"): get_blob,
    (routes.BLOB.name, "DELETE"): delete_blob,
    (routes.TAGS.name, "GET"): list_tags,
    (routes.REFERRERS.name, "GET"): referrers,
}
# every (route, method) of the table that takes a repository has its handler, and nothing else does
assert set(HANDLERS) == {(r.name, m) for r in routes.ROUTES if "name" in r.params for m in r.methods}


@bp.route("/v2/", methods=["GET", "HEAD"])
@bp.route("/v2", methods=["GET", "HEAD"])
def base() -> Response:
    services().gate.authorize(None, routes.BASE.actions[request.method])
    return check()


@bp.route("/v2/<path:rest>", methods=["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"])
def dispatch(rest: str) -> Response:
    found = routes.match("/v2/" + rest)  # NAME_INVALID for a route whose name breaks the grammar
    if found is None or found[0] is routes.BASE:
        raise Unsupported("unknown /v2 endpoint", {"path": rest[:200]}, status=404)
    route, params = found
    request.environ[ENV_ROUTE] = route.template
    action = route.actions.get(request.method)
    if route is routes.CATALOG:
        if action is None:
            raise Unsupported("method not allowed", status=405)
        services().gate.authorize(None, action)
        return catalog()
    if action is None:
        raise Unsupported("method not allowed on this endpoint", status=405)
    services().gate.authorize(params["name"], action)
    if "digest" in params:
        parse_digest(params["digest"])
    return HANDLERS[route.name, request.method](**params)


@bp.after_request
def _version_header(resp: Response) -> Response:
    resp.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
    return resp


@bp.errorhandler(RegistryError)
def _registry_error(err: RegistryError) -> Response:
    if err.http_status == 401:
        err.headers.setdefault("WWW-Authenticate", services().gate.challenge())
    return render(err)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return _registry_error(from_http_exception(exc))
