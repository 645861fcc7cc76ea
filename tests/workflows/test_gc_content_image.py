"""build_image.py: reproducible OCI image layout (image-spec v1.1 image-layout/manifest/config)."""

import gzip
import hashlib
import io
import json
import platform
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from gc_content_support import BUSYBOX, GC_DIR, SCRIPT

HOST_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
    platform.machine(), platform.machine()
)

pytestmark = pytest.mark.usefixtures("require_busybox")


def read_blob(layout: Path, digest: str) -> bytes:
    algorithm, hexdigest = digest.split(":")
    assert algorithm == "sha256"
    data = (layout / "blobs" / "sha256" / hexdigest).read_bytes()
    assert hashlib.sha256(data).hexdigest() == hexdigest
    return data


def check_descriptor(layout: Path, desc: dict[str, Any]) -> bytes:
    data = read_blob(layout, desc["digest"])
    assert len(data) == desc["size"]
    return data


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def compact(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def test_two_builds_are_identical(build_image_mod: ModuleType, tmp_path: Path) -> None:
    first = build_image_mod.build_image(tmp_path / "one", "v1", BUSYBOX)
    second = build_image_mod.build_image(tmp_path / "two", "v1", BUSYBOX)
    assert first == second
    assert first.startswith("sha256:") and len(first) == 71
    assert all_files(tmp_path / "one") == all_files(tmp_path / "two")
    # the tag is only in index.json: retagging keeps every blob and the digest
    third = build_image_mod.build_image(tmp_path / "three", "other-tag", BUSYBOX)
    assert third == first
    blobs = {k: v for k, v in all_files(tmp_path / "three").items() if k.startswith("blobs/")}
    assert blobs == {k: v for k, v in all_files(tmp_path / "one").items() if k.startswith("blobs/")}


def test_layout_is_valid(image_layout: tuple[Path, str, str]) -> None:
    layout, tag, digest = image_layout
    assert (layout / "oci-layout").read_bytes() == b'{"imageLayoutVersion":"1.0.0"}'
    index_bytes = (layout / "index.json").read_bytes()
    index = json.loads(index_bytes)
    assert compact(index) == index_bytes  # compact, sorted keys
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    [entry] = index["manifests"]
    assert entry["digest"] == digest
    assert entry["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert entry["annotations"] == {"org.opencontainers.image.ref.name": tag}
    assert entry["platform"] == {"architecture": HOST_ARCH, "os": "linux"}

    manifest_bytes = check_descriptor(layout, entry)
    manifest = json.loads(manifest_bytes)
    assert compact(manifest) == manifest_bytes
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    [layer_desc] = manifest["layers"]
    assert layer_desc["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    assert "org.opencontainers.image.ref.name" not in manifest.get("annotations", {})

    config = json.loads(check_descriptor(layout, manifest["config"]))
    layer = check_descriptor(layout, layer_desc)
    assert config["architecture"] == HOST_ARCH
    assert config["os"] == "linux"
    assert config["created"] == "2024-01-01T00:00:00Z"
    assert config["rootfs"] == {"type": "layers", "diff_ids": [layer_desc["digest"]]}
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    assert config["config"]["Env"] == ["PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C"]
    assert config["config"]["Cmd"] == ["/bin/sh"]
    assert "Entrypoint" not in config["config"]
    assert (
        config["config"]["Labels"]["org.sciregistry.busybox.sha256"]
        == hashlib.sha256(BUSYBOX.read_bytes()).hexdigest()
    )
    assert [h["created"] for h in config["history"]] == ["2024-01-01T00:00:00Z"]
    # nothing but the three blobs
    assert sorted(p.name for p in (layout / "blobs" / "sha256").iterdir()) == sorted(
        d.split(":")[1] for d in (digest, manifest["config"]["digest"], layer_desc["digest"])
    )


def test_layer_contents(image_layout: tuple[Path, str, str], build_image_mod: ModuleType) -> None:
    layout, _, digest = image_layout
    manifest = json.loads(read_blob(layout, digest))
    layer = read_blob(layout, manifest["layers"][0]["digest"])
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names)
        for member in members:
            assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "root", "root")
            assert member.mtime == 1704067200
            assert not member.pax_headers
        by_name = {m.name: m for m in members}
        busybox = by_name["bin/busybox"]
        assert busybox.isfile() and busybox.mode == 0o755
        assert tar.extractfile(busybox).read() == BUSYBOX.read_bytes()  # type: ignore[union-attr]
        script = by_name["usr/local/bin/gc-content.sh"]
        assert script.isfile() and script.mode == 0o755
        assert tar.extractfile(script).read() == SCRIPT.read_bytes()  # type: ignore[union-attr]
        required = ("sh", "awk", "sort", "cat", "mkdir", "ls", "tr", "wc", "head", "printf", "env", "mv")
        for applet in required:
            link = by_name[f"bin/{applet}"]
            assert link.issym() and link.linkname == "busybox", applet
        for directory in ("bin", "in", "out", "tmp", "usr/local/bin"):
            assert by_name[directory].isdir(), directory
        assert by_name["tmp"].mode == 0o1777
    assert set(build_image_mod.BUSYBOX_APPLETS) <= set(
        subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout.split()
    )


def test_epoch_changes_digest(
    build_image_mod: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = build_image_mod.build_layout(tmp_path / "a", "t", BUSYBOX)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    zero = build_image_mod.build_layout(tmp_path / "b", "t", BUSYBOX)
    assert zero.created == "1970-01-01T00:00:00Z"
    assert zero.manifest.digest != default.manifest.digest
    explicit = build_image_mod.build_layout(tmp_path / "c", "t", BUSYBOX, epoch=0)
    assert zero.manifest.digest == explicit.manifest.digest
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ValueError, match="SOURCE_DATE_EPOCH must be a non-negative integer, got 'yesterday'"):
        build_image_mod.build_layout(tmp_path / "d", "t", BUSYBOX)


def test_gzip_layer(build_image_mod: ModuleType, tmp_path: Path) -> None:
    plain = build_image_mod.build_layout(tmp_path / "plain", "t", BUSYBOX)
    gz1 = build_image_mod.build_layout(tmp_path / "gz1", "t", BUSYBOX, gzip_layer=True)
    gz2 = build_image_mod.build_layout(tmp_path / "gz2", "t", BUSYBOX, gzip_layer=True)
    assert gz1.manifest.digest == gz2.manifest.digest != plain.manifest.digest
    assert gz1.layer.media_type == "application/vnd.oci.image.layer.v1.tar+gzip"
    compressed = read_blob(tmp_path / "gz1", gz1.layer.digest)
    assert compressed[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    assert gz1.diff_id == plain.diff_id == plain.layer.digest
    assert "sha256:" + hashlib.sha256(gzip.decompress(compressed)).hexdigest() == gz1.diff_id


def test_tags_accumulate_in_one_layout(build_image_mod: ModuleType, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    a = build_image_mod.build_layout(layout, "b-tag", BUSYBOX)
    b = build_image_mod.build_layout(layout, "a-tag", BUSYBOX, epoch=0)
    build_image_mod.build_layout(layout, "b-tag", BUSYBOX)  # rebuild replaces, not duplicates
    index = json.loads((layout / "index.json").read_bytes())
    refs = [(m["annotations"]["org.opencontainers.image.ref.name"], m["digest"]) for m in index["manifests"]]
    assert refs == [
        ("a-tag", b.manifest.digest),
        ("b-tag", a.manifest.digest),
    ]


def test_refuses_non_layout_directory(build_image_mod: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="is not empty and is not an OCI image layout"):
        build_image_mod.build_image(tmp_path, "t", BUSYBOX)


@pytest.mark.parametrize("tag", ["", "-lead", "a" * 129, "has space", "x:y"])
def test_invalid_tag(build_image_mod: ModuleType, tmp_path: Path, tag: str) -> None:
    with pytest.raises(ValueError, match="invalid tag"):
        build_image_mod.build_image(tmp_path / "out", tag, BUSYBOX)
    assert not (tmp_path / "out").exists()


def test_elf_architecture(build_image_mod: ModuleType) -> None:
    assert build_image_mod.elf_architecture(BUSYBOX.read_bytes()) == HOST_ARCH
    with pytest.raises(ValueError, match="not an ELF executable"):
        build_image_mod.elf_architecture(b"#!/bin/sh\n" + b"\0" * 100)
    with pytest.raises(ValueError, match="dynamically linked"):
        build_image_mod.elf_architecture(Path(sys.executable).resolve().read_bytes()[: 1 << 16])


def test_cli(tmp_path: Path, build_image_mod: ModuleType) -> None:
    script = GC_DIR / "build_image.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path / "cli"), "--tag", "cli"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == build_image_mod.build_image(tmp_path / "api", "x", BUSYBOX) + "\n"
    bad = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path / "bad"), "--busybox", "/bin/ls"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert bad.stderr.startswith("build_image.py: error: busybox is dynamically linked")
