"""Malformed requests against a live server (real gunicorn): each one gets the exact status and the
exact OCI distribution-spec error code, and the server keeps serving without a single 500.

Requests are sent with ``http.client`` and paths go out byte for byte (``..``, ``%2e%2e`` and ``//``
are not normalised by the client).
"""

from __future__ import annotations

import json
import re
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ._support import (
    OCI_INDEX,
    OCI_MANIFEST,
    Reply,
    image_manifest,
    push_blob,
    push_manifest,
    send,
    sha256,
    start_server,
    start_upload,
)

HEX = "0123456789abcdef" * 4
MISSING = sha256(b"never pushed anywhere")
FOUR_MIB = 4 * 1024 * 1024


@dataclass
class Ctx:
    server: Any
    port: int
    blob: bytes
    blob_digest: str
    manifest: bytes
    manifest_digest: str
    log_mark: int = 0  # the shared server's output before this module: not ours to judge
    replies: list[tuple[str, Reply]] = field(default_factory=list)

    def fresh_upload(self, name: str = "lab/x") -> str:
        return start_upload(self.port, name)


@pytest.fixture(scope="module")
def ctx(shared_server: Any) -> Ctx:
    """The session's shared server (this module writes only to lab/x, lab/y and lab/after)."""
    server = shared_server
    mark = server.log_mark()
    blob = b"a well-formed blob\n" * 10
    digest = push_blob(server.port, "lab/x", blob)
    push_blob(server.port, "lab/y", b"y")
    manifest = image_manifest([(digest, len(blob))])
    mdigest = push_manifest(server.port, "lab/x", "v1", manifest)
    return Ctx(server, server.port, blob, digest, manifest, mdigest, mark)


@dataclass(frozen=True)
class Row:
    """One malformed request. In ``path``: ``{upload}`` is a fresh upload of lab/x, ``{foreign}`` a
    fresh upload of lab/y, ``{blob}`` a blob of lab/x, ``{manifest}`` a manifest digest of lab/x.
    ``body`` may be a callable of the context (for manifests that reference real blobs)."""

    id: str
    method: str
    path: str
    status: int
    code: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    chunks: Any = None


def manifest_with(layers: list[tuple[str, int]], config: tuple[str, str, int] | None = None) -> bytes:
    return image_manifest(layers, config)


