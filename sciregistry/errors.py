"""The one error hierarchy of sciregistry.

Every error a request can end in is a ``RegistryError``. Each class carries its wire
``code``, its HTTP ``status`` and a default ``message`` as class attributes; an instance
adds a ``detail`` (any JSON value) and optionally a more precise message.

    RegistryError
    ├── OCI distribution-spec v1.1.1 error codes (the only codes ever sent on /v2)
    │   ├── BlobUnknown            BLOB_UNKNOWN            404
    │   ├── BlobUploadInvalid      BLOB_UPLOAD_INVALID     400
    │   ├── BlobUploadUnknown      BLOB_UPLOAD_UNKNOWN     404
    │   ├── DigestInvalid          DIGEST_INVALID          400
    │   ├── ManifestBlobUnknown    MANIFEST_BLOB_UNKNOWN   400
    │   ├── ManifestInvalid        MANIFEST_INVALID        400
    │   ├── ManifestUnknown        MANIFEST_UNKNOWN        404
    │   ├── NameInvalid            NAME_INVALID            400
    │   ├── NameUnknown            NAME_UNKNOWN            404
    │   ├── SizeInvalid            SIZE_INVALID            400
    │   ├── Unauthorized           UNAUTHORIZED            401
    │   ├── Denied                 DENIED                  403
    │   ├── Unsupported            UNSUPPORTED             405 (status may be overridden per instance)
    │   └── TooManyRequests        TOOMANYREQUESTS         429
    └── ExtError: sciregistry's own codes, used only outside /v2 (/api/v1, /doi, CLI)
        ├── BadRequest             BAD_REQUEST             400
        ├── NotFound               NOT_FOUND               404
        ├── Conflict               CONFLICT                409
        ├── CrateInvalid           CRATE_INVALID           422
        ├── MetadataInvalid        METADATA_INVALID        422
        ├── Pinned                 PINNED                  409
        ├── UpstreamError          UPSTREAM_ERROR          502
        └── ServerFault            UNAVAILABLE             503  a condition of the server, not the request
            └── InsufficientStorage INSUFFICIENT_STORAGE   507
            (on /v2 a ServerFault is sent with its ``oci_code``: UNSUPPORTED, or DENIED for storage)

This module imports nothing of ours (it is imported by every layer).
"""

from __future__ import annotations

from typing import Any, ClassVar


class RegistryError(Exception):
    code: ClassVar[str] = "UNKNOWN"
    status: ClassVar[int] = 500
    message: ClassVar[str] = "unknown error"

    def __init__(
        self,
        message: str | None = None,
        detail: Any = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.text = message or self.message
        self.detail = detail
        self.http_status = status or self.status
        self.headers = dict(headers or {})
        super().__init__(self.text)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": self.code, "message": self.text}
        if self.detail is not None:
            d["detail"] = self.detail
        return d


# --- OCI distribution-spec error codes (spec.md "Error Codes", code-1 .. code-14) ---


class BlobUnknown(RegistryError):
    code, status, message = "BLOB_UNKNOWN", 404, "blob unknown to registry"


class BlobUploadInvalid(RegistryError):
    code, status, message = "BLOB_UPLOAD_INVALID", 400, "blob upload invalid"


class BlobUploadUnknown(RegistryError):
    code, status, message = "BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry"


class DigestInvalid(RegistryError):
    code, status, message = "DIGEST_INVALID", 400, "provided digest did not match uploaded content"


class ManifestBlobUnknown(RegistryError):
    code, status, message = (
        "MANIFEST_BLOB_UNKNOWN",
        400,
        "manifest references a manifest or blob unknown to registry",
    )


class ManifestInvalid(RegistryError):
    code, status, message = "MANIFEST_INVALID", 400, "manifest invalid"


class ManifestUnknown(RegistryError):
    code, status, message = "MANIFEST_UNKNOWN", 404, "manifest unknown to registry"


class NameInvalid(RegistryError):
    code, status, message = "NAME_INVALID", 400, "invalid repository name"


class NameUnknown(RegistryError):
    code, status, message = "NAME_UNKNOWN", 404, "repository name not known to registry"


class SizeInvalid(RegistryError):
    code, status, message = "SIZE_INVALID", 400, "provided length did not match content length"


class Unauthorized(RegistryError):
    code, status, message = "UNAUTHORIZED", 401, "authentication required"


class Denied(RegistryError):
    code, status, message = "DENIED", 403, "requested access to the resource is denied"


class Unsupported(RegistryError):
    code, status, message = "UNSUPPORTED", 405, "the operation is unsupported"


class TooManyRequests(RegistryError):
    code, status, message = "TOOMANYREQUESTS", 429, "too many requests"


OCI_ERRORS: tuple[type[RegistryError], ...] = (
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
)
OCI_ERROR_CODES: frozenset[str] = frozenset(c.code for c in OCI_ERRORS)


# --- sciregistry's own codes (never sent on /v2) ---


class ExtError(RegistryError):
    """Base of the errors that only appear on /api/v1, /doi and in the CLI."""


class BadRequest(ExtError):
    code, status, message = "BAD_REQUEST", 400, "bad request"


class NotFound(ExtError):
    code, status, message = "NOT_FOUND", 404, "not found"


class Conflict(ExtError):
    code, status, message = "CONFLICT", 409, "conflict"


class CrateInvalid(ExtError):
    code, status, message = "CRATE_INVALID", 422, "RO-Crate invalid"


class MetadataInvalid(ExtError):
    code, status, message = "METADATA_INVALID", 422, "metadata invalid"


class Pinned(ExtError):
    code, status, message = "PINNED", 409, "content is pinned by a DOI"


class UpstreamError(ExtError):
    code, status, message = "UPSTREAM_ERROR", 502, "upstream service error"


_CODED: tuple[type[RegistryError], ...] = (
    *OCI_ERRORS,
    BadRequest,
    NotFound,
    Conflict,
    CrateInvalid,
    MetadataInvalid,
    Pinned,
    UpstreamError,
)
_BY_CODE: dict[str, type[RegistryError]] = {c.code: c for c in _CODED}


def from_code(
    code: str, message: str | None = None, detail: Any = None, status: int | None = None
) -> RegistryError:
    """Rebuild an error from its wire form (used by the client to round-trip server errors)."""
    cls = _BY_CODE.get(code, RegistryError)
    return cls(message, detail, status=status)


class ServerFault(ExtError):
    """The server cannot serve the request now (database or storage unavailable): 5xx, never the
    client's fault. ``oci_code`` is the spec code it carries on /v2."""

    code, status, message = "UNAVAILABLE", 503, "service unavailable, retry later"
    oci_code: ClassVar[str] = "UNSUPPORTED"


class InsufficientStorage(ServerFault):
    code, status, message = (
        "INSUFFICIENT_STORAGE",
        507,
        "insufficient storage: the registry cannot store more data",
    )
    oci_code: ClassVar[str] = "DENIED"  # what registries answer when a storage quota is exceeded
