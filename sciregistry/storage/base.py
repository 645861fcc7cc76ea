"""The BlobStore interface: where blob bytes live.

Small and role-named (after distribution's ``StorageDriver``): committed blobs are addressed by
digest and immutable; uploads are append-only byte sequences addressed by an upload id, turned into
a blob by ``commit_upload`` (an atomic move, done only after the caller verified the digest).

The store knows nothing about repositories, manifests or the database; it never hashes (the caller
hashes while streaming, so a byte is read once). Every driver passes ``tests/storage/contract.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable


class StorageError(Exception):
    """Base of the storage layer's own errors (translated to RegistryError in ``registry/``)."""


class BlobNotFound(StorageError):
    pass


class UploadNotFound(StorageError):
    pass


class UploadOffsetMismatch(StorageError):
    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"upload is at offset {expected}, write started at {got}")
        self.expected, self.got = expected, got


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: str
    size: int
    modified: float  # POSIX time of the commit


@runtime_checkable
class BlobStore(Protocol):
    # --- committed blobs ---
    def stat(self, digest: str) -> BlobInfo | None:
        """Size and commit time of a blob, or None."""

    def open(self, digest: str) -> BinaryIO:
        """A readable, seekable binary file of the blob. Raises BlobNotFound."""

    def local_path(self, digest: str) -> str | None:
        """A filesystem path to the blob for zero-copy serving (sendfile), or None for remote stores."""

    def redirect_url(self, digest: str, expires: int = 600) -> str | None:
        """A presigned URL a client may fetch the blob from directly, or None."""

    def put(self, digest: str, data: bytes) -> None:
        """Store a small blob whose digest the caller already verified (atomic, idempotent)."""

    def delete(self, digest: str) -> bool:
        """Remove a blob; False when it was not there."""

    def blobs(self) -> Iterator[BlobInfo]:
        """Every committed blob (for garbage collection)."""

    # --- uploads ---
    def start_upload(self, upload_id: str) -> None:
        """Create an empty upload."""

    def upload_size(self, upload_id: str) -> int:
        """Bytes received so far. Raises UploadNotFound."""

    def append_upload(self, upload_id: str, offset: int, chunks: Iterable[bytes]) -> int:
        """Append ``chunks`` at ``offset`` (which must equal the current size, else
        UploadOffsetMismatch); returns the new size. Raises UploadNotFound.

        A chunk (bytes-like) is valid only until the next one is requested: the caller reuses its
        buffers, so a driver that keeps data across iterations must copy it."""

    def open_upload(self, upload_id: str) -> BinaryIO:
        """Read back what an upload holds (to re-hash it in another worker)."""

    def commit_upload(self, upload_id: str, digest: str) -> None:
        """Atomically make the upload's bytes the blob ``digest``; the upload is gone afterwards.
        A crash at any point leaves either no blob or the whole blob."""

    def abort_upload(self, upload_id: str) -> bool:
        """Delete an upload's bytes; False when there were none."""

    def uploads(self) -> Iterator[tuple[str, float]]:
        """(upload id, last modification time) of every upload in progress (for cleanup)."""
