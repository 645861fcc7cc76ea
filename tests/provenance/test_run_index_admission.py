"""RunIndex admission, part 1 (before the push's lock), with and without the profile check."""

from __future__ import annotations

import hashlib
import json

import pytest

from sciregistry.errors import ManifestInvalid
from sciregistry.oci import artifacts
from sciregistry.oci.manifest import parse_manifest
from sciregistry.provenance import CrateFiles, crate_problems
from sciregistry.registry.runs import RunIndex
from sciregistry.storage.filesystem import FilesystemStore

from .conftest import RESULT_HEX


def _crate_manifest(store: FilesystemStore, crate: CrateFiles) -> bytes:
    layers = []
    for name, media_type, data in (
        (artifacts.CRATE_METADATA_NAME, artifacts.CRATE_METADATA_MEDIA_TYPE, crate.metadata),
        (artifacts.RUN_DESCRIPTION_NAME, artifacts.RUN_DESCRIPTION_MEDIA_TYPE, crate.run_description),
    ):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        store.put(digest, data)
        layers.append(
            {
                "mediaType": media_type,
                "digest": digest,
                "size": len(data),
                "annotations": {artifacts.TITLE: name},
            }
        )
    empty = b"{}"
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": artifacts.ROCRATE,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": "sha256:" + hashlib.sha256(empty).hexdigest(),
                "size": len(empty),
            },
            "layers": layers,
            "subject": {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:" + RESULT_HEX,
                "size": 100,
            },
        }
    ).encode()


@pytest.mark.parametrize("validate_profile", [True, False])
def test_prepare_reads_the_run_with_and_without_the_profile_check(
    tmp_path, crate: CrateFiles, validate_profile: bool
) -> None:
    store = FilesystemStore(str(tmp_path / "blobs"))
    parsed = parse_manifest(_crate_manifest(store, crate), "application/vnd.oci.image.manifest.v1+json")
    index = RunIndex(store, validate_profile=validate_profile)
    prepared = index.prepare_manifest_push("lab/results", "sha256:" + "d4" * 32, parsed)
    run, problems = prepared["run_crate"]
    assert run is not None
    assert run.image.digest == crate_problems(crate.metadata, crate.run_description)[0].image.digest
    assert problems == []


def test_prepare_without_a_metadata_layer_is_refused(tmp_path, crate: CrateFiles) -> None:
    store = FilesystemStore(str(tmp_path / "blobs"))
    doc = json.loads(_crate_manifest(store, crate))
    doc["layers"] = doc["layers"][1:]
    parsed = parse_manifest(json.dumps(doc).encode(), "application/vnd.oci.image.manifest.v1+json")
    with pytest.raises(ManifestInvalid, match="no ro-crate-metadata.json layer"):
        RunIndex(store, validate_profile=False).prepare_manifest_push(
            "lab/results", "sha256:" + "d4" * 32, parsed
        )
