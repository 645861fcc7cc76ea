"""Build and read small OCI image layouts in pure Python (stdlib only), for real-client tests.

Implements the OCI Image Layout Specification v1.1 (image-spec ``image-layout.md``)::

    <layout>/oci-layout                    {"imageLayoutVersion": "1.0.0"}
    <layout>/index.json                    image index; each entry annotated with
                                           org.opencontainers.image.ref.name = <tag>
    <layout>/blobs/sha256/<hex>            every blob: layers, configs, manifests, indexes

and image manifests / indexes per image-spec ``manifest.md`` and ``image-index.md``, e.g.::

    {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": ..., "size": ...},
     "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", ...},   # a text file
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", ...},        # uncompressed
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", ...}]}  # /bin/busybox

Everything is deterministic (fixed mtimes, uid/gid 0, gzip mtime 0), so the same arguments give
the same digests. Manifests are written with ``indent=2`` on purpose: a registry that
re-serialises JSON instead of storing the pushed bytes changes their digest, and the tests see it.

This module deliberately does not import ``sciregistry``: it is an independent oracle.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LAYER_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
BUSYBOX = Path("/bin/busybox")
HELLO_TEXT = b"hello from a gzip layer\n"
NUMBERS_TEXT = b"".join(b"%d\n" % i for i in range(1, 101))
_MTIME = 1_700_000_000  # fixed timestamp for every tar entry


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class BuiltImage:
    """What :func:`build_image_layout` / :func:`build_index_layout` wrote.

    ``manifest_digest`` is the digest of the top object tagged in ``index.json`` (an image
    manifest or an image index); ``manifest_bytes`` its exact bytes; ``blob_digests`` every other
    blob it reaches (child manifests, configs, layers), in document order, without duplicates.
    """

    layout: Path
    tag: str
    media_type: str
    manifest_digest: str
    manifest_bytes: bytes
    blob_digests: list[str]
    has_busybox: bool = False
    child_digests: list[str] = field(default_factory=list)


class _Layout:
    """Writes blobs into ``<root>/blobs/sha256/`` and the top-level ``index.json``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def put(self, data: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
        digest = sha256_digest(data)
        (self.root / "blobs" / "sha256" / digest.split(":", 1)[1]).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data), **extra}

    def write_index(self, entries: list[dict[str, Any]]) -> None:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        (self.root / "index.json").write_text(json.dumps(index, indent=2))


