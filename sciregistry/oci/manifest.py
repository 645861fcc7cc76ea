"""Manifest and index parsing (OCI image-spec v1.1.1 manifest.md, image-index.md, descriptor.md;
Docker Image Manifest V2 Schema 2 and manifest list).

An image manifest as a client pushes it::

    {
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "artifactType": "application/vnd.sciregistry.result.v1",          (optional)
      "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                 "digest": "sha256:44136fa3...", "size": 2},
      "layers": [{"mediaType": "text/tab-separated-values",
                  "digest": "sha256:...", "size": 1234,
                  "annotations": {"org.opencontainers.image.title": "gc.tsv"}}],
      "subject": {"mediaType": "...manifest.v1+json", "digest": "sha256:...", "size": 7682},
      "annotations": {"org.opencontainers.image.created": "2026-11-28T08:00:00Z"}
    }

The registry stores the bytes exactly as pushed; this module only reads them. Layer media types and
``artifactType`` are never checked against an allowlist (science formats are open-ended).
Pure code: no IO, no Flask.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sciregistry.errors import ManifestInvalid
from sciregistry.oci.digest import is_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

IMAGE_MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_MEDIA_TYPES = IMAGE_MANIFEST_TYPES | INDEX_TYPES

EMPTY_JSON = b"{}"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

MAX_MANIFEST_SIZE = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    platform: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.artifact_type:
            d["artifactType"] = self.artifact_type
        if self.annotations:
            d["annotations"] = self.annotations
        if self.platform:
            d["platform"] = self.platform
        return d


@dataclass(frozen=True)
class Manifest:
    """What the registry needs to know about a pushed manifest or index."""

    media_type: str
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    manifests: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type_field: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def artifact_type(self) -> str | None:
        """The type shown in a referrers descriptor: ``artifactType``, else the config media type
        (image-spec: "If the artifactType is empty ... the config descriptor mediaType SHOULD be used")."""
        if self.artifact_type_field:
            return self.artifact_type_field
        return self.config.media_type if self.config else None

    @property
    def blob_digests(self) -> list[str]:
        """Blobs this manifest references (config first), without duplicates."""
        # dict.fromkeys keeps the first occurrence of each digest in order, in linear time (a
        # list scan made a 26,000-layer manifest take seconds)
        return list(dict.fromkeys(d.digest for d in ((self.config,) if self.config else ()) + self.layers))

    @property
    def child_digests(self) -> list[str]:
        """Manifests this index lists, without duplicates."""
        return list(dict.fromkeys(d.digest for d in self.manifests))


def _descriptor(obj: Any, where: str) -> Descriptor:
    if not isinstance(obj, dict):
        raise ManifestInvalid(f"{where} must be a descriptor object", {"field": where})
    mt, dg, size = obj.get("mediaType"), obj.get("digest"), obj.get("size")
    if not isinstance(mt, str) or not mt:
        raise ManifestInvalid(f"{where}.mediaType must be a non-empty string", {"field": where})
    if not isinstance(dg, str) or not is_digest(dg):
        raise ManifestInvalid(
            f"{where}.digest is not a valid digest", {"field": where, "digest": str(dg)[:200]}
        )
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= 2**63 - 1:
        # image-spec: size is an int64
        raise ManifestInvalid(f"{where}.size must be an integer from 0 to 2^63-1", {"field": where})
    ann = obj.get("annotations")
    if ann is not None and (not isinstance(ann, dict) or not all(isinstance(v, str) for v in ann.values())):
        raise ManifestInvalid(f"{where}.annotations must map strings to strings", {"field": where})
    at = obj.get("artifactType")
    if at is not None and not isinstance(at, str):
        raise ManifestInvalid(f"{where}.artifactType must be a string", {"field": where})
    platform = obj.get("platform")
    if platform is not None and not isinstance(platform, dict):
        raise ManifestInvalid(f"{where}.platform must be an object", {"field": where})
    return Descriptor(mt, dg, size, at, ann, platform)


def parse_manifest(data: bytes, content_type: str | None) -> Manifest:
    """Parse pushed manifest bytes. ``content_type`` is the request's Content-Type (may be None).

    Raises ManifestInvalid with a precise message for anything malformed.
    """
    if len(data) > MAX_MANIFEST_SIZE:
        raise ManifestInvalid("manifest exceeds 4 MiB", {"size": len(data)})
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ManifestInvalid("manifest JSON is nested too deeply") from exc
    if not isinstance(doc, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    if type(doc.get("schemaVersion")) is not int or doc.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion must be 2", {"schemaVersion": doc.get("schemaVersion")})
    field_mt = doc.get("mediaType")
    if field_mt is not None and not isinstance(field_mt, str):
        raise ManifestInvalid("mediaType must be a string")
    ct = (content_type or "").split(";")[0].strip() or None
    if field_mt and ct and ct in MANIFEST_MEDIA_TYPES and ct != field_mt:
        raise ManifestInvalid(
            "Content-Type does not match the manifest's mediaType", {"contentType": ct, "mediaType": field_mt}
        )
    media_type = field_mt or (ct if ct in MANIFEST_MEDIA_TYPES else None)
    if media_type is None:
        # No declared type: infer from structure (OCI allows omitting mediaType).
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST if "config" in doc else None
    if media_type not in MANIFEST_MEDIA_TYPES:
        raise ManifestInvalid("unsupported manifest media type", {"mediaType": media_type or ct})

    subject = _descriptor(doc["subject"], "subject") if doc.get("subject") is not None else None
    at = doc.get("artifactType")
    if at is not None and (not isinstance(at, str) or not at):
        raise ManifestInvalid("artifactType must be a non-empty string")
    ann = doc.get("annotations", {})
    if ann is None:
        ann = {}
    if not isinstance(ann, dict) or not all(isinstance(v, str) for v in ann.values()):
        raise ManifestInvalid("annotations must map strings to strings")

    if media_type in INDEX_TYPES:
        items = doc.get("manifests")
        if not isinstance(items, list):
            raise ManifestInvalid("an index needs a 'manifests' array")
        children = tuple(_descriptor(m, f"manifests[{i}]") for i, m in enumerate(items))
        return Manifest(
            media_type, manifests=children, subject=subject, artifact_type_field=at, annotations=ann
        )

    if "config" not in doc:
        raise ManifestInvalid("an image manifest needs a 'config' descriptor")
    config = _descriptor(doc["config"], "config")
    layers_raw = doc.get("layers", [] if media_type == OCI_MANIFEST else None)
    if not isinstance(layers_raw, list):
        raise ManifestInvalid("'layers' must be an array")
    layers = tuple(_descriptor(x, f"layers[{i}]") for i, x in enumerate(layers_raw))
    if at is not None and media_type != OCI_MANIFEST:
        raise ManifestInvalid("artifactType is only defined for OCI image manifests")
    return Manifest(
        media_type, config=config, layers=layers, subject=subject, artifact_type_field=at, annotations=ann
    )


def referrers_index(descriptors: list[dict[str, Any]]) -> bytes:
    """The body of a referrers response: an OCI image index listing ``descriptors``."""
    return json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}, separators=(",", ":")
    ).encode()
