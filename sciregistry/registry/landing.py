"""What a DOI landing page shows of the registry's content, read with :func:`sciregistry.oci.parse_manifest`:
the files of a manifest, the run crate's metadata layer and root entity, and what each blob is to a
pinned manifest. Read-only; every function answers None or empty for content it cannot read (a
landing page shows what it can). ``api/landing`` only renders these values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sciregistry.errors import RegistryError
from sciregistry.oci import Descriptor, Manifest, artifacts, parse_manifest
from sciregistry.registry import Registry

MAX_CRATE_METADATA = 16 * 1024 * 1024


def read_manifest(registry: Registry, repository: str, digest: str) -> Manifest | None:
    """The parsed manifest ``repository@digest``; None when missing or unreadable."""
    try:
        rec = registry.get_manifest(repository, digest)
        return parse_manifest(rec.content, rec.media_type)
    except RegistryError:
        return None


def manifest_layers(registry: Registry, repository: str, digest: str) -> list[Descriptor] | None:
    """The layers (files) of a manifest; None when it cannot be read."""
    m = read_manifest(registry, repository, digest)
    return list(m.layers) if m is not None else None


def title(layer: Descriptor) -> str | None:
    """A layer's file name (``org.opencontainers.image.title``)."""
    return (layer.annotations or {}).get(artifacts.TITLE)


def crate_layer(registry: Registry, repository: str, crate_digest: str) -> Descriptor | None:
    """The ``ro-crate-metadata.json`` layer of a run crate manifest (by title, else by media type)."""
    layers = manifest_layers(registry, repository, crate_digest) or []
    for ly in layers:
        if title(ly) == artifacts.CRATE_METADATA_NAME:
            return ly
    for ly in layers:
        if ly.media_type == artifacts.CRATE_METADATA_MEDIA_TYPE:
            return ly
    return None


def crate_root(registry: Registry, repository: str, crate_digest: str) -> dict[str, Any]:
    """The root data entity (``@id`` ``./``) of a run crate's metadata; ``{}`` when unreadable."""
    layer = crate_layer(registry, repository, crate_digest)
    if layer is None:
        return {}
    try:
        with registry.open_blob(layer.digest) as f:
            graph = json.loads(f.read(MAX_CRATE_METADATA)).get("@graph", [])
    except (RegistryError, ValueError, OSError, AttributeError):
        return {}
    for entity in graph if isinstance(graph, list) else []:
        if isinstance(entity, dict) and entity.get("@id") == "./":
            return entity
    return {}


@dataclass(frozen=True)
class BlobPart:
    """What a blob is to a manifest: its ``config``, or a ``layer`` (with its file name, if any)."""

    digest: str
    part: str  # "config" or "layer"
    title: str | None = None


def blob_parts(registry: Registry, repository: str, digest: str) -> list[BlobPart]:
    """The config and layers of a manifest, in order (empty when it cannot be read or is an index)."""
    m = read_manifest(registry, repository, digest)
    if m is None:
        return []
    out = [BlobPart(m.config.digest, "config")] if m.config is not None else []
    out += [BlobPart(ly.digest, "layer", title(ly)) for ly in m.layers]
    return out
