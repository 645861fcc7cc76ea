"""Unit tests of the pure OCI format code in ``sciregistry.oci``.

Grammars are those of the OCI image-spec v1.1.1 (descriptor.md "Digests") and the
distribution-spec v1.1.1 ("Pulling manifests": ``<name>`` and ``<reference>``); manifest parsing
follows image-spec manifest.md / image-index.md and Docker Image Manifest V2 Schema 2.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from sciregistry.errors import DigestInvalid, ManifestInvalid, NameInvalid
from sciregistry.oci import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    MAX_MANIFEST_SIZE,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Digest,
    ImageReference,
    compute,
    fallback_tag,
    is_digest,
    is_tag,
    new_hasher,
    parse_digest,
    parse_manifest,
    parse_reference,
    referrers_index,
    validate_name,
)
from sciregistry.oci.reference import validate_reference

HEX64 = "a" * 64
HEX128 = "b" * 128
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


# --- digests -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, algorithm, encoded",
    [
        ("sha256:" + HEX64, "sha256", HEX64),
        ("sha512:" + HEX128, "sha512", HEX128),
        (EMPTY_JSON_DIGEST, "sha256", EMPTY_JSON_DIGEST[7:]),
        ("sha256:0123456789abcdef" * 1 + "0" * 48, "sha256", "0123456789abcdef" + "0" * 48),
    ],
)
def test_parse_digest_accepts_registered_algorithms(value: str, algorithm: str, encoded: str) -> None:
    d = parse_digest(value)
    assert d == Digest(algorithm, encoded)
    assert str(d) == value
    assert is_digest(value) is True


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sha256",
        "sha256:",
        ":" + HEX64,
        "sha256:" + HEX64.upper(),  # upper-case hex is not canonical for sha256
        "sha256:" + "A" + HEX64[1:],
        "sha512:" + HEX128.upper(),
        "sha256:" + HEX64[:-1],  # 63 hex
        "sha256:" + HEX64 + "a",  # 65 hex
        "sha256:" + "g" * 64,  # not hex
        "sha512:" + HEX64,  # sha512 needs 128 hex
        "sha256:" + HEX128,  # sha256 with 128 hex
        "SHA256:" + HEX64,  # algorithm is lower-case
        "md5:" + "a" * 32,  # grammatical but unregistered
        "sha384:" + "a" * 96,
        "sha256+b64u:" + HEX64,  # grammatical, unsupported
        "sha256:" + HEX64 + " ",
        " sha256:" + HEX64,
        "sha256::" + HEX64,
        "sha256@" + HEX64,
        "sha256:" + "a" * 300,
        "sha256:totallywrong",
        "-sha256:" + HEX64,
        "sha256.:" + HEX64,
    ],
)
def test_parse_digest_rejects(value: str) -> None:
    with pytest.raises(DigestInvalid):
        parse_digest(value)
    assert is_digest(value) is False


def test_parse_digest_rejects_non_strings() -> None:
    with pytest.raises(DigestInvalid):
        parse_digest(None)  # type: ignore[arg-type]
    with pytest.raises(DigestInvalid):
        parse_digest(b"sha256:" + HEX64.encode())  # type: ignore[arg-type]


def test_digest_error_messages_are_precise() -> None:
    with pytest.raises(DigestInvalid, match="unsupported digest algorithm 'md5'"):
        parse_digest("md5:" + "a" * 32)
    with pytest.raises(DigestInvalid, match="invalid sha256 digest encoding") as exc:
        parse_digest("sha256:" + HEX64.upper())
    assert exc.value.code == "DIGEST_INVALID" and exc.value.http_status == 400
    assert exc.value.detail == {"digest": "sha256:" + HEX64.upper()}


def test_compute_and_hasher() -> None:
    assert compute(b"") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert compute(EMPTY_JSON) == EMPTY_JSON_DIGEST
    assert compute(b"abc", "sha512") == "sha512:" + hashlib.sha512(b"abc").hexdigest()
    h = new_hasher("sha512")
    h.update(b"abc")
    assert h.hexdigest() == hashlib.sha512(b"abc").hexdigest()
    with pytest.raises(DigestInvalid):
        new_hasher("md5")
    with pytest.raises(DigestInvalid):
        compute(b"x", "sha1")


def test_fallback_tag() -> None:
    assert fallback_tag("sha256:" + HEX64) == "sha256-" + HEX64
    # referrers tag schema: truncated to 128 characters (a valid tag)
    tag = fallback_tag("sha512:" + HEX128)
    assert tag == ("sha512-" + HEX128)[:128]
    assert len(tag) == 128 and is_tag(tag)
    with pytest.raises(DigestInvalid):
        fallback_tag("sha256:nothex")


# --- repository names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "library/ubuntu",
        "lab/gc-content",
        "a--b",
        "a---b",
        "a__b",
        "a_b",
        "a.b",
        "a.b.c/d-e/f__g",
        "0",
        "9lives",
        "a/b/c/d/e/f",
        "a" * 255,
        ("ab/" * 85)[:-1],
    ],
)
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "A",
        "Lab/x",
        "a___b",
        "a..b",
        "a._b",
        "a-",
        "-a",
        "_a",
        "a_",
        ".a",
        "a.",
        "a/",
        "/a",
        "a//b",
        "../a",
        "a/../b",
        "a/./b",
        "..",
        ".",
        "a b",
        "a:b",
        "a@b",
        "a%2fb",
        "a\\b",
        "ä",
        "a\x00b",
        "a" * 256,
        "a/" * 127 + "aa",
    ],
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(NameInvalid) as exc:
        validate_name(name)
    assert exc.value.code == "NAME_INVALID" and exc.value.http_status == 400


def test_name_length_limit_is_255_including_slashes() -> None:
    name = "/".join(["abcd"] * 51)  # 51*4 + 50 = 254
    assert len(name) == 254
    validate_name(name)
    validate_name(name + "a")
    with pytest.raises(NameInvalid):
        validate_name(name + "ab")


# --- tags and references -------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["latest", "v1", "V1.0", "_x", "1", "a-b_c.d", "a" * 128, "sha256-" + HEX64])
def test_valid_tags(tag: str) -> None:
    assert is_tag(tag) is True
    assert validate_reference(tag) == tag


@pytest.mark.parametrize("tag", ["", "-x", ".x", "a" * 129, "a:b", "a/b", "a b", "a+b", "ä", "a@b", "\nv1"])
def test_invalid_tags(tag: str) -> None:
    assert is_tag(tag) is False


_NEWLINE_BUG = (
    "BUG: the grammars in sciregistry/oci/{digest,reference}.py use re.match with '$', which also "
    "matches before a trailing newline; use re.fullmatch (or \\Z)"
)


def test_digest_with_trailing_newline_is_rejected() -> None:
    assert is_digest("sha256:" + HEX64 + "\n") is False


def test_name_with_trailing_newline_is_rejected() -> None:
    with pytest.raises(NameInvalid):
        validate_name("lab/x\n")


def test_tag_with_trailing_newline_is_rejected() -> None:
    assert is_tag("v1\n") is False


def test_validate_reference() -> None:
    assert validate_reference("sha256:" + HEX64) == "sha256:" + HEX64
    with pytest.raises(ManifestInvalid):
        validate_reference("sha256:nothex")
    with pytest.raises(ManifestInvalid):
        validate_reference("-bad")


@pytest.mark.parametrize(
    "value, expected",
    [
        (
            "127.0.0.1:5000/lab/x:v1@sha256:" + HEX64,
            ImageReference("127.0.0.1:5000", "lab/x", "v1", "sha256:" + HEX64),
        ),
        ("127.0.0.1:5000/lab/x:v1", ImageReference("127.0.0.1:5000", "lab/x", "v1", None)),
        (
            "127.0.0.1:5000/lab/x@sha256:" + HEX64,
            ImageReference("127.0.0.1:5000", "lab/x", None, "sha256:" + HEX64),
        ),
        ("localhost/x", ImageReference("localhost", "x", None, None)),
        ("localhost:5000/a/b/c:t", ImageReference("localhost:5000", "a/b/c", "t", None)),
        ("registry.example.org/lab/gc-content", ImageReference("registry.example.org", "lab/gc-content")),
        ("[::1]:5000/x:y", ImageReference("[::1]:5000", "x", "y")),
    ],
)
def test_parse_reference(value: str, expected: ImageReference) -> None:
    ref = parse_reference(value)
    assert ref == expected
    assert str(ref) == value


def test_reference_property_and_with_digest() -> None:
    ref = parse_reference("localhost/x")
    assert ref.reference == "latest"
    assert parse_reference("localhost/x:v2").reference == "v2"
    pinned = parse_reference("localhost/x:v2").with_digest("sha256:" + HEX64)
    assert pinned.reference == "sha256:" + HEX64
    assert str(pinned) == "localhost/x:v2@sha256:" + HEX64


@pytest.mark.parametrize(
    "value, message",
    [
        ("lab/x:v1", "has no registry host"),
        ("x", "has no registry host"),
        ("ubuntu:22.04", "has no registry host"),
        ("localhost/X", "invalid repository name 'X'"),
        ("localhost/a___b", "invalid repository name"),
        ("localhost/x:-bad", "invalid tag '-bad'"),
        ("localhost/x@sha256:abc", "invalid digest"),
        ("localhost/x@" + "sha256:" + HEX64.upper(), "invalid digest"),
        ("localhost/", "invalid repository name ''"),
    ],
)
def test_parse_reference_rejects(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_reference(value)


def test_parse_reference_without_registry_when_allowed() -> None:
    assert parse_reference("lab/x:v1", require_registry=False) == ImageReference("", "lab/x", "v1")
    assert str(parse_reference("x", require_registry=False)) == "x"


# --- manifests -----------------------------------------------------------------------------------


def desc(
    digest: Any = D1, media_type: str = "application/octet-stream", size: Any = 3, **extra: Any
) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def image(**fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": desc(EMPTY_JSON_DIGEST, OCI_EMPTY, 2),
        "layers": [desc(D1)],
    }
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not None}


def index(**fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [desc(D2, OCI_MANIFEST, 500, platform={"os": "linux", "architecture": "amd64"})],
    }
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not None}


def raw(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_parse_oci_image_manifest() -> None:
    doc = image(
        layers=[
            desc(
                D1, "text/tab-separated-values", 10, annotations={"org.opencontainers.image.title": "gc.tsv"}
            ),
            desc(D2, "application/x-hdf5", 20),
            desc(D1, "text/tab-separated-values", 10),
        ],
        subject=desc(D3, OCI_MANIFEST, 77),
        annotations={"k": "v"},
    )
    m = parse_manifest(raw(doc), OCI_MANIFEST)
    assert m.media_type == OCI_MANIFEST
    assert m.is_index is False
    assert m.config == Descriptor(OCI_EMPTY, EMPTY_JSON_DIGEST, 2)
    assert [lay.digest for lay in m.layers] == [D1, D2, D1]
    assert m.layers[0].annotations == {"org.opencontainers.image.title": "gc.tsv"}
    assert m.blob_digests == [EMPTY_JSON_DIGEST, D1, D2]  # config first, no duplicates
    assert m.child_digests == []
    assert m.subject == Descriptor(OCI_MANIFEST, D3, 77)
    assert m.annotations == {"k": "v"}
    assert m.artifact_type == OCI_EMPTY  # no artifactType: the config media type


def test_artifact_type_field_wins_over_config_media_type() -> None:
    m = parse_manifest(raw(image(artifactType="application/vnd.sciregistry.result.v1")), None)
    assert m.artifact_type_field == "application/vnd.sciregistry.result.v1"
    assert m.artifact_type == "application/vnd.sciregistry.result.v1"
    m2 = parse_manifest(raw(image(config=desc(D2, "application/vnd.example.thing.config+json", 9))), None)
    assert m2.artifact_type_field is None
    assert m2.artifact_type == "application/vnd.example.thing.config+json"


def test_unknown_layer_and_config_media_types_are_accepted() -> None:
    doc = image(
        config=desc(D1, "application/x.never-heard-of+yaml", 1),
        layers=[desc(D2, "chemical/x-pdb", 5), desc(D3, "application/vnd.zarr.chunk;v=3", 7)],
    )
    m = parse_manifest(raw(doc), OCI_MANIFEST)
    assert [lay.media_type for lay in m.layers] == ["chemical/x-pdb", "application/vnd.zarr.chunk;v=3"]


def test_oci_manifest_without_layers_is_valid() -> None:
    doc = image()
    del doc["layers"]
    m = parse_manifest(raw(doc), OCI_MANIFEST)
    assert m.layers == ()
    assert m.blob_digests == [EMPTY_JSON_DIGEST]


def test_parse_oci_index() -> None:
    doc = index(
        manifests=[
            desc(D2, OCI_MANIFEST, 500, platform={"os": "linux", "architecture": "amd64"}),
            desc(D3, OCI_MANIFEST, 600),
            desc(D2, OCI_MANIFEST, 500),
        ],
        annotations={"a": "b"},
    )
    m = parse_manifest(raw(doc), OCI_INDEX)
    assert m.media_type == OCI_INDEX and m.is_index
    assert m.config is None and m.layers == ()
    assert m.manifests[0].platform == {"os": "linux", "architecture": "amd64"}
    assert m.child_digests == [D2, D3]
    assert m.blob_digests == []
    assert m.artifact_type is None


def test_artifact_type_on_an_index_is_allowed() -> None:
    m = parse_manifest(
        raw(index(artifactType="application/vnd.example.bundle", subject=desc(D1, OCI_MANIFEST, 5))),
        OCI_INDEX,
    )
    assert m.artifact_type == "application/vnd.example.bundle"
    assert m.subject is not None and m.subject.digest == D1


def test_parse_docker_schema2_and_manifest_list() -> None:
    docker = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": desc(D1, "application/vnd.docker.container.image.v1+json", 1469),
        "layers": [desc(D2, "application/vnd.docker.image.rootfs.diff.tar.gzip", 977)],
    }
    m = parse_manifest(raw(docker), DOCKER_MANIFEST)
    assert m.media_type == DOCKER_MANIFEST
    assert m.blob_digests == [D1, D2]
    assert m.artifact_type == "application/vnd.docker.container.image.v1+json"
    mlist = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_LIST,
        "manifests": [desc(D3, DOCKER_MANIFEST, 528, platform={"architecture": "arm64", "os": "linux"})],
    }
    ml = parse_manifest(raw(mlist), DOCKER_MANIFEST_LIST)
    assert ml.media_type == DOCKER_MANIFEST_LIST and ml.is_index
    assert ml.child_digests == [D3]


def test_docker_schema2_needs_layers_and_forbids_artifact_type() -> None:
    docker = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": desc(D1)}
    with pytest.raises(ManifestInvalid, match="'layers' must be an array"):
        parse_manifest(raw(docker), DOCKER_MANIFEST)
    docker["layers"] = []
    docker["artifactType"] = "application/x"
    with pytest.raises(ManifestInvalid, match="artifactType is only defined for OCI image manifests"):
        parse_manifest(raw(docker), DOCKER_MANIFEST)


@pytest.mark.parametrize(
    "content_type, doc, expected",
    [
        (None, image(mediaType=None), OCI_MANIFEST),  # inferred from 'config'
        (None, index(mediaType=None), OCI_INDEX),  # inferred from 'manifests'
        ("application/json", image(mediaType=None), OCI_MANIFEST),
        (OCI_MANIFEST, image(mediaType=None), OCI_MANIFEST),
        (DOCKER_MANIFEST, {"schemaVersion": 2, "config": desc(), "layers": []}, DOCKER_MANIFEST),
        (DOCKER_MANIFEST_LIST, {"schemaVersion": 2, "manifests": []}, DOCKER_MANIFEST_LIST),
        (OCI_INDEX + "; charset=utf-8", index(mediaType=None), OCI_INDEX),
        ("application/octet-stream", image(), OCI_MANIFEST),  # a non-manifest type never conflicts
    ],
)
def test_media_type_resolution(content_type: str | None, doc: dict[str, Any], expected: str) -> None:
    assert parse_manifest(raw(doc), content_type).media_type == expected


@pytest.mark.parametrize(
    "content_type, doc",
    [
        (OCI_INDEX, image()),
        (DOCKER_MANIFEST, image()),
        (OCI_MANIFEST, index()),
        (
            OCI_MANIFEST + ";charset=utf-8",
            {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": desc(), "layers": []},
        ),
    ],
)
def test_content_type_mismatch_is_rejected(content_type: str, doc: dict[str, Any]) -> None:
    with pytest.raises(ManifestInvalid, match="Content-Type does not match the manifest's mediaType") as exc:
        parse_manifest(raw(doc), content_type)
    assert exc.value.code == "MANIFEST_INVALID"


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'[{"schemaVersion": 2}]', "must be a JSON object"),
        (b'"manifest"', "must be a JSON object"),
        (b"2", "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (raw(image(schemaVersion=1)), "schemaVersion must be 2"),
        (raw(image(schemaVersion="2")), "schemaVersion must be 2"),
        (raw({k: v for k, v in image().items() if k != "schemaVersion"}), "schemaVersion must be 2"),
        (raw(image(mediaType=5)), "mediaType must be a string"),
        (raw(image(mediaType="application/vnd.oci.image.config.v1+json")), "unsupported manifest media type"),
        (raw({"schemaVersion": 2}), "unsupported manifest media type"),
        (raw(image(config=None)), "needs a 'config' descriptor"),
        (raw(image(config="sha256:" + HEX64)), "config must be a descriptor object"),
        (raw(image(layers={"0": desc()})), "'layers' must be an array"),
        (raw(image(layers=[desc(size=10**30)])), r"layers\[0\].size must be an integer from 0 to 2\^63-1"),
        (raw(image(layers=[desc(size=-1)])), r"layers\[0\].size must be an integer from 0 to 2\^63-1"),
        (raw(image(layers=[desc(size=1.5)])), r"layers\[0\].size must be an integer from 0 to 2\^63-1"),
        (raw(image(layers=[desc(size="3")])), r"layers\[0\].size must be an integer from 0 to 2\^63-1"),
        (raw(image(layers=[desc(size=True)])), r"layers\[0\].size must be an integer from 0 to 2\^63-1"),
        (
            raw(image(layers=[desc(), desc(size=None)])),
            r"layers\[1\].size must be an integer from 0 to 2\^63-1",
        ),
        (
            raw(image(layers=[desc(digest="sha256:" + HEX64.upper())])),
            r"layers\[0\].digest is not a valid digest",
        ),
        (raw(image(layers=[desc(digest="md5:" + "a" * 32)])), r"layers\[0\].digest is not a valid digest"),
        (raw(image(layers=[desc(digest=None)])), r"layers\[0\].digest is not a valid digest"),
        (raw(image(layers=[desc(digest=12)])), r"layers\[0\].digest is not a valid digest"),
        (raw(image(layers=[desc(media_type="")])), r"layers\[0\].mediaType must be a non-empty string"),
        (
            raw(image(layers=[desc(annotations={"a": 1})])),
            r"layers\[0\].annotations must map strings to strings",
        ),
        (raw(image(layers=[desc(artifactType=7)])), r"layers\[0\].artifactType must be a string"),
        (raw(image(config=desc(platform="linux"))), "config.platform must be an object"),
        (raw(image(subject="sha256:" + HEX64)), "subject must be a descriptor object"),
        (raw(image(subject=desc(digest="sha256:x"))), "subject.digest is not a valid digest"),
        (raw(image(artifactType="")), "artifactType must be a non-empty string"),
        (raw(image(artifactType=["a"])), "artifactType must be a non-empty string"),
        (raw(image(annotations={"a": None})), "annotations must map strings to strings"),
        (raw(image(annotations="x")), "annotations must map strings to strings"),
        (raw(index(manifests=None)), "an index needs a 'manifests' array"),
        (raw(index(manifests={})), "an index needs a 'manifests' array"),
        (raw(index(manifests=[desc(size=-5)])), r"manifests\[0\].size must be an integer from 0 to 2\^63-1"),
        (raw(index(manifests=["sha256:" + HEX64])), r"manifests\[0\] must be a descriptor object"),
    ],
)
def test_invalid_manifests(data: bytes, message: str) -> None:
    with pytest.raises(ManifestInvalid, match=message) as exc:
        parse_manifest(data, None)
    assert exc.value.code == "MANIFEST_INVALID" and exc.value.http_status == 400


def test_size_limit_is_4_mib() -> None:
    doc = image(annotations={"pad": ""})
    base = len(raw(doc))
    doc["annotations"]["pad"] = "x" * (MAX_MANIFEST_SIZE - base)
    exact = raw(doc)
    assert len(exact) == MAX_MANIFEST_SIZE == 4 * 1024 * 1024
    assert parse_manifest(exact, OCI_MANIFEST).annotations["pad"].startswith("xxx")
    doc["annotations"]["pad"] += "x"
    with pytest.raises(ManifestInvalid, match="manifest exceeds 4 MiB") as exc:
        parse_manifest(raw(doc), OCI_MANIFEST)
    assert exc.value.detail == {"size": MAX_MANIFEST_SIZE + 1}


def test_whitespace_and_key_order_do_not_matter_to_parsing() -> None:
    data = (
        b'\n {"layers": [], "config": {"size": 2, "digest": "'
        + EMPTY_JSON_DIGEST.encode()
        + b'", "mediaType": "application/vnd.oci.empty.v1+json"}, "schemaVersion": 2}\n'
    )
    assert parse_manifest(data, OCI_MANIFEST).config == Descriptor(OCI_EMPTY, EMPTY_JSON_DIGEST, 2)


def test_deeply_nested_json_is_manifest_invalid() -> None:
    """A hostile body must be MANIFEST_INVALID, not an escaping RecursionError (a 500 on the server)."""
    with pytest.raises(ManifestInvalid):
        parse_manifest(b"[" * 100_000, OCI_MANIFEST)


def test_schema_version_must_be_the_integer_2() -> None:
    with pytest.raises(ManifestInvalid, match="schemaVersion must be 2"):
        parse_manifest(raw(image(schemaVersion=2.0)), OCI_MANIFEST)


def test_annotations_must_be_an_object_even_when_empty() -> None:
    with pytest.raises(ManifestInvalid, match="annotations must map strings to strings"):
        parse_manifest(raw(image(annotations=[])), OCI_MANIFEST)


def test_descriptor_to_dict_and_referrers_index() -> None:
    d = Descriptor(OCI_MANIFEST, D1, 10, "application/x", {"k": "v"}, {"os": "linux"})
    assert d.to_dict() == {
        "mediaType": OCI_MANIFEST,
        "digest": D1,
        "size": 10,
        "artifactType": "application/x",
        "annotations": {"k": "v"},
        "platform": {"os": "linux"},
    }
    assert Descriptor(OCI_CONFIG, D2, 0).to_dict() == {"mediaType": OCI_CONFIG, "digest": D2, "size": 0}
    body = referrers_index([d.to_dict()])
    assert json.loads(body) == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [d.to_dict()]}
    assert (
        referrers_index([])
        == b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'
    )
