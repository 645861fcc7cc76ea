"""OCI operations against a live registry: blobs (chunked, flat memory), manifests, referrers, tags,
and OCI image layouts (push the gc-content layout, export it back by digest)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sciregistry import errors
from sciregistry.client import Registry
from sciregistry.client.oci import file_digest
from sciregistry.oci import EMPTY_JSON, EMPTY_JSON_DIGEST, OCI_EMPTY, OCI_MANIFEST, compute

from .conftest import push_tiny_image
from .fake_registry import fake_registry

MiB = 1024 * 1024


def test_blob_upload_exists_download(registry: Registry, tmp_path: Path) -> None:
    data = b"some bytes\n" * 1000
    digest = compute(data)
    assert not registry.blob_exists("lab-x/blobs", digest)
    desc = registry.upload_blob("lab-x/blobs", data)
    assert (desc.digest, desc.size) == (digest, len(data))
    assert registry.blob_exists("lab-x/blobs", digest)
    assert not registry.blob_exists("lab-x/blobs", compute(b"other"))
    out = registry.download_blob("lab-x/blobs", digest, tmp_path / "sub" / "blob.bin")
    assert out.read_bytes() == data
    # a second upload of the same bytes is skipped (HEAD only)
    before = dict(registry.transport.request_counts)
    registry.upload_blob("lab-x/blobs", data)
    after = registry.transport.request_counts
    assert after["POST"] == before.get("POST", 0) and after["HEAD"] == before.get("HEAD", 0) + 1


def test_small_file_upload_uses_one_put_and_large_file_is_chunked(shared_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    reg = Registry(shared_server.url, progress=False, use_stored_credentials=False, chunk_size=64 * 1024)
    small = tmp_path / "small.bin"
    small.write_bytes(os.urandom(1000))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(64 * 1024 * 3 + 17))  # 3 full chunks + 17 bytes
    reg.upload_blob("lab-x/chunks", small)
    assert reg.transport.request_counts["PATCH"] == 0
    seen: list[int] = []
    desc = reg.upload_blob("lab-x/chunks", big, progress=seen.append)
    assert reg.transport.request_counts["PATCH"] == 4
    assert seen == [65536, 65536, 65536, 17]
    assert desc.digest == file_digest(big)[0]
    assert (
        reg.download_blob("lab-x/chunks", desc.digest, tmp_path / "back.bin").read_bytes() == big.read_bytes()
    )


MEMORY_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    from sciregistry.client import Registry

    def rss_kib(field):  # VmRSS (now) or VmHWM (peak since the last reset), Linux /proc
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def reset_peak():
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
        except OSError:
            pass

    url, big, small, dest = sys.argv[1:5]
    reg = Registry(url, progress=False, use_stored_credentials=False)
    reg.upload_blob("lab-x/memory", small)                       # warm up every code path once
    reg.download_blob("lab-x/memory", reg.upload_blob("lab-x/memory", small).digest, dest + ".small")
    reset_peak()
    base = rss_kib("VmRSS")
    desc = reg.upload_blob("lab-x/memory", big)
    after_push = rss_kib("VmHWM")
    reset_peak()
    base_pull = rss_kib("VmRSS")
    reg.download_blob("lab-x/memory", desc.digest, dest)
    after_pull = rss_kib("VmHWM")
    print(json.dumps({"digest": desc.digest, "push_growth_kib": after_push - base,
                      "pull_growth_kib": after_pull - base_pull,
                      "patches": reg.transport.request_counts["PATCH"]}))
""")