ROWS: list[Row] = [
    # --- repository names ---
    Row("name-dotdot", "GET", "/v2/../x/tags/list", 400, "NAME_INVALID"),
    Row("name-dotdot-encoded", "GET", "/v2/%2e%2e/x/tags/list", 400, "NAME_INVALID"),
    Row("name-dotdot-inside", "GET", "/v2/lab/%2E%2E/%2e%2e/etc/tags/list", 400, "NAME_INVALID"),
    Row("name-dotdot-blob", "GET", "/v2/lab/../x/blobs/{blob}", 400, "NAME_INVALID"),
    Row("name-double-slash", "GET", "/v2/a//b/tags/list", 400, "NAME_INVALID"),
    Row("name-uppercase", "GET", "/v2/Lab/X/tags/list", 400, "NAME_INVALID"),
    Row("name-300-chars", "GET", "/v2/" + "a" * 300 + "/tags/list", 400, "NAME_INVALID"),
    Row("name-256-chars-push", "POST", "/v2/" + "a" * 256 + "/blobs/uploads/", 400, "NAME_INVALID"),
    Row("name-triple-underscore", "POST", "/v2/a___b/blobs/uploads/", 400, "NAME_INVALID"),
    Row("name-leading-dash", "PUT", "/v2/-lead/manifests/v1", 400, "NAME_INVALID", body=b"{}"),
    Row("name-trailing-dot", "GET", "/v2/lab/x./tags/list", 400, "NAME_INVALID"),
    Row("name-space", "GET", "/v2/a%20b/tags/list", 400, "NAME_INVALID"),
    Row("name-nul", "GET", "/v2/a%00b/tags/list", 400, "NAME_INVALID"),
    Row("name-unicode", "GET", "/v2/l%C3%A4b/tags/list", 400, "NAME_INVALID"),
    Row(
        "mount-from-invalid",
        "POST",
        f"/v2/lab/x/blobs/uploads/?mount={MISSING}&from=../etc",
        400,
        "NAME_INVALID",
    ),
    # --- digests ---
    Row("digest-short", "GET", "/v2/lab/x/blobs/sha256:abc", 400, "DIGEST_INVALID"),
    Row("digest-uppercase", "GET", "/v2/lab/x/blobs/sha256:" + HEX.upper(), 400, "DIGEST_INVALID"),
    Row("digest-md5", "GET", "/v2/lab/x/blobs/md5:" + HEX[:32], 400, "DIGEST_INVALID"),
    Row("digest-sha512-too-short", "GET", "/v2/lab/x/blobs/sha512:" + HEX, 400, "DIGEST_INVALID"),
    Row("digest-no-algorithm", "GET", "/v2/lab/x/blobs/" + HEX, 400, "DIGEST_INVALID"),
    Row("digest-empty-encoded", "GET", "/v2/lab/x/blobs/sha256:", 400, "DIGEST_INVALID"),
    Row("digest-dotdot", "GET", "/v2/lab/x/blobs/..", 400, "DIGEST_INVALID"),
    Row("digest-delete-bad", "DELETE", "/v2/lab/x/blobs/sha256:zzz", 400, "DIGEST_INVALID"),
    Row("manifest-totallywrong", "GET", "/v2/lab/x/manifests/sha256:totallywrong", 400, "DIGEST_INVALID"),
    Row("referrers-bad-digest", "GET", "/v2/lab/x/referrers/sha256:abc", 400, "DIGEST_INVALID"),
    Row("referrers-tag-not-digest", "GET", "/v2/lab/x/referrers/latest", 400, "DIGEST_INVALID"),
    Row(
        "monolithic-bad-digest",
        "POST",
        "/v2/lab/x/blobs/uploads/?digest=sha256:short",
        400,
        "DIGEST_INVALID",
        body=b"abc",
    ),
    Row(
        "monolithic-wrong-digest",
        "POST",
        f"/v2/lab/x/blobs/uploads/?digest={MISSING}",
        400,
        "DIGEST_INVALID",
        body=b"abc",
    ),
    Row(
        "mount-bad-digest", "POST", "/v2/lab/x/blobs/uploads/?mount=garbage&from=lab/y", 400, "DIGEST_INVALID"
    ),
    Row("put-upload-garbage-digest", "PUT", "{upload}?digest=garbage", 400, "DIGEST_INVALID", body=b"abc"),
    Row("put-upload-without-digest", "PUT", "{upload}", 400, "DIGEST_INVALID", body=b"abc"),
    Row("put-upload-empty-digest", "PUT", "{upload}?digest=", 400, "DIGEST_INVALID", body=b"abc"),
    Row("put-upload-wrong-digest", "PUT", f"{{upload}}?digest={MISSING}", 400, "DIGEST_INVALID", body=b"abc"),
    Row(
        "put-manifest-digest-mismatch",
        "PUT",
        f"/v2/lab/x/manifests/{MISSING}",
        400,
        "DIGEST_INVALID",
        headers={"Content-Type": OCI_MANIFEST},
        body=lambda c: c.manifest,
    ),
    # --- tags / references ---
    Row(
        "tag-leading-dash",
        "PUT",
        "/v2/lab/x/manifests/-bad",
        400,
        "MANIFEST_INVALID",
        headers={"Content-Type": OCI_MANIFEST},
        body=lambda c: c.manifest,
    ),
    Row(
        "tag-129-chars",
        "PUT",
        "/v2/lab/x/manifests/" + "t" * 129,
        400,
        "MANIFEST_INVALID",
        headers={"Content-Type": OCI_MANIFEST},
        body=lambda c: c.manifest,
    ),
    Row(
        "tag-leading-dot",
        "PUT",
        "/v2/lab/x/manifests/.hidden",
        400,
        "MANIFEST_INVALID",
        headers={"Content-Type": OCI_MANIFEST},
        body=lambda c: c.manifest,
    ),
    Row("tag-get-invalid", "GET", "/v2/lab/x/manifests/-bad", 404, "MANIFEST_UNKNOWN"),
    Row("tag-dotdot", "GET", "/v2/lab/x/manifests/%2e%2e", 404, "MANIFEST_UNKNOWN"),
    # --- Range on blob GET ---
    Row(
        "range-past-end",
        "GET",
        "/v2/lab/x/blobs/{blob}",
        416,
        "BLOB_UPLOAD_INVALID",
        {"Range": "bytes=100000-"},
    ),
    Row("range-garbage", "GET", "/v2/lab/x/blobs/{blob}", 416, "BLOB_UPLOAD_INVALID", {"Range": "bytes=abc"}),
    Row(
        "range-suffix-zero",
        "GET",
        "/v2/lab/x/blobs/{blob}",
        416,
        "BLOB_UPLOAD_INVALID",
        {"Range": "bytes=-0"},
    ),
    Row(
        "range-reversed", "GET", "/v2/lab/x/blobs/{blob}", 416, "BLOB_UPLOAD_INVALID", {"Range": "bytes=9-3"}
    ),
    Row(
        "range-huge",
        "GET",
        "/v2/lab/x/blobs/{blob}",
        416,
        "BLOB_UPLOAD_INVALID",
        {"Range": "bytes=" + "9" * 40 + "-"},
    ),
    # --- Content-Range on PATCH ---
    Row(
        "content-range-garbage",
        "PATCH",
        "{upload}",
        416,
        "BLOB_UPLOAD_INVALID",
        {"Content-Range": "garbage"},
        body=b"abc",
    ),
    Row(
        "content-range-reversed",
        "PATCH",
        "{upload}",
        416,
        "BLOB_UPLOAD_INVALID",
        {"Content-Range": "5-2"},
        body=b"abcd",
    ),
    Row(
        "content-range-gap",
        "PATCH",
        "{upload}",
        416,
        "BLOB_UPLOAD_INVALID",
        {"Content-Range": "10-12"},
        body=b"abc",
    ),
    Row(
        "content-range-vs-length",
        "PATCH",
        "{upload}",
        416,
        "BLOB_UPLOAD_INVALID",
        {"Content-Range": "0-9"},
        body=b"abc",
    ),
    Row(
        "content-range-20-digits",
        "PATCH",
        "{upload}",
        416,
        "BLOB_UPLOAD_INVALID",
        {"Content-Range": "0-" + "9" * 20},
        body=b"abc",
    ),
    Row(
        "content-range-negative",
        "PATCH",
        "{upload}",
        416,
        "BLOB_UPLOAD_INVALID",
        {"Content-Range": "-1-2"},
        body=b"abcd",
    ),
    # --- manifests ---
    Row(
        "manifest-over-4mib",
        "PUT",
        "/v2/lab/x/manifests/big",
        413,
        "MANIFEST_INVALID",
        {"Content-Type": OCI_MANIFEST},
        body=b" " * (FOUR_MIB + 1),
    ),
    Row(
        "manifest-over-4mib-chunked",
        "PUT",
        "/v2/lab/x/manifests/big",
        413,
        "MANIFEST_INVALID",
        {"Content-Type": OCI_MANIFEST},
        chunks=[b" " * (1 << 20)] * 5,
    ),
    Row(
        "manifest-invalid-json",
        "PUT",
        "/v2/lab/x/manifests/bad",
        400,
        "MANIFEST_INVALID",
        {"Content-Type": OCI_MANIFEST},
        body=b'{"schemaVersion": 2,',
    ),
    Row(
        "manifest-empty-body",
        "PUT",
        "/v2/lab/x/manifests/bad",
        400,
        "MANIFEST_INVALID",
        {"Content-Type": OCI_MANIFEST},
        body=b"",
    ),
    Row(
        "manifest-binary",
        "PUT",
        "/v2/lab/x/manifests/bad",
        400,
        "MANIFEST_INVALID",
        {"Content-Type": OCI_MANIFEST},
        body=bytes(range(256)),
    ),
    Row(
        "manifest-json-array",
        "PUT",
        "/v2/lab/x/manifests/bad",
        400,
        "MANIFEST_INVALID",
        {"Content-Type": OCI_MANIFEST},
        body=b"[]",
    ),
    Row(
        "manifest-schema-1",
        "PUT",
        "/v2/lab/x/manifests/bad",
        400,
        "MANIFEST_INVALID",
        {"Content-Type": OCI_MANIFEST},
        body=b'{"schemaVersion": 1, "name": "lab/x", "tag": "bad", "fsLayers": []}',
    ),
    Row(
        "manifest-docker-v1-signed",
        "PUT",
        "/v2/lab/x/manifests/bad",
        400,
        "MANIFEST_INVALID",
        {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"},
        body=b'{"schemaVersion": 1, "name": "lab/x", "tag": "bad", "fsLayers": [], "signatures": []}',
    ),
    Row(
        "manifest-content-type-mismatch",
        "PUT",
        "/v2/lab/x/manifests/bad",
        400,
        "MANIFEST_INVALID",
        {"Content-Type": OCI_INDEX},
        body=lambda c: c.manifest,
    ),
    Row(
        "manifest-negative-size",
        "PUT",
        "/v2/lab/x/manifests/bad",
        400,
        "MANIFEST_INVALID",
        {"Content-Type": OCI_MANIFEST},
        body=lambda c: manifest_with([(c.blob_digest, -1)]),
    ),
    Row(
        "manifest-bad-layer-digest",
        "PUT",
        "/v2/lab/x/manifests/bad",
        400,
        "MANIFEST_INVALID",
        {"Content-Type": OCI_MANIFEST},
        body=lambda c: manifest_with([("sha256:" + HEX.upper(), 1)]),
    ),
    Row(
        "manifest-unknown-layer",
        "PUT",
        "/v2/lab/x/manifests/bad",
        400,
        "MANIFEST_BLOB_UNKNOWN",
        {"Content-Type": OCI_MANIFEST},
        body=lambda c: manifest_with([(c.blob_digest, len(c.blob)), (MISSING, 3)]),
    ),
    Row(
        "manifest-unknown-config",
        "PUT",
        "/v2/lab/x/manifests/bad",
        400,
        "MANIFEST_BLOB_UNKNOWN",
        {"Content-Type": OCI_MANIFEST},
        body=lambda c: manifest_with([], ("application/vnd.oci.image.config.v1+json", MISSING, 3)),
    ),
    Row(
        "manifest-blob-of-other-repo",
        "PUT",
        "/v2/lab/y/manifests/bad",
        400,
        "MANIFEST_BLOB_UNKNOWN",
        {"Content-Type": OCI_MANIFEST},
        body=lambda c: manifest_with([(c.blob_digest, len(c.blob))]),
    ),
    Row(
        "index-unknown-child",
        "PUT",
        "/v2/lab/x/manifests/bad",
        400,
        "MANIFEST_BLOB_UNKNOWN",
        {"Content-Type": OCI_INDEX},
        body=json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [{"mediaType": OCI_MANIFEST, "digest": MISSING, "size": 10}],
            }
        ).encode(),
    ),
    # --- uploads ---
    Row(
        "upload-unknown-get", "GET", f"/v2/lab/x/blobs/uploads/{uuid.UUID(int=1)}", 404, "BLOB_UPLOAD_UNKNOWN"
    ),
    Row(
        "upload-unknown-patch",
        "PATCH",
        f"/v2/lab/x/blobs/uploads/{uuid.UUID(int=2)}",
        404,
        "BLOB_UPLOAD_UNKNOWN",
        body=b"abc",
    ),
    Row(
        "upload-unknown-put",
        "PUT",
        f"/v2/lab/x/blobs/uploads/{uuid.UUID(int=3)}?digest={sha256(b'abc')}",
        404,
        "BLOB_UPLOAD_UNKNOWN",
        body=b"abc",
    ),
    Row(
        "upload-unknown-delete",
        "DELETE",
        f"/v2/lab/x/blobs/uploads/{uuid.UUID(int=4)}",
        404,
        "BLOB_UPLOAD_UNKNOWN",
    ),
    Row("upload-id-dotdot", "GET", "/v2/lab/x/blobs/uploads/..", 404, "BLOB_UPLOAD_UNKNOWN"),
    Row(
        "upload-id-dotdot-encoded",
        "PATCH",
        "/v2/lab/x/blobs/uploads/%2e%2e",
        404,
        "BLOB_UPLOAD_UNKNOWN",
        body=b"abc",
    ),
    Row("upload-id-huge", "GET", "/v2/lab/x/blobs/uploads/" + "f" * 2000, 404, "BLOB_UPLOAD_UNKNOWN"),
    Row("upload-of-other-repo-get", "GET", "{foreign}", 404, "BLOB_UPLOAD_UNKNOWN"),
    Row("upload-of-other-repo-patch", "PATCH", "{foreign}", 404, "BLOB_UPLOAD_UNKNOWN", body=b"abc"),
    Row("upload-of-other-repo-put", "PUT", f"{{foreign}}?digest={sha256(b'')}", 404, "BLOB_UPLOAD_UNKNOWN"),
    Row("upload-of-other-repo-delete", "DELETE", "{foreign}", 404, "BLOB_UPLOAD_UNKNOWN"),
    # --- methods and routes ---
    Row("method-post-manifest", "POST", "/v2/lab/x/manifests/v1", 405, "UNSUPPORTED", body=b"{}"),
    Row("method-unknown", "FOO", "/v2/lab/x/tags/list", 405, "UNSUPPORTED"),
    Row("method-trace-base", "TRACE", "/v2/", 405, "UNSUPPORTED"),
    Row("method-patch-blob", "PATCH", "/v2/lab/x/blobs/{blob}", 405, "UNSUPPORTED", body=b"x"),
    Row("method-put-catalog", "PUT", "/v2/_catalog", 405, "UNSUPPORTED", body=b"{}"),
    Row("method-get-uploads", "GET", "/v2/lab/x/blobs/uploads/", 405, "UNSUPPORTED"),
    Row("method-delete-tags", "DELETE", "/v2/lab/x/tags/list", 405, "UNSUPPORTED"),
    Row("route-unknown", "GET", "/v2/lab/x/nothing/here", 404, "UNSUPPORTED"),
    # --- query parameters ---
    Row("tags-n-negative", "GET", "/v2/lab/x/tags/list?n=-1", 400, "UNSUPPORTED"),
    Row("tags-n-abc", "GET", "/v2/lab/x/tags/list?n=abc", 400, "UNSUPPORTED"),
    Row("tags-n-float", "GET", "/v2/lab/x/tags/list?n=1.5", 400, "UNSUPPORTED"),
    Row("catalog-n-negative", "GET", "/v2/_catalog?n=-1", 400, "UNSUPPORTED"),
    Row("catalog-n-abc", "GET", "/v2/_catalog?n=abc", 400, "UNSUPPORTED"),
    Row("catalog-n-superscript-digit", "GET", "/v2/_catalog?n=%C2%B2", 400, "UNSUPPORTED"),
    Row("tags-n-circled-digit", "GET", "/v2/lab/x/tags/list?n=%E2%91%A0", 400, "UNSUPPORTED"),
    Row(
        "blob-range-5000-digits",
        "GET",
        "/v2/lab/x/blobs/{blob}",
        416,
        "BLOB_UPLOAD_INVALID",
        headers={"Range": "bytes=" + "9" * 5000 + "-"},
    ),
    # --- unknown things ---
    Row("tags-unknown-repo", "GET", "/v2/lab/nope/tags/list", 404, "NAME_UNKNOWN"),
    Row("manifest-unknown-repo", "GET", "/v2/lab/nope/manifests/v1", 404, "NAME_UNKNOWN"),
    Row("manifest-unknown-tag", "GET", "/v2/lab/x/manifests/nope", 404, "MANIFEST_UNKNOWN"),
    Row("manifest-delete-unknown", "DELETE", f"/v2/lab/x/manifests/{MISSING}", 404, "MANIFEST_UNKNOWN"),
    Row("blob-unknown", "GET", f"/v2/lab/x/blobs/{MISSING}", 404, "BLOB_UNKNOWN"),
    Row("blob-delete-unknown", "DELETE", f"/v2/lab/x/blobs/{MISSING}", 404, "BLOB_UNKNOWN"),
]


