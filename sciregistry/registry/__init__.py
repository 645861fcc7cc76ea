"""Use cases of the registry. They own their transactions and receive engine, sessions and store
as arguments (composed in ``sciregistry.app``); they return dataclasses, never ORM rows."""

from sciregistry.registry.hooks import HookChain, NoHooks, RegistryHooks
from sciregistry.registry.manifests import ManifestOps
from sciregistry.registry.types import (
    BlobRecord,
    ManifestPush,
    ManifestRecord,
    Page,
    PushedManifest,
    UploadStatus,
)


class Registry(ManifestOps):
    """The OCI registry: blobs, uploads, manifests, tags, referrers, catalog."""


__all__ = [
    "BlobRecord",
    "HookChain",
    "ManifestPush",
    "ManifestRecord",
    "NoHooks",
    "Page",
    "PushedManifest",
    "Registry",
    "RegistryHooks",
    "UploadStatus",
]
