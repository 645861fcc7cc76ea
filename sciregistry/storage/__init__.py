"""Blob storage: the BlobStore protocol and its drivers (filesystem, S3-compatible)."""

from __future__ import annotations

from typing import Any

from sciregistry.storage.base import (
    BlobInfo,
    BlobNotFound,
    BlobStore,
    StorageError,
    UploadNotFound,
    UploadOffsetMismatch,
)


def open_store(driver: str, **options: Any) -> BlobStore:
    """Build a store by driver name; an unknown name is an error (never a silent fallback)."""
    if driver == "filesystem":
        from sciregistry.storage.filesystem import FilesystemStore

        return FilesystemStore(
            options["root"],
            fsync=options.get("fsync", True),
            uncache_committed=options.get("uncache_committed", False),
        )
    if driver == "s3":
        from sciregistry.storage.s3 import S3Store

        return S3Store(**options)
    raise ValueError(f"unknown storage driver {driver!r} (known: filesystem, s3)")


__all__ = [
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "StorageError",
    "UploadNotFound",
    "UploadOffsetMismatch",
    "open_store",
]