def expand(row: Row, ctx: Ctx) -> tuple[str, bytes | None]:
    path = row.path
    if "{upload}" in path:
        path = path.replace("{upload}", ctx.fresh_upload("lab/x"))
    if "{foreign}" in path:
        foreign = ctx.fresh_upload("lab/y")
        path = path.replace("{foreign}", foreign.replace("/v2/lab/y/", "/v2/lab/x/"))
    path = path.replace("{blob}", ctx.blob_digest).replace("{manifest}", ctx.manifest_digest)
    body = row.body(ctx) if callable(row.body) else row.body
    return path, body


def test_the_table_is_large_and_unique() -> None:
    assert len(ROWS) >= 40
    assert len({r.id for r in ROWS}) == len(ROWS)


MERGE_SLASHES_BUG = (
    "BUG: werkzeug's merge_slashes answers /v2//lab/x/... with an HTML 308 redirect to /v2/lab/x/... "
    "(no OCI body, no API version header; an invalid name silently becomes a valid one); fix: "
    "merge_slashes=False on the /v2 rules in sciregistry/api/v2/routes.py (or app.url_map)"
)
KNOWN_BUGS = [
    pytest.param(
        Row("name-leading-slash", "GET", "/v2//lab/x/tags/list", 400, "NAME_INVALID"), id="name-leading-slash"
    ),
    pytest.param(
        Row("name-leading-slash-push", "POST", "/v2//lab/x/blobs/uploads/", 400, "NAME_INVALID"),
        id="name-leading-slash-push",
    ),
]


