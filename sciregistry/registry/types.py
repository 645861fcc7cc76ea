"""Values returned by the registry use cases (dataclasses, never ORM rows)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class BlobRecord:
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    repository: str
    digest: str
    media_type: str
    size: int
    content: bytes
    subject: str | None = None
    artifact_type: str | None = None


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: str
    subject: str | None
    created: bool


@dataclass(frozen=True, slots=True)
class UploadStatus:
    upload_id: str
    repository: str
    size: int


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing; ``last`` is the cursor for the next page (None at the end)."""

    items: list[Any]
    last: str | None = None


@dataclass(frozen=True)
class ManifestPush:
    """Everything a push hook may look at (see ``Registry.push_hooks``)."""

    repository: str
    repository_id: int
    manifest_id: int
    digest: str
    content: bytes
    parsed: Any  # sciregistry.oci.Manifest
    tag: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: Whether the pushing principal may read a repository (None: authentication is off). Hooks use
    #: it to refuse references to content the pusher cannot see (``runs.unreadable_references``).
    can_read: Callable[[str], bool] | None = None
