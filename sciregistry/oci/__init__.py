"""Pure OCI format code: digests, the reference grammar, media types, manifest and index parsing,
the /v2 route table (:mod:`sciregistry.oci.routes`).

No IO, no Flask, no database: everything here is a function of its arguments.
"""

from sciregistry.oci import routes
from sciregistry.oci.digest import Digest, compute, fallback_tag, is_digest, new_hasher, parse_digest
from sciregistry.oci.manifest import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    INDEX_TYPES,
    MANIFEST_MEDIA_TYPES,
    MAX_MANIFEST_SIZE,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    parse_manifest,
    referrers_index,
)
from sciregistry.oci.reference import ImageReference, is_tag, parse_reference, validate_name

__all__ = [
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "EMPTY_JSON",
    "EMPTY_JSON_DIGEST",
    "INDEX_TYPES",
    "MANIFEST_MEDIA_TYPES",
    "MAX_MANIFEST_SIZE",
    "OCI_CONFIG",
    "OCI_EMPTY",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Descriptor",
    "Digest",
    "ImageReference",
    "Manifest",
    "compute",
    "fallback_tag",
    "is_digest",
    "is_tag",
    "new_hasher",
    "parse_digest",
    "parse_manifest",
    "parse_reference",
    "referrers_index",
    "routes",
    "validate_name",
]