@pytest.mark.parametrize(
    "row", [*ROWS, *KNOWN_BUGS], ids=[*(r.id for r in ROWS), *(p.id for p in KNOWN_BUGS)]
)
def test_malformed_request(ctx: Ctx, row: Row) -> None:
    path, body = expand(row, ctx)
    r = send(ctx.port, row.method, path, headers=row.headers, body=body, chunks=row.chunks)
    ctx.replies.append((row.id, r))
    assert r.headers.get("docker-distribution-api-version") == "registry/2.0"
    assert r.headers.get("content-type") == "application/json", r.body[:200]
    assert (r.status, r.code) == (row.status, row.code), r.body[:300]
    doc = r.json()
    assert len(doc["errors"]) == 1 and isinstance(doc["errors"][0]["message"], str)


def test_416_on_blob_get_carries_the_size(ctx: Ctx) -> None:
    r = send(ctx.port, "GET", f"/v2/lab/x/blobs/{ctx.blob_digest}", headers={"Range": "bytes=100000-"})
    assert r.status == 416
    assert r.headers["content-range"] == f"bytes */{len(ctx.blob)}"


def test_416_on_patch_reports_the_current_range(ctx: Ctx) -> None:
    loc = ctx.fresh_upload()
    assert send(ctx.port, "PATCH", loc, body=b"12345", headers={"Content-Range": "0-4"}).status == 202
    r = send(ctx.port, "PATCH", loc, body=b"67", headers={"Content-Range": "9-10"})
    assert (r.status, r.code) == (416, "BLOB_UPLOAD_INVALID")
    assert r.headers["range"] == "0-4"
    assert r.headers["location"] == loc


