"""Every row of the /v2 surface (OCI distribution-spec v1.1.1), through the Flask test client.

Each test runs on SQLite and on PostgreSQL (the ``client`` fixture is parametrised over
``database_url``). Every response passes through :class:`V2`, which asserts that
``Docker-Distribution-API-Version: registry/2.0`` is present and that every error body is
``{"errors":[{"code","message",...}]}`` with a code among the spec's 14.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pytest
from werkzeug.test import TestResponse

from sciregistry.errors import OCI_ERROR_CODES
from sciregistry.oci import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
)

SPEC_CODES = {
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


class V2:
    """A thin wrapper over the Flask test client that checks the invariants of every /v2 response."""

    def __init__(self, client: Any) -> None:
        self.c = client
        self.seen = 0

    def __call__(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        chunked: bool = False,
        terminated: bool = True,
    ) -> TestResponse:
        kw: dict[str, Any] = {"method": method, "headers": dict(headers or {})}
        if chunked:
            kw["input_stream"] = io.BytesIO(body or b"")
            kw["headers"]["Transfer-Encoding"] = "chunked"
            if terminated:
                kw["environ_overrides"] = {"wsgi.input_terminated": True}
        elif body is not None:
            kw["data"] = body
        r = self.c.open(path, **kw)
        self.seen += 1
        assert r.headers.get("Docker-Distribution-API-Version") == "registry/2.0", (method, path, r.status)
        assert r.status_code != 500, (method, path, r.data)
        if r.status_code >= 400 and method != "HEAD":
            doc = r.get_json()
            assert isinstance(doc, dict) and isinstance(doc.get("errors"), list) and doc["errors"], r.data
            for e in doc["errors"]:
                assert e["code"] in SPEC_CODES, e
                assert isinstance(e["message"], str) and e["message"]
        return r

    # --- conveniences ---
    def push_blob(self, name: str, data: bytes, digest: str | None = None) -> str:
        digest = digest or sha256(data)
        r = self(
            "POST",
            f"/v2/{name}/blobs/uploads/?digest={digest}",
            body=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 201, r.data
        return digest

    def push_manifest(self, name: str, ref: str, data: bytes, media_type: str = OCI_MANIFEST) -> TestResponse:
        r = self("PUT", f"/v2/{name}/manifests/{ref}", body=data, headers={"Content-Type": media_type})
        assert r.status_code == 201, r.data
        return r


def error_code(r: TestResponse) -> str:
    return r.get_json()["errors"][0]["code"]


@pytest.fixture
def v2(client: Any) -> V2:
    return V2(client)


def test_the_spec_code_set_is_exactly_the_14_codes() -> None:
    assert OCI_ERROR_CODES == SPEC_CODES


def manifest_doc(
    layers: list[tuple[str, int]], *, config: tuple[str, str, int] | None = None, **extra: Any
) -> dict[str, Any]:
    cfg = config or (OCI_EMPTY, EMPTY_JSON_DIGEST, 2)
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": cfg[0], "digest": cfg[1], "size": cfg[2]},
        "layers": [{"mediaType": "text/tab-separated-values", "digest": d, "size": s} for d, s in layers],
        **extra,
    }


def encode(doc: Any, indent: int | None = 3) -> bytes:
    """Non-canonical JSON on purpose: the registry must return these exact bytes."""
    return (json.dumps(doc, indent=indent) + "\n").encode()


def push_image(v2: V2, name: str, payload: bytes, ref: str, **extra: Any) -> tuple[bytes, str]:
    layer = v2.push_blob(name, payload)
    data = encode(manifest_doc([(layer, len(payload))], **extra))
    r = v2.push_manifest(name, ref, data)
    return data, r.headers["Docker-Content-Digest"]


# --- base ----------------------------------------------------------------------------------------


def test_base_endpoint(v2: V2) -> None:
    r = v2("GET", "/v2/")
    assert r.status_code == 200 and r.get_json() == {}
    assert v2("GET", "/v2").status_code == 200


# --- blobs: pull ---------------------------------------------------------------------------------


def test_monolithic_post_then_head_and_get(v2: V2) -> None:
    data = b"0123456789" * 7
    digest = sha256(data)
    r = v2("POST", f"/v2/lab/x/blobs/uploads/?digest={digest}", body=data)
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/lab/x/blobs/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.data == b""

    h = v2("HEAD", f"/v2/lab/x/blobs/{digest}")
    assert h.status_code == 200
    assert h.headers["Content-Length"] == "70"
    assert h.headers["Docker-Content-Digest"] == digest
    assert h.data == b""

    g = v2("GET", f"/v2/lab/x/blobs/{digest}")
    assert g.status_code == 200
    assert g.data == data
    assert g.headers["Content-Length"] == "70"
    assert g.headers["Content-Type"] == "application/octet-stream"
    assert g.headers["Docker-Content-Digest"] == digest
    assert g.headers["Accept-Ranges"] == "bytes"


RANGES = [  # (Range header, Content-Range, body) on the 10-byte blob b"0123456789"
    ("bytes=0-3", "bytes 0-3/10", b"0123"),
    ("bytes=4-4", "bytes 4-4/10", b"4"),
    ("bytes=7-", "bytes 7-9/10", b"789"),
    ("bytes=0-", "bytes 0-9/10", b"0123456789"),
    ("bytes=-3", "bytes 7-9/10", b"789"),
    ("bytes=-50", "bytes 0-9/10", b"0123456789"),  # suffix longer than the blob: all of it
    ("bytes=8-1000", "bytes 8-9/10", b"89"),  # end past the blob: clamped
    ("bytes=9-9", "bytes 9-9/10", b"9"),
]
UNSATISFIABLE = [
    "bytes=10-",
    "bytes=10-20",
    "bytes=5-2",
    "bytes=-0",
    "bytes=-",
    "bytes=abc",
    "bytes=1-2-3",
    "bytes=99999999999999999999-",
]


def test_blob_range(v2: V2) -> None:
    digest = v2.push_blob("lab/x", b"0123456789")
    for range_header, content_range, body in RANGES:
        r = v2("GET", f"/v2/lab/x/blobs/{digest}", headers={"Range": range_header})
        assert (r.status_code, r.headers["Content-Range"], r.data) == (206, content_range, body), range_header
        assert r.headers["Content-Length"] == str(len(body))
        assert r.headers["Docker-Content-Digest"] == digest
    for range_header in UNSATISFIABLE:
        r = v2("GET", f"/v2/lab/x/blobs/{digest}", headers={"Range": range_header})
        assert r.status_code == 416, range_header
        assert r.headers["Content-Range"] == "bytes */10"
        assert error_code(r) == "BLOB_UPLOAD_INVALID"


def test_blob_range_not_understood_is_ignored(v2: V2) -> None:
    digest = v2.push_blob("lab/x", b"0123456789")
    for range_header in ("items=0-3", "bytes=0-1,4-5"):
        r = v2("GET", f"/v2/lab/x/blobs/{digest}", headers={"Range": range_header})
        assert (r.status_code, r.data) == (200, b"0123456789"), range_header


def test_blob_unknown_and_invalid(v2: V2) -> None:
    missing = sha256(b"never pushed")
    v2.push_blob("lab/x", b"something")
    r = v2("GET", f"/v2/lab/x/blobs/{missing}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"
    assert v2("HEAD", f"/v2/lab/x/blobs/{missing}").status_code == 404
    r = v2("GET", f"/v2/lab/nope/blobs/{missing}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"
    r = v2("GET", "/v2/lab/x/blobs/sha256:totallywrong")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"


def test_blob_is_scoped_to_its_repository(v2: V2) -> None:
    digest = v2.push_blob("lab/a", b"only in a")
    assert v2("HEAD", f"/v2/lab/a/blobs/{digest}").status_code == 200
    r = v2("GET", f"/v2/lab/b/blobs/{digest}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"


def test_empty_blob(v2: V2) -> None:
    digest = v2.push_blob("lab/x", b"")
    assert digest == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    r = v2("GET", f"/v2/lab/x/blobs/{digest}")
    assert r.status_code == 200 and r.data == b"" and r.headers["Content-Length"] == "0"
    r = v2("GET", f"/v2/lab/x/blobs/{digest}", headers={"Range": "bytes=0-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == "bytes */0"


def test_sha512_blob(v2: V2) -> None:
    data = b"sha512 content " * 100
    digest = sha512(data)
    r = v2("POST", f"/v2/lab/x/blobs/uploads/?digest={digest}", body=data)
    assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == digest
    assert v2("GET", f"/v2/lab/x/blobs/{digest}").data == data
    # the same upload machinery with chunks
    r = v2("POST", "/v2/lab/x/blobs/uploads/")
    loc = r.headers["Location"]
    assert v2("PATCH", loc, body=data[:500], headers={"Content-Range": "0-499"}).status_code == 202
    r = v2("PUT", f"{loc}?digest={digest}", body=data[500:])
    assert r.status_code == 201
    r = v2("PUT", f"/v2/lab/x/blobs/uploads/nope?digest={sha512(b'')}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"


# --- blobs: push ---------------------------------------------------------------------------------


def start(v2: V2, name: str = "lab/x") -> str:
    r = v2("POST", f"/v2/{name}/blobs/uploads/")
    assert r.status_code == 202
    loc = r.headers["Location"]
    uid = r.headers["Docker-Upload-UUID"]
    assert loc == f"/v2/{name}/blobs/uploads/{uid}"
    assert r.headers["Range"] == "0-0"
    return loc


def test_post_then_put_with_the_whole_body(v2: V2) -> None:
    data = b"whole body on PUT"
    loc = start(v2)
    r = v2(
        "PUT", f"{loc}?digest={sha256(data)}", body=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/lab/x/blobs/{sha256(data)}"
    assert r.headers["Docker-Content-Digest"] == sha256(data)
    assert v2("GET", f"/v2/lab/x/blobs/{sha256(data)}").data == data
    # the session is over
    r = v2("GET", loc)
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"


def test_chunked_upload_with_content_range_status_and_out_of_order(v2: V2) -> None:
    data = bytes(range(256)) * 40  # 10240 bytes
    loc = start(v2)
    uid = loc.rsplit("/", 1)[1]

    r = v2(
        "PATCH",
        loc,
        body=data[:4000],
        headers={"Content-Range": "0-3999", "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 202
    assert r.headers["Location"] == loc
    assert r.headers["Range"] == "0-3999"
    assert r.headers["Docker-Upload-UUID"] == uid

    # the same chunk again, a gap, an overlap: 416 and the current range
    for bad in ("0-3999", "4001-4100", "3000-3999"):
        lo, hi = (int(x) for x in bad.split("-"))
        r = v2("PATCH", loc, body=b"x" * (hi - lo + 1), headers={"Content-Range": bad})
        assert r.status_code == 416, bad
        assert error_code(r) == "BLOB_UPLOAD_INVALID"
        assert r.headers["Range"] == "0-3999"
        assert r.headers["Location"] == loc

    r = v2("GET", loc)
    assert r.status_code == 204
    assert r.headers["Range"] == "0-3999"
    assert r.headers["Location"] == loc
    assert r.headers["Docker-Upload-UUID"] == uid
    assert r.data == b""

    r = v2("PATCH", loc, body=data[4000:8000], headers={"Content-Range": "bytes=4000-7999"})
    assert r.status_code == 202 and r.headers["Range"] == "0-7999"
    r = v2("PATCH", loc, body=data[8000:], headers={"Content-Range": "8000-10239"})
    assert r.status_code == 202 and r.headers["Range"] == "0-10239"
    r = v2("PUT", f"{loc}?digest={sha256(data)}")
    assert r.status_code == 201
    assert v2("GET", f"/v2/lab/x/blobs/{sha256(data)}").data == data


def test_content_range_must_match_content_length(v2: V2) -> None:
    loc = start(v2)
    r = v2("PATCH", loc, body=b"12345", headers={"Content-Range": "0-9"})
    assert r.status_code == 416 and error_code(r) == "BLOB_UPLOAD_INVALID"
    r = v2("PATCH", loc, body=b"12345", headers={"Content-Range": "5-1"})
    assert r.status_code == 416 and error_code(r) == "BLOB_UPLOAD_INVALID"
    assert v2("GET", loc).headers["Range"] == "0-0"


def test_patch_without_content_range(v2: V2) -> None:
    loc = start(v2)
    r = v2("PATCH", loc, body=b"abc")
    assert r.status_code == 202 and r.headers["Range"] == "0-2"
    r = v2("PATCH", loc, body=b"def")
    assert r.status_code == 202 and r.headers["Range"] == "0-5"
    r = v2("PUT", f"{loc}?digest={sha256(b'abcdef')}")
    assert r.status_code == 201
    assert v2("GET", f"/v2/lab/x/blobs/{sha256(b'abcdef')}").data == b"abcdef"


def test_streamed_chunked_patch(v2: V2) -> None:
    data = b"streamed like docker " * 5000
    loc = start(v2)
    r = v2("PATCH", loc, body=data, chunked=True)
    assert r.status_code == 202 and r.headers["Range"] == f"0-{len(data) - 1}"
    assert v2("PUT", f"{loc}?digest={sha256(data)}").status_code == 201
    assert v2("GET", f"/v2/lab/x/blobs/{sha256(data)}").data == data


def test_chunked_body_without_a_terminating_server_is_refused(v2: V2) -> None:
    loc = start(v2)
    r = v2("PATCH", loc, body=b"abc", chunked=True, terminated=False)
    assert r.status_code == 501 and error_code(r) == "UNSUPPORTED"
    assert v2("GET", loc).headers["Range"] == "0-0"


def test_put_with_final_chunk(v2: V2) -> None:
    data = b"first part|second part"
    loc = start(v2)
    assert v2("PATCH", loc, body=data[:11], headers={"Content-Range": "0-10"}).status_code == 202
    r = v2(
        "PUT",
        f"{loc}?digest={sha256(data)}",
        body=data[11:],
        headers={"Content-Range": f"11-{len(data) - 1}"},
    )
    assert r.status_code == 201
    assert v2("GET", f"/v2/lab/x/blobs/{sha256(data)}").data == data
    # final chunk without Content-Range
    loc = start(v2)
    assert v2("PATCH", loc, body=b"abc").status_code == 202
    r = v2("PUT", f"{loc}?digest={sha256(b'abcxyz')}", body=b"xyz")
    assert r.status_code == 201


def test_put_final_chunk_out_of_order_is_416(v2: V2) -> None:
    loc = start(v2)
    v2("PATCH", loc, body=b"abc")
    r = v2("PUT", f"{loc}?digest={sha256(b'abcxyz')}", body=b"xyz", headers={"Content-Range": "5-7"})
    assert r.status_code == 416 and error_code(r) == "BLOB_UPLOAD_INVALID"
    assert r.headers["Range"] == "0-2"


@pytest.mark.parametrize("how", ["patch+put", "put-body", "monolithic"])
def test_digest_mismatch_discards_the_upload(v2: V2, how: str) -> None:
    data, claimed = b"the real bytes", sha256(b"other bytes")
    if how == "monolithic":
        r = v2("POST", f"/v2/lab/x/blobs/uploads/?digest={claimed}", body=data)
        loc = None
    else:
        loc = start(v2)
        if how == "patch+put":
            v2("PATCH", loc, body=data)
            r = v2("PUT", f"{loc}?digest={claimed}")
        else:
            r = v2("PUT", f"{loc}?digest={claimed}", body=data)
    assert r.status_code == 400
    err = r.get_json()["errors"][0]
    assert err["code"] == "DIGEST_INVALID"
    assert err["detail"] == {"expected": claimed, "actual": sha256(data)}
    if loc is not None:
        r = v2("GET", loc)
        assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"
        r = v2("PUT", f"{loc}?digest={sha256(data)}")
        assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    for d in (claimed, sha256(data)):
        r = v2("HEAD", f"/v2/lab/x/blobs/{d}")
        assert r.status_code == 404


def test_put_without_digest_keeps_the_upload(v2: V2) -> None:
    loc = start(v2)
    v2("PATCH", loc, body=b"abc")
    r = v2("PUT", loc)
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    r = v2("GET", loc)
    assert r.status_code == 204 and r.headers["Range"] == "0-2"


def test_cancel_upload(v2: V2) -> None:
    loc = start(v2)
    v2("PATCH", loc, body=b"abc")
    r = v2("DELETE", loc)
    assert r.status_code == 204 and r.data == b""
    for method in ("GET", "PATCH", "DELETE"):
        r = v2(method, loc, body=b"x" if method == "PATCH" else None)
        assert r.status_code == 404, method
        assert error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    r = v2("PUT", f"{loc}?digest={sha256(b'abc')}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"


def test_upload_belongs_to_its_repository(v2: V2) -> None:
    loc = start(v2, "lab/a")
    other = loc.replace("/lab/a/", "/lab/b/")
    v2("POST", "/v2/lab/b/blobs/uploads/")  # lab/b exists
    for method in ("GET", "PATCH", "DELETE"):
        r = v2(method, other, body=b"x" if method == "PATCH" else None)
        assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN", method
    assert v2("GET", loc).status_code == 204


def test_cross_repository_mount(v2: V2) -> None:
    data = b"mount me"
    digest = v2.push_blob("lab/src", data)
    r = v2("POST", f"/v2/lab/dst/blobs/uploads/?mount={digest}&from=lab/src")
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/lab/dst/blobs/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest
    assert v2("GET", f"/v2/lab/dst/blobs/{digest}").data == data
    # mounting again is idempotent
    assert v2("POST", f"/v2/lab/dst/blobs/uploads/?mount={digest}&from=lab/src").status_code == 201


def test_mount_of_a_missing_blob_starts_an_upload(v2: V2) -> None:
    v2.push_blob("lab/src", b"present")
    missing = sha256(b"absent")
    r = v2("POST", f"/v2/lab/dst/blobs/uploads/?mount={missing}&from=lab/src")
    assert r.status_code == 202
    loc = r.headers["Location"]
    assert loc.startswith("/v2/lab/dst/blobs/uploads/")
    assert v2("GET", loc).status_code == 204
    # the blob exists elsewhere but not in `from`: still an upload
    present = sha256(b"present")
    r = v2("POST", f"/v2/lab/dst/blobs/uploads/?mount={present}&from=lab/elsewhere")
    assert r.status_code == 202
    assert v2("HEAD", f"/v2/lab/dst/blobs/{present}").status_code == 404
    # and the upload started by a failed mount works
    assert v2("PUT", f"{loc}?digest={missing}", body=b"absent").status_code == 201


def test_mount_without_from(v2: V2) -> None:
    digest = v2.push_blob("lab/src", b"discoverable")
    r = v2("POST", f"/v2/lab/dst/blobs/uploads/?mount={digest}")
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/lab/dst/blobs/{digest}"
    r = v2("POST", f"/v2/lab/dst/blobs/uploads/?mount={sha256(b'nowhere')}")
    assert r.status_code == 202


def test_mount_with_bad_parameters(v2: V2) -> None:
    r = v2("POST", "/v2/lab/dst/blobs/uploads/?mount=sha256:nothex&from=lab/src")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    r = v2("POST", f"/v2/lab/dst/blobs/uploads/?mount={sha256(b'x')}&from=Lab/Src")
    assert r.status_code == 400 and error_code(r) == "NAME_INVALID"


def test_blob_delete(v2: V2) -> None:
    digest = v2.push_blob("lab/x", b"delete me")
    r = v2("DELETE", f"/v2/lab/x/blobs/{digest}")
    assert r.status_code == 202 and r.data == b""
    r = v2("GET", f"/v2/lab/x/blobs/{digest}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"
    assert v2("HEAD", f"/v2/lab/x/blobs/{digest}").status_code == 404
    r = v2("DELETE", f"/v2/lab/x/blobs/{digest}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"
    r = v2("DELETE", f"/v2/lab/nope/blobs/{digest}")
    assert r.status_code == 404 and error_code(r) == "NAME_UNKNOWN"


# --- manifests -----------------------------------------------------------------------------------


def test_oci_manifest_put_get_head_by_tag_and_digest(v2: V2) -> None:
    data, digest = push_image(v2, "lab/x", b"layer-bytes", "v1")
    assert digest == sha256(data)
    for ref in ("v1", digest):
        g = v2("GET", f"/v2/lab/x/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert g.status_code == 200
        assert g.data == data  # byte for byte: indentation and trailing newline kept
        assert g.headers["Content-Type"] == OCI_MANIFEST
        assert g.headers["Docker-Content-Digest"] == digest
        assert g.headers["Content-Length"] == str(len(data))
        h = v2("HEAD", f"/v2/lab/x/manifests/{ref}")
        assert h.status_code == 200
        assert h.data == b""
        assert h.headers["Content-Length"] == str(len(data))
        assert h.headers["Docker-Content-Digest"] == digest
        assert h.headers["Content-Type"] == OCI_MANIFEST


def test_manifest_put_response(v2: V2) -> None:
    layer = v2.push_blob("lab/x", b"l")
    data = encode(manifest_doc([(layer, 1)]))
    r = v2("PUT", "/v2/lab/x/manifests/latest", body=data, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/lab/x/manifests/{sha256(data)}"
    assert r.headers["Docker-Content-Digest"] == sha256(data)
    assert "OCI-Subject" not in r.headers
    assert r.data == b""
    # pushing the same bytes again is fine
    assert (
        v2("PUT", "/v2/lab/x/manifests/latest", body=data, headers={"Content-Type": OCI_MANIFEST}).status_code
        == 201
    )


def test_manifest_put_by_digest(v2: V2) -> None:
    layer = v2.push_blob("lab/x", b"l")
    data = encode(manifest_doc([(layer, 1)]))
    r = v2.push_manifest("lab/x", sha256(data), data)
    assert r.headers["Docker-Content-Digest"] == sha256(data)
    assert v2("GET", f"/v2/lab/x/manifests/{sha256(data)}").data == data
    r = v2("GET", "/v2/lab/x/tags/list")
    assert r.get_json() == {"name": "lab/x", "tags": []}
    # sha512 reference: the digest is computed with the reference's algorithm
    r = v2.push_manifest("lab/x", sha512(data), data)
    assert r.headers["Docker-Content-Digest"] == sha512(data)
    g = v2("GET", f"/v2/lab/x/manifests/{sha512(data)}")
    assert g.data == data and g.headers["Docker-Content-Digest"] == sha512(data)
    # a reference that does not match the body
    r = v2(
        "PUT", f"/v2/lab/x/manifests/{sha256(b'other')}", body=data, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"


def test_manifest_without_media_type_field_gets_the_content_type(v2: V2) -> None:
    layer = v2.push_blob("lab/x", b"l")
    doc = manifest_doc([(layer, 1)])
    del doc["mediaType"]
    data = encode(doc)
    v2.push_manifest("lab/x", "nomt", data, OCI_MANIFEST)
    g = v2("GET", "/v2/lab/x/manifests/nomt")
    assert g.headers["Content-Type"] == OCI_MANIFEST and g.data == data


def test_manifest_content_type_mismatch(v2: V2) -> None:
    layer = v2.push_blob("lab/x", b"l")
    data = encode(manifest_doc([(layer, 1)]))
    r = v2("PUT", "/v2/lab/x/manifests/t", body=data, headers={"Content-Type": OCI_INDEX})
    assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID"


def test_manifest_blob_unknown_for_missing_layer_and_config(v2: V2) -> None:
    layer = v2.push_blob("lab/x", b"present layer")
    missing = sha256(b"missing")
    r = v2(
        "PUT",
        "/v2/lab/x/manifests/t",
        body=encode(manifest_doc([(layer, 13), (missing, 7)])),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 400
    err = r.get_json()["errors"][0]
    assert err["code"] == "MANIFEST_BLOB_UNKNOWN"
    assert err["detail"] == {"missing": [missing]}
    r = v2(
        "PUT",
        "/v2/lab/x/manifests/t",
        body=encode(
            manifest_doc([(layer, 13)], config=("application/vnd.oci.image.config.v1+json", missing, 7))
        ),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    # a blob of another repository does not count
    other = v2.push_blob("lab/other", b"elsewhere")
    r = v2(
        "PUT",
        "/v2/lab/x/manifests/t",
        body=encode(manifest_doc([(other, 9)])),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    r = v2("GET", "/v2/lab/x/manifests/t")
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"


def test_empty_config_blob_is_implicit(v2: V2) -> None:
    """The empty JSON descriptor (image-spec) need not be uploaded: the registry knows it."""
    layer = v2.push_blob("lab/x", b"l")
    v2.push_manifest("lab/x", "t", encode(manifest_doc([(layer, 1)])))
    g = v2("GET", f"/v2/lab/x/blobs/{EMPTY_JSON_DIGEST}")
    assert g.status_code == 200 and g.data == EMPTY_JSON


def test_manifest_with_no_layers(v2: V2) -> None:
    data = encode(manifest_doc([]))
    v2.push_manifest("lab/x", "empty", data)
    assert v2("GET", "/v2/lab/x/manifests/empty").data == data


def test_unknown_layer_media_types_are_accepted(v2: V2) -> None:
    layer = v2.push_blob("lab/x", b"ATOM 1 N")
    doc = manifest_doc([], artifactType="application/vnd.sciregistry.result.v1")
    doc["layers"] = [{"mediaType": "chemical/x-pdb", "digest": layer, "size": 8}]
    v2.push_manifest("lab/x", "pdb", encode(doc))


def test_oci_index(v2: V2) -> None:
    m1, d1 = push_image(v2, "lab/x", b"amd64", "amd64")
    m2, d2 = push_image(v2, "lab/x", b"arm64", "arm64")
    idx = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": d1,
                    "size": len(m1),
                    "platform": {"os": "linux", "architecture": "amd64"},
                },
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": d2,
                    "size": len(m2),
                    "platform": {"os": "linux", "architecture": "arm64"},
                },
            ],
        }
    )
    r = v2.push_manifest("lab/x", "multi", idx, OCI_INDEX)
    assert r.headers["Docker-Content-Digest"] == sha256(idx)
    g = v2("GET", "/v2/lab/x/manifests/multi")
    assert g.data == idx and g.headers["Content-Type"] == OCI_INDEX


def test_index_children_must_exist(v2: V2) -> None:
    m1, d1 = push_image(v2, "lab/x", b"a", "a")
    missing = sha256(b"no such manifest")
    idx = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": d1, "size": len(m1)},
                {"mediaType": OCI_MANIFEST, "digest": missing, "size": 10},
            ],
        }
    )
    r = v2("PUT", "/v2/lab/x/manifests/multi", body=idx, headers={"Content-Type": OCI_INDEX})
    assert r.status_code == 400
    err = r.get_json()["errors"][0]
    assert err["code"] == "MANIFEST_BLOB_UNKNOWN" and err["detail"] == {"missing": [missing]}
    # a blob with that digest is not a manifest
    blob = v2.push_blob("lab/x", b"just a blob")
    idx2 = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": blob, "size": 11}],
        }
    )
    r = v2("PUT", "/v2/lab/x/manifests/multi", body=idx2, headers={"Content-Type": OCI_INDEX})
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"


def test_docker_schema2_and_manifest_list(v2: V2) -> None:
    cfg_bytes = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    cfg = v2.push_blob("lab/d", cfg_bytes)
    layer = v2.push_blob("lab/d", b"\x1f\x8b fake gzip")
    man = encode(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": cfg,
                "size": len(cfg_bytes),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": layer,
                    "size": 12,
                }
            ],
        },
        indent=None,
    )
    v2.push_manifest("lab/d", "v1", man, DOCKER_MANIFEST)
    g = v2("GET", "/v2/lab/d/manifests/v1")
    assert g.data == man and g.headers["Content-Type"] == DOCKER_MANIFEST
    assert g.headers["Docker-Content-Digest"] == sha256(man)
    mlist = encode(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST_LIST,
            "manifests": [
                {
                    "mediaType": DOCKER_MANIFEST,
                    "digest": sha256(man),
                    "size": len(man),
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
    )
    v2.push_manifest("lab/d", "list", mlist, DOCKER_MANIFEST_LIST)
    g = v2("GET", "/v2/lab/d/manifests/list")
    assert g.data == mlist and g.headers["Content-Type"] == DOCKER_MANIFEST_LIST
    h = v2("HEAD", f"/v2/lab/d/manifests/{sha256(mlist)}")
    assert h.headers["Content-Type"] == DOCKER_MANIFEST_LIST and h.headers["Content-Length"] == str(
        len(mlist)
    )


def test_manifest_unknown(v2: V2) -> None:
    push_image(v2, "lab/x", b"l", "v1")
    r = v2("GET", "/v2/lab/x/manifests/v2")
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    r = v2("GET", f"/v2/lab/x/manifests/{sha256(b'nope')}")
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    assert v2("HEAD", "/v2/lab/x/manifests/v2").status_code == 404
    r = v2("GET", "/v2/lab/nope/manifests/v1")
    assert r.status_code == 404 and error_code(r) == "NAME_UNKNOWN"
    r = v2("GET", "/v2/lab/x/manifests/sha256:totallywrong")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"


def test_tag_moves_to_the_new_manifest(v2: V2) -> None:
    m1, d1 = push_image(v2, "lab/x", b"one", "latest")
    m2, d2 = push_image(v2, "lab/x", b"two", "latest")
    g = v2("GET", "/v2/lab/x/manifests/latest")
    assert g.data == m2 and g.headers["Docker-Content-Digest"] == d2
    assert v2("GET", f"/v2/lab/x/manifests/{d1}").data == m1


def test_subject_header_and_missing_subject_allowed(v2: V2) -> None:
    subject = sha256(b"a manifest that was never pushed")
    layer = v2.push_blob("lab/x", b"sig")
    doc = manifest_doc(
        [(layer, 3)],
        artifactType="application/vnd.example.sig",
        subject={"mediaType": OCI_MANIFEST, "digest": subject, "size": 100},
    )
    r = v2.push_manifest("lab/x", sha256(encode(doc)), encode(doc))
    assert r.headers["OCI-Subject"] == subject


# --- referrers -----------------------------------------------------------------------------------


def test_referrers(v2: V2) -> None:
    _, subject = push_image(v2, "lab/x", b"the data", "v1")
    subj_desc = {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}
    note = v2.push_blob("lab/x", b"a note")

    a1_doc = manifest_doc(
        [(note, 6)],
        artifactType="application/vnd.sciregistry.result.v1",
        subject=subj_desc,
        annotations={"org.opencontainers.image.created": "2026-11-28T08:00:00Z", "k": "v"},
    )
    a1 = encode(a1_doc)
    v2.push_manifest("lab/x", sha256(a1), a1)

    cfg = v2.push_blob("lab/x", b'{"run":1}')
    a2 = encode(
        manifest_doc(
            [(note, 6)], config=("application/vnd.example.run.config+json", cfg, 9), subject=subj_desc
        )
    )
    v2.push_manifest("lab/x", sha256(a2), a2)

    a3 = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "artifactType": "application/vnd.example.bundle",
            "manifests": [],
            "subject": subj_desc,
        }
    )
    r = v2.push_manifest("lab/x", sha256(a3), a3, OCI_INDEX)
    assert r.headers["OCI-Subject"] == subject

    # an unrelated manifest with another subject
    other = encode(
        manifest_doc(
            [(note, 6)],
            artifactType="application/vnd.sciregistry.result.v1",
            subject={"mediaType": OCI_MANIFEST, "digest": sha256(b"x"), "size": 1},
        )
    )
    v2.push_manifest("lab/x", sha256(other), other)

    r = v2("GET", f"/v2/lab/x/referrers/{subject}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == OCI_INDEX
    assert "OCI-Filters-Applied" not in r.headers
    doc = r.get_json()
    assert doc["schemaVersion"] == 2 and doc["mediaType"] == OCI_INDEX
    by_digest = {m["digest"]: m for m in doc["manifests"]}
    assert set(by_digest) == {sha256(a1), sha256(a2), sha256(a3)}
    assert by_digest[sha256(a1)] == {
        "mediaType": OCI_MANIFEST,
        "digest": sha256(a1),
        "size": len(a1),
        "artifactType": "application/vnd.sciregistry.result.v1",
        "annotations": a1_doc["annotations"],
    }
    assert by_digest[sha256(a2)] == {
        "mediaType": OCI_MANIFEST,
        "digest": sha256(a2),
        "size": len(a2),
        "artifactType": "application/vnd.example.run.config+json",
    }
    assert by_digest[sha256(a3)] == {
        "mediaType": OCI_INDEX,
        "digest": sha256(a3),
        "size": len(a3),
        "artifactType": "application/vnd.example.bundle",
    }

    r = v2("GET", f"/v2/lab/x/referrers/{subject}?artifactType=application/vnd.sciregistry.result.v1")
    assert r.status_code == 200
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in r.get_json()["manifests"]] == [sha256(a1)]

    r = v2("GET", f"/v2/lab/x/referrers/{subject}?artifactType=application/none")
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert r.get_json()["manifests"] == []

    # deleting a referrer removes it from the list
    assert v2("DELETE", f"/v2/lab/x/manifests/{sha256(a2)}").status_code == 202
    r = v2("GET", f"/v2/lab/x/referrers/{subject}")
    assert {m["digest"] for m in r.get_json()["manifests"]} == {sha256(a1), sha256(a3)}


def test_referrers_empty_for_unknown_digest_and_repository(v2: V2) -> None:
    push_image(v2, "lab/x", b"l", "v1")
    for path in (f"/v2/lab/x/referrers/{sha256(b'nothing')}", f"/v2/lab/nope/referrers/{sha256(b'nothing')}"):
        r = v2("GET", path)
        assert r.status_code == 200
        assert r.headers["Content-Type"] == OCI_INDEX
        assert r.get_json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}


def test_referrers_fold_in_the_fallback_tag_index(v2: V2) -> None:
    _, subject = push_image(v2, "lab/x", b"data", "v1")
    subj_desc = {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}
    note = v2.push_blob("lab/x", b"n")
    a1 = encode(manifest_doc([(note, 1)], artifactType="application/vnd.a", subject=subj_desc))
    v2.push_manifest("lab/x", sha256(a1), a1)
    # a client without referrers API support pushed an artifact and listed it in the fallback tag
    legacy = encode(manifest_doc([(note, 1)], artifactType="application/vnd.legacy"))
    v2.push_manifest("lab/x", sha256(legacy), legacy)
    legacy_desc = {
        "mediaType": OCI_MANIFEST,
        "digest": sha256(legacy),
        "size": len(legacy),
        "artifactType": "application/vnd.legacy",
        "annotations": {"from": "fallback"},
    }
    dup_desc = {
        "mediaType": OCI_MANIFEST,
        "digest": sha256(a1),
        "size": len(a1),
        "artifactType": "application/vnd.a",
    }
    fallback = encode({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [dup_desc, legacy_desc]})
    v2.push_manifest("lab/x", "sha256-" + subject.split(":")[1], fallback, OCI_INDEX)

    r = v2("GET", f"/v2/lab/x/referrers/{subject}")
    manifests = r.get_json()["manifests"]
    digests = [m["digest"] for m in manifests]
    assert sorted(digests) == sorted([sha256(a1), sha256(legacy)])  # each once
    assert [m for m in manifests if m["digest"] == sha256(legacy)] == [legacy_desc]

    r = v2("GET", f"/v2/lab/x/referrers/{subject}?artifactType=application/vnd.legacy")
    assert r.get_json()["manifests"] == [legacy_desc]


# --- tags and catalog ----------------------------------------------------------------------------


def test_tags_list_order_and_pagination(v2: V2) -> None:
    layer = v2.push_blob("lab/x", b"l")
    data = encode(manifest_doc([(layer, 1)]))
    tags = ["v10", "b", "a", "V2", "_x", "c.1", "c-1"]
    for t in tags:
        v2.push_manifest("lab/x", t, data)
    expected = sorted(tags)  # lexical (byte) order: "V2" < "_x" < "a" ...
    assert expected == ["V2", "_x", "a", "b", "c-1", "c.1", "v10"]

    r = v2("GET", "/v2/lab/x/tags/list")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.get_json() == {"name": "lab/x", "tags": expected}
    assert "Link" not in r.headers

    r = v2("GET", "/v2/lab/x/tags/list?n=3")
    assert r.get_json() == {"name": "lab/x", "tags": ["V2", "_x", "a"]}
    assert r.headers["Link"] == '</v2/lab/x/tags/list?n=3&last=a>; rel="next"'

    r = v2("GET", "/v2/lab/x/tags/list?n=3&last=a")
    assert r.get_json()["tags"] == ["b", "c-1", "c.1"]
    assert r.headers["Link"] == '</v2/lab/x/tags/list?n=3&last=c.1>; rel="next"'

    r = v2("GET", "/v2/lab/x/tags/list?n=3&last=c.1")
    assert r.get_json()["tags"] == ["v10"]
    assert "Link" not in r.headers

    r = v2("GET", "/v2/lab/x/tags/list?n=7")
    assert r.get_json()["tags"] == expected
    assert "Link" not in r.headers

    r = v2("GET", "/v2/lab/x/tags/list?last=b")
    assert r.get_json()["tags"] == ["c-1", "c.1", "v10"]

    r = v2("GET", "/v2/lab/x/tags/list?n=0")
    assert r.get_json()["tags"] == []

    r = v2("GET", "/v2/lab/x/tags/list?last=zzz")
    assert r.get_json()["tags"] == []


def test_catalog(v2: V2) -> None:
    for name in ("lab/b", "lab/a", "alpha", "lab/a/deep", "zeta"):
        v2.push_blob(name, name.encode())
    all_names = ["alpha", "lab/a", "lab/a/deep", "lab/b", "zeta"]
    r = v2("GET", "/v2/_catalog")
    assert r.status_code == 200
    assert r.get_json() == {"repositories": all_names}
    assert "Link" not in r.headers

    r = v2("GET", "/v2/_catalog?n=2")
    assert r.get_json() == {"repositories": ["alpha", "lab/a"]}
    assert r.headers["Link"] == '</v2/_catalog?n=2&last=lab%2Fa>; rel="next"'
    r = v2("GET", "/v2/_catalog?n=2&last=lab%2Fa")
    assert r.get_json() == {"repositories": ["lab/a/deep", "lab/b"]}
    assert r.headers["Link"] == '</v2/_catalog?n=2&last=lab%2Fb>; rel="next"'
    r = v2("GET", "/v2/_catalog?n=2&last=lab/b")
    assert r.get_json() == {"repositories": ["zeta"]}
    assert "Link" not in r.headers


# --- deletes -------------------------------------------------------------------------------------


def test_tag_delete_removes_only_the_tag(v2: V2) -> None:
    data, digest = push_image(v2, "lab/x", b"l", "v1")
    v2.push_manifest("lab/x", "v1-alias", data)
    r = v2("DELETE", "/v2/lab/x/manifests/v1")
    assert r.status_code == 202 and r.data == b""
    r = v2("GET", "/v2/lab/x/manifests/v1")
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    assert v2("GET", f"/v2/lab/x/manifests/{digest}").data == data
    assert v2("GET", "/v2/lab/x/manifests/v1-alias").data == data
    assert v2("GET", "/v2/lab/x/tags/list").get_json()["tags"] == ["v1-alias"]
    r = v2("DELETE", "/v2/lab/x/manifests/v1")
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"


def test_digest_delete_removes_its_tags(v2: V2) -> None:
    data, digest = push_image(v2, "lab/x", b"l", "v1")
    v2.push_manifest("lab/x", "v1-alias", data)
    other, other_digest = push_image(v2, "lab/x", b"other", "keep")
    r = v2("DELETE", f"/v2/lab/x/manifests/{digest}")
    assert r.status_code == 202
    for ref in (digest, "v1", "v1-alias"):
        r = v2("GET", f"/v2/lab/x/manifests/{ref}")
        assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN", ref
    assert v2("GET", "/v2/lab/x/tags/list").get_json()["tags"] == ["keep"]
    assert v2("GET", f"/v2/lab/x/manifests/{other_digest}").data == other
    r = v2("DELETE", f"/v2/lab/x/manifests/{digest}")
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    # the manifest can be pushed again
    v2.push_manifest("lab/x", "v1", data)
    assert v2("GET", "/v2/lab/x/manifests/v1").data == data


# --- the routing table itself --------------------------------------------------------------------

ROUTING_ERRORS = [
    ("POST", "/v2/lab/x/manifests/v1", 405, "UNSUPPORTED"),
    ("PATCH", "/v2/lab/x/manifests/v1", 405, "UNSUPPORTED"),
    ("PUT", f"/v2/lab/x/blobs/{sha256(b'x')}", 405, "UNSUPPORTED"),
    ("POST", "/v2/lab/x/tags/list", 405, "UNSUPPORTED"),
    ("DELETE", "/v2/lab/x/tags/list", 405, "UNSUPPORTED"),
    ("DELETE", f"/v2/lab/x/referrers/{sha256(b'x')}", 405, "UNSUPPORTED"),
    ("PUT", "/v2/_catalog", 405, "UNSUPPORTED"),
    ("GET", "/v2/lab/x/blobs/uploads/", 405, "UNSUPPORTED"),
    ("GET", "/v2/lab/x", 404, "UNSUPPORTED"),
    ("GET", "/v2/lab/x/unknown/thing", 404, "UNSUPPORTED"),
    ("GET", "/v2/Lab/x/tags/list", 400, "NAME_INVALID"),
    ("GET", "/v2/lab/x/manifests/-bad", 404, "MANIFEST_UNKNOWN"),
    ("PUT", "/v2/lab/x/manifests/-bad", 400, "MANIFEST_INVALID"),
    ("GET", "/v2/lab/x/referrers/sha256:nothex", 400, "DIGEST_INVALID"),
    ("GET", "/v2/lab/nope/tags/list", 404, "NAME_UNKNOWN"),
    ("DELETE", "/v2/lab/nope/manifests/v1", 404, "NAME_UNKNOWN"),
    ("DELETE", f"/v2/lab/nope/blobs/{sha256(b'x')}", 404, "NAME_UNKNOWN"),
    ("GET", "/v2/lab/nope/blobs/uploads/0b1a0f8e-0000-4000-8000-000000000000", 404, "BLOB_UPLOAD_UNKNOWN"),
]


def test_routing_errors(v2: V2) -> None:
    v2.push_blob("lab/x", b"x")
    for method, path, status, code in ROUTING_ERRORS:
        r = v2(method, path, body=b"{}" if method in ("PUT", "POST", "PATCH") else None)
        assert (r.status_code, error_code(r)) == (status, code), (method, path)


NUL_BUG = (
    "BUG: a NUL byte in an upload id or a `last` cursor reaches PostgreSQL, which refuses NUL in strings "
    "(psycopg DataError -> 500); validate upload ids (^[A-Za-z0-9-]{8,64}$) in BlobOps._check_upload and "
    "reject/ignore `last` values that are not a valid tag/name in routes.list_tags/catalog"
)


@pytest.mark.parametrize(
    "method, path, status, code",
    [
        ("GET", "/v2/lab/x/blobs/uploads/x%00y", 404, "BLOB_UPLOAD_UNKNOWN"),
        ("PATCH", "/v2/lab/x/blobs/uploads/x%00y", 404, "BLOB_UPLOAD_UNKNOWN"),
        ("GET", "/v2/lab/x/tags/list?n=1&last=%00", 200, None),
        ("GET", "/v2/_catalog?n=1&last=a%00", 200, None),
    ],
)
def test_nul_bytes_in_ids_and_cursors(
    request: pytest.FixtureRequest, v2: V2, method: str, path: str, status: int, code: str | None
) -> None:
    v2.push_blob("lab/x", b"x")
    r = v2(method, path, body=b"x" if method == "PATCH" else None)
    assert r.status_code == status
    if code:
        assert error_code(r) == code


def test_repository_names_that_look_like_routes(v2: V2) -> None:
    """Path components equal to route keywords are legal name components; routing must still work."""
    names = [
        "lab/blobs",
        "lab/manifests",
        "lab/tags",
        "lab/blobs/uploads",
        "x/referrers",
        "lab/manifests/v1/tags",
    ]
    for name in names:
        data = name.encode()
        digest = v2.push_blob(name, data)
        assert v2("GET", f"/v2/{name}/blobs/{digest}").data == data
        v2.push_manifest(name, "list", encode(manifest_doc([(digest, len(data))])))
        assert v2("GET", f"/v2/{name}/tags/list").get_json() == {"name": name, "tags": ["list"]}
        loc = start(v2, name)
        assert v2("GET", loc).status_code == 204
    assert v2("GET", "/v2/_catalog").get_json()["repositories"] == sorted(names)