def _tar(entries: list[tuple[str, bytes | str | None, int]]) -> bytes:
    """An uncompressed tar of ``(path, content, mode)``: bytes = file, str = symlink target,
    None = directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content, mode in entries:
            info = tarfile.TarInfo(path)
            info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = _MTIME, 0, 0, "", "", mode
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _gzip(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return out.getvalue()


def _layers(busybox: Path | None) -> tuple[list[tuple[bytes, str]], bool]:
    """The three layers as ``(blob, media_type)`` plus whether busybox is in them."""
    hello = _tar(
        [
            ("etc", None, 0o755),
            ("etc/sciregistry", None, 0o755),
            ("etc/sciregistry/hello.txt", HELLO_TEXT, 0o644),
        ]
    )
    numbers = _tar([("data", None, 0o755), ("data/numbers.txt", NUMBERS_TEXT, 0o644)])
    has_busybox = busybox is not None and busybox.is_file()
    if has_busybox:
        assert busybox is not None
        tools = ["sh", "echo", "cat", "ls", "sha256sum", "wc"]
        third = _tar(
            [
                ("bin", None, 0o755),
                ("bin/busybox", busybox.read_bytes(), 0o755),
                *((f"bin/{t}", "busybox", 0o777) for t in tools),
            ]
        )
    else:
        third = _tar([("opt", None, 0o755), ("opt/no-busybox.txt", b"busybox was not available\n", 0o644)])
    return [(_gzip(hello), LAYER_TAR_GZIP), (numbers, LAYER_TAR), (_gzip(third), LAYER_TAR_GZIP)], has_busybox


def _diff_id(blob: bytes, media_type: str) -> str:
    return sha256_digest(gzip.decompress(blob) if media_type.endswith("+gzip") else blob)


def _write_image(
    lay: _Layout, architecture: str, busybox: Path | None, annotations: dict[str, str] | None
) -> tuple[dict[str, Any], bytes, list[str], bool]:
    """Write layers, config and manifest blobs; return (descriptor, manifest bytes, blob digests,
    busybox?)."""
    layers, has_busybox = _layers(busybox)
    layer_descs = [lay.put(blob, mt) for blob, mt in layers]
    config = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": architecture,
        "os": "linux",
        "config": {
            "Env": ["PATH=/bin"],
            "Cmd": ["/bin/sh"] if has_busybox else ["/bin/false"],
            "Labels": {"org.sciregistry.test": "clients"},
        },
        "rootfs": {"type": "layers", "diff_ids": [_diff_id(b, mt) for b, mt in layers]},
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": f"oci_image.py layer {i}"}
            for i in range(len(layers))
        ],
    }
    config_desc = lay.put(json.dumps(config, indent=2, sort_keys=True).encode(), OCI_CONFIG)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_desc,
        "layers": layer_descs,
    }
    if annotations:
        manifest["annotations"] = annotations
    data = json.dumps(manifest, indent=2).encode()
    desc = lay.put(data, OCI_MANIFEST, platform={"architecture": architecture, "os": "linux"})
    return desc, data, [config_desc["digest"], *(d["digest"] for d in layer_descs)], has_busybox


def build_image_layout(
    layout: Path, tag: str = "v1", *, architecture: str = "amd64", busybox: Path | None = BUSYBOX
) -> BuiltImage:
    """Write a three-layer OCI image (gzip text layer, uncompressed tar layer, busybox layer) into
    the image layout ``layout`` (created if needed) and tag it ``tag`` in ``index.json``."""
    lay = _Layout(layout)
    desc, data, blobs, has_busybox = _write_image(
        lay, architecture, busybox, {"org.opencontainers.image.title": f"sciregistry client test {tag}"}
    )
    entry = {k: v for k, v in desc.items() if k != "platform"}
    lay.write_index([{**entry, "annotations": {REF_NAME: tag}}])
    return BuiltImage(layout, tag, OCI_MANIFEST, desc["digest"], data, blobs, has_busybox)


def build_index_layout(
    layout: Path, tag: str = "multi", architectures: tuple[str, ...] = ("amd64", "arm64")
) -> BuiltImage:
    """Write one image per architecture (no busybox: the layers are shared, the configs differ)
    and an image index over them, tagged ``tag`` in ``index.json``."""
    lay = _Layout(layout)
    children: list[dict[str, Any]] = []
    blobs: list[str] = []
    for arch in architectures:
        desc, _, child_blobs, _ = _write_image(lay, arch, None, None)
        children.append(desc)
        blobs += [desc["digest"], *(b for b in child_blobs if b not in blobs)]
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": children,
        "annotations": {"org.opencontainers.image.title": "sciregistry multi-arch test"},
    }
    data = json.dumps(index, indent=2).encode()
    top = lay.put(data, OCI_INDEX)
    lay.write_index([{**top, "annotations": {REF_NAME: tag}}])
    return BuiltImage(
        layout, tag, OCI_INDEX, top["digest"], data, blobs, child_digests=[c["digest"] for c in children]
    )


# --- reading a layout back (what a client wrote) ------------------------------------------------


def read_blob(layout: Path, digest: str) -> bytes:
    """A blob of ``layout``, verified against its digest (AssertionError when it does not match)."""
    algorithm, hexpart = digest.split(":", 1)
    data = (layout / "blobs" / algorithm / hexpart).read_bytes()
    assert f"{algorithm}:" + hashlib.new(algorithm, data).hexdigest() == digest, f"blob {digest} is corrupt"
    return data


def read_layout(layout: Path, tag: str) -> BuiltImage:
    """Resolve ``tag`` in ``layout/index.json`` and walk everything it reaches (verifying each
    blob's digest). Raises KeyError when the tag is not in the layout."""
    index = json.loads((layout / "index.json").read_text())
    entries = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) == tag]
    if not entries:
        raise KeyError(f"tag {tag!r} not in {layout}/index.json")
    top = entries[0]
    data = read_blob(layout, top["digest"])
    doc = json.loads(data)
    blobs: list[str] = []
    children: list[str] = []

    def walk_manifest(manifest: dict[str, Any]) -> None:
        for desc in [manifest["config"], *manifest.get("layers", [])]:
            read_blob(layout, desc["digest"])
            if desc["digest"] not in blobs:
                blobs.append(desc["digest"])

    media_type = doc.get("mediaType", top["mediaType"])
    if "manifests" in doc:
        for child in doc["manifests"]:
            children.append(child["digest"])
            blobs.append(child["digest"])
            walk_manifest(json.loads(read_blob(layout, child["digest"])))
    else:
        walk_manifest(doc)
    return BuiltImage(layout, tag, media_type, top["digest"], data, blobs, child_digests=children)