def test_failed_digest_check_removes_the_upload(ctx: Ctx) -> None:
    loc = ctx.fresh_upload()
    r = send(ctx.port, "PUT", f"{loc}?digest={MISSING}", body=b"abc")
    assert (r.status, r.code) == (400, "DIGEST_INVALID")
    r = send(ctx.port, "GET", loc)
    assert (r.status, r.code) == (404, "BLOB_UPLOAD_UNKNOWN")
    assert send(ctx.port, "HEAD", f"/v2/lab/x/blobs/{sha256(b'abc')}").status == 404


# Garbage Content-Length never reaches the application: gunicorn's HTTP parser answers 400 itself.
SERVER_REJECTS = [
    ("content-length-negative", {"Content-Length": "-1"}),
    ("content-length-garbage", {"Content-Length": "abc"}),
    ("content-length-twice", {"Content-Length": "3", "content-length": "4"}),
    ("content-length-and-chunked", {"Content-Length": "3", "Transfer-Encoding": "chunked"}),
]


@pytest.mark.parametrize("headers", [h for _, h in SERVER_REJECTS], ids=[i for i, _ in SERVER_REJECTS])
def test_garbage_content_length_is_400(ctx: Ctx, headers: dict[str, str]) -> None:
    loc = ctx.fresh_upload()
    r = send(ctx.port, "PATCH", loc, headers=headers, body=b"abc")
    assert r.status == 400
    # the upload was not touched
    assert send(ctx.port, "GET", loc).headers["range"] == "0-0"