def test_64mib_file_is_pushed_chunked_with_flat_memory(shared_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    big = tmp_path / "big.bin"
    h = hashlib.sha256()
    with open(big, "wb") as f:
        for i in range(64):
            block = hashlib.sha256(str(i).encode()).digest() * (MiB // 32)
            f.write(block)
            h.update(block)
    small = tmp_path / "small.bin"
    small.write_bytes(b"warm-up\n")
    script = tmp_path / "measure.py"
    script.write_text(MEMORY_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), shared_server.url, str(big), str(small), str(tmp_path / "pulled.bin")],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["digest"] == "sha256:" + h.hexdigest()
    assert out["patches"] == 16  # 64 MiB in 4 MiB chunks
    push_growth = out["push_growth_kib"] / 1024
    pull_growth = out["pull_growth_kib"] / 1024
    assert push_growth < 20, f"client RSS grew by {push_growth:.1f} MiB while pushing 64 MiB"
    assert pull_growth < 20, f"client RSS grew by {pull_growth:.1f} MiB while pulling 64 MiB"
    print(f"RSS growth: push {push_growth:.1f} MiB, pull {pull_growth:.1f} MiB")
    assert file_digest(tmp_path / "pulled.bin")[0] == out["digest"]


def test_download_with_wrong_bytes_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    digest = compute(b"the real bytes")
    with fake_registry(mode="basic") as fake:
        fake.fail[f"/v2/lab/x/blobs/{digest}"] = [(200, b"tampered bytes")]
        reg = Registry(fake.url, username="alice", password="s3cret", use_stored_credentials=False)
        with pytest.raises(errors.DigestInvalid) as info:
            reg.download_blob("lab/x", digest, tmp_path / "out.bin")
    assert info.value.detail == {"digest": digest, "received": compute(b"tampered bytes")}
    assert list(tmp_path.iterdir()) == []


def test_manifest_bytes_are_kept_and_verified(registry: Registry) -> None:
    digest = push_tiny_image(registry, "lab-x/tiny", "v1")
    got = registry.get_manifest("lab-x/tiny:v1")
    assert got.digest == digest and got.media_type == OCI_MANIFEST
    assert got.data.startswith(b"{\n  ")  # indented bytes, exactly as pushed
    assert registry.get_manifest(f"{registry.host}/lab-x/tiny@{digest}").data == got.data
    assert registry.resolve_digest("lab-x/tiny:v1") == digest
    with pytest.raises(errors.DigestInvalid):
        registry.put_manifest("lab-x/tiny", "sha256:" + "0" * 64, got.data, OCI_MANIFEST)


def test_tags_follow_pagination(registry: Registry) -> None:
    for tag in ("c", "a", "b"):
        push_tiny_image(registry, "lab-x/paged", tag)
    assert registry.oci.tags("lab-x/paged", page_size=1) == ["a", "b", "c"]
    assert registry.tags(f"{registry.host}/lab-x/paged") == ["a", "b", "c"]


def test_referrers_with_and_without_filter(registry: Registry) -> None:
    subject = push_tiny_image(registry, "lab-x/refd", "v1")
    size = len(registry.get_manifest("lab-x/refd:v1").data)
    registry.upload_blob("lab-x/refd", EMPTY_JSON, media_type=OCI_EMPTY)
    digests = {}
    for at in ("application/vnd.example.sbom", "application/vnd.example.sig"):
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": at,
            "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2},
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": size},
            "annotations": {"kind": at},
        }
        data = json.dumps(doc).encode()
        digests[at] = registry.put_manifest("lab-x/refd", compute(data), data, OCI_MANIFEST)
    every = registry.referrers("lab-x/refd", subject)
    assert {d.digest for d in every} == set(digests.values())
    only = registry.referrers("lab-x/refd", subject, "application/vnd.example.sig")
    assert [(d.digest, d.artifact_type, d.annotations) for d in only] == [
        (
            digests["application/vnd.example.sig"],
            "application/vnd.example.sig",
            {"kind": "application/vnd.example.sig"},
        )
    ]
    assert registry.referrers("lab-x/refd", compute(b"nothing refers to this")) == []


def test_push_layout_then_export_layout_reproduces_blobs_and_manifest(
    registry: Registry, gc_layout: tuple[Path, str], tmp_path: Path
) -> None:
    layout, built_digest = gc_layout
    digest = registry.push_layout(layout, f"{registry.host}/lab-x/gc-content:t1")
    assert digest == built_digest
    got = registry.get_manifest("lab-x/gc-content:t1")
    hexpart = built_digest.split(":", 1)[1]
    assert got.data == (layout / "blobs" / "sha256" / hexpart).read_bytes()
    out = registry.export_layout("lab-x/gc-content", digest, tmp_path / "export", tag="t1")
    src = {p.name: p.read_bytes() for p in (layout / "blobs" / "sha256").iterdir()}
    dst = {p.name: p.read_bytes() for p in (out / "blobs" / "sha256").iterdir()}
    assert sorted(src) == sorted(dst) and len(src) == 3  # manifest, config, layer
    assert all(src[k] == dst[k] for k in src)
    index = json.loads((out / "index.json").read_bytes())
    assert index["manifests"] == [
        {
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": len(got.data),
            "annotations": {"org.opencontainers.image.ref.name": "t1"},
        }
    ]
    assert json.loads((out / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    # the exported layout pushes again to the same digest (round trip through a second repository)
    assert registry.push_layout(out, "lab-x/gc-copy", "t1") == digest


def test_push_layout_picks_the_named_entry(registry: Registry, tmp_path: Path) -> None:
    first = push_tiny_image(registry, "lab-x/multi", "one", marker="one")
    second = push_tiny_image(registry, "lab-x/multi", "two", marker="two")
    layout = tmp_path / "layout"
    registry.export_layout("lab-x/multi", first, layout, tag="one")
    registry.export_layout("lab-x/multi", second, layout, tag="two")
    assert registry.push_layout(layout, "lab-x/multi-copy", "two") == second
    assert registry.push_layout(layout, "lab-x/multi-copy", "latest", source_tag="one") == first
    with pytest.raises(ValueError, match="none is named 'three'"):
        registry.push_layout(layout, "lab-x/multi-copy", "three")