def test_garbage_content_length_has_an_oci_error_body(ctx: Ctx) -> None:
    loc = ctx.fresh_upload()
    r = send(ctx.port, "PATCH", loc, headers={"Content-Length": "-1"}, body=b"abc")
    assert (r.status, r.code) == (400, "SIZE_INVALID")


def _raw_exchange(port: int, head: str, body: bytes) -> tuple[bytes, bool]:
    """Send raw bytes; return the first response and whether the server then closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        head_part, _, rest = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head_part).group(1))
        while len(rest) < length:
            rest += s.recv(65536)
        s.settimeout(5)
        try:
            closed = s.recv(65536) == b""
        except TimeoutError:
            closed = False
        return head_part + b"\r\n\r\n" + rest[:length], closed


@pytest.mark.parametrize(
    "path_kind,expected", [("patch", "BLOB_UPLOAD_INVALID"), ("manifest", "MANIFEST_INVALID")]
)
def test_broken_chunked_body_is_a_spec_error_and_closes(ctx: Ctx, path_kind: str, expected: str) -> None:
    """A chunked body with a garbage chunk size: 400 with the route's code (not 500), and the server
    closes the connection (the bytes after the bad chunk cannot be trusted to start a request)."""
    if path_kind == "patch":
        loc = ctx.fresh_upload()
        head = f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
    else:
        loc = None
        head = f"PUT /v2/lab/x/manifests/broken HTTP/1.1\r\nHost: x\r\nContent-Type: {OCI_MANIFEST}\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n"
    reply, closed = _raw_exchange(ctx.port, head, b"5\r\nhello\r\nZZZ\r\nxx\r\n0\r\n\r\n")
    status_line = reply.split(b"\r\n", 1)[0]
    assert b" 400 " in status_line, reply
    body = json.loads(reply.partition(b"\r\n\r\n")[2])
    assert body["errors"][0]["code"] == expected
    assert "could not be read" in body["errors"][0]["message"]
    assert closed
    if loc is not None:  # the upload lives on at an offset the client can query, and can finish
        r = send(ctx.port, "GET", loc)
        assert r.status == 204
        offset = int(r.headers["range"].split("-")[1]) + 1 if r.headers["range"] != "0-0" else 0
        assert offset in (0, 5)
        r = send(ctx.port, "PUT", f"{loc}?digest={sha256(b'hello world')}", body=b"hello world"[offset:])
        assert r.status == 201
    else:
        assert send(ctx.port, "GET", "/v2/lab/x/manifests/broken").status == 404


def test_the_server_still_serves_and_never_failed(ctx: Ctx) -> None:
    """Runs after the table (pytest keeps file order): push and pull a blob and a manifest."""
    assert len(ctx.replies) >= 40
    assert [rid for rid, r in ctx.replies if r.status >= 500] == []
    data = b"after the storm " * 1000
    digest = push_blob(ctx.port, "lab/after", data)
    # chunked PATCH + PUT too
    loc = ctx.fresh_upload("lab/after")
    assert send(ctx.port, "PATCH", loc, chunks=[data[:7000], data[7000:]]).status == 202
    assert send(ctx.port, "PUT", f"{loc}?digest={digest}").status == 201
    r = send(ctx.port, "GET", f"/v2/lab/after/blobs/{digest}")
    assert (r.status, r.body) == (200, data)
    manifest = image_manifest([(digest, len(data))])
    mdigest = push_manifest(ctx.port, "lab/after", "ok", manifest)
    r = send(ctx.port, "GET", "/v2/lab/after/manifests/ok", headers={"Accept": OCI_MANIFEST})
    assert (r.status, r.body, r.headers["docker-content-digest"]) == (200, manifest, mdigest)
    # the fixtures pushed before the table are intact
    r = send(ctx.port, "GET", "/v2/lab/x/manifests/v1")
    assert (r.status, r.body) == (200, ctx.manifest)
    r = send(ctx.port, "GET", "/v2/lab/x/tags/list")
    assert r.json() == {"name": "lab/x", "tags": ["v1"]}
    log = ctx.server.log_since(ctx.log_mark)
    assert [line for line in log if "Traceback" in line] == []
    assert not any(" ERROR " in line for line in log), [ln for ln in log if "ERROR" in ln]


def test_deeply_nested_manifest_is_manifest_invalid(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", workers=1)
    try:
        r = send(
            server.port,
            "PUT",
            "/v2/lab/x/manifests/deep",
            body=b"[" * 100_000,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert (r.status, r.code) == (400, "MANIFEST_INVALID")
    finally:
        server.stop()


def test_gunicorn_level_errors_map_to_spec_codes() -> None:
    from sciregistry.cli.worker import oci_error_code
    from sciregistry.errors import OCI_ERROR_CODES

    assert oci_error_code(400, "Invalid HTTP Header: 'CONTENT-LENGTH'") == "SIZE_INVALID"
    assert oci_error_code(400, "Invalid chunk size") == "SIZE_INVALID"
    assert oci_error_code(414, "Request Line is too large (9000 > 8190)") == "UNSUPPORTED"
    assert oci_error_code(501, "Unsupported transfer coding: 'gzip'") in OCI_ERROR_CODES


def test_range_unit_is_case_insensitive(ctx: Ctx) -> None:
    r = send(ctx.port, "GET", f"/v2/lab/x/blobs/{ctx.blob_digest}", headers={"Range": "BYTES=0-1"})
    assert (r.status, r.body) == (206, ctx.blob[:2])


def test_manifest_body_shorter_than_content_length_is_not_stored(ctx: Ctx) -> None:
    """The client announces more bytes than it sends, then half-closes: SIZE_INVALID, no tag."""
    body = image_manifest([(ctx.blob_digest, len(ctx.blob))])
    with socket.create_connection(("127.0.0.1", ctx.port), timeout=10) as s:
        s.sendall(
            f"PUT /v2/lab/x/manifests/short HTTP/1.1\r\nHost: x\r\nContent-Type: {OCI_MANIFEST}\r\n"
            f"Content-Length: {len(body) + 100}\r\n\r\n".encode()
            + body
        )
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    assert reply.split(b"\r\n", 1)[0].split()[1] in (b"400",), reply[:300]
    assert b"SIZE_INVALID" in reply or b"MANIFEST_INVALID" in reply
    assert send(ctx.port, "GET", "/v2/lab/x/manifests/short").status == 404


def test_failed_one_shot_upload_leaves_no_upload_behind(ctx: Ctx) -> None:
    """POST ?digest= with a short body: the client never learned the session id, so nothing may stay."""
    uploads = ctx.server.data_dir / "storage" / "uploads"
    assert uploads.is_dir()
    before = set(uploads.iterdir()) if uploads.exists() else set()
    data = b"x" * 100_000
    with socket.create_connection(("127.0.0.1", ctx.port), timeout=10) as s:
        s.sendall(
            f"POST /v2/lab/x/blobs/uploads/?digest={sha256(data)} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data[:40_000]
        )
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    assert reply.split(b"\r\n", 1)[0].split()[1] == b"400", reply[:300]
    after = set(uploads.iterdir()) if uploads.exists() else set()
    assert after - before == set()
