"""Build the gc-content pipeline as a reproducible OCI image layout (standard library only).

Implements the OCI Image Format Specification v1.1:

* ``image-layout.md``: the output directory holds ``oci-layout``, ``index.json`` and
  ``blobs/sha256/<hex>``;
* ``manifest.md``: one ``application/vnd.oci.image.manifest.v1+json`` with one config and one
  layer;
* ``config.md``: ``application/vnd.oci.image.config.v1+json`` with ``architecture``, ``os``,
  ``rootfs.diff_ids`` (sha256 of the *uncompressed* layer tar), ``config.Env``/``Cmd``,
  ``created`` and ``history``;
* ``layer.md``: the layer is a tar archive, uncompressed
  (``application/vnd.oci.image.layer.v1.tar``) by default, or gzip
  (``application/vnd.oci.image.layer.v1.tar+gzip``) with ``--gzip``.

The image is tiny: a statically linked busybox (Debian's ``busybox-static``) plus the POSIX
sh + awk pipeline. Its root filesystem::

    bin/busybox                     the binary (0755)
    bin/{sh,awk,sort,cat,...}       symlinks to "busybox" (see BUSYBOX_APPLETS)
    etc/passwd, etc/group           root only
    in/  out/  root/  tmp/          mount points / home / scratch (tmp is 1777)
    usr/bin/env                     symlink to /bin/busybox (for "#!/usr/bin/env" scripts)
    usr/local/bin/gc-content.sh     the pipeline (0755)

Reproducibility: the same inputs (busybox bytes, script bytes, epoch, tag-independent
options) always give the same manifest digest. Every tar entry is a POSIX ustar header
written by this module (not ``tarfile``, whose output may change between Python versions)
with uid/gid 0, owner ``root``, mtime = ``SOURCE_DATE_EPOCH`` (default ``DEFAULT_EPOCH``),
entries sorted by name; JSON is serialised with sorted keys and no whitespace; gzip, when
asked for, has a fixed header (no name, mtime 0, OS 255), but its deflate stream depends on
the zlib version, which is why the default is an uncompressed layer. The tag lives only in
``index.json`` (``org.opencontainers.image.ref.name``), so retagging never changes the digest.

Running: ``config.Entrypoint`` is unset and ``config.Cmd`` is ``["/bin/sh"]``. A registry run
record's ``--command`` template (e.g. ``gc-content.sh --k {k} --min-length {min_length}
/in/reads /out``) is rendered and executed as ``/bin/sh -c '<rendered command>'`` inside the
image, i.e. ``podman run IMAGE /bin/sh -c '<rendered command>'``; ``PATH`` includes
``/usr/local/bin``, so the bare script name resolves.

Usage::

    python build_image.py --out DIR [--tag TAG] [--busybox /bin/busybox] [--gzip]

prints the manifest digest. From Python: ``build_image(out_dir, tag, busybox_path) -> digest``,
or ``build_layout(...) -> ImageBuild`` for every descriptor.
"""

import argparse
import datetime as _dt
import hashlib
import json
import os
import re
import struct
import sys
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BUSYBOX_APPLETS",
    "DEFAULT_EPOCH",
    "DEFAULT_TAG",
    "PIPELINE_VERSION",
    "SCRIPT_PATH",
    "Descriptor",
    "ImageBuild",
    "TarEntry",
    "build_image",
    "build_layer_tar",
    "build_layout",
    "canonical_json",
    "elf_architecture",
    "main",
    "source_date_epoch",
]

PIPELINE_VERSION = "1.0.0"
DEFAULT_TAG = PIPELINE_VERSION
#: 2024-01-01T00:00:00Z, used when SOURCE_DATE_EPOCH is not set.
DEFAULT_EPOCH = 1704067200
SCRIPT_PATH = Path(__file__).resolve().parent / "pipeline" / "gc-content.sh"
SCRIPT_IN_IMAGE = "usr/local/bin/gc-content.sh"
IMAGE_TITLE = "gc-content"

MEDIA_TYPE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_TYPE_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MEDIA_TYPE_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"

#: busybox applets linked into /bin: what the pipeline needs (sh, awk, sort, cat, mkdir, mv,
#: rm, printf) plus the usual tools for inspecting a run (ls, head, wc, sha256sum, ...).
BUSYBOX_APPLETS: tuple[str, ...] = (
    "[", "ash", "awk", "basename", "cat", "chmod", "cmp", "cp", "cut", "date", "diff",
    "dirname", "du", "echo", "env", "expr", "false", "find", "grep", "gunzip", "gzip", "head",
    "id", "ln", "ls", "md5sum", "mkdir", "mktemp", "mv", "od", "printf", "pwd", "readlink",
    "realpath", "rm", "rmdir", "sed", "seq", "sh", "sha256sum", "sleep", "sort", "stat",
    "tail", "tar", "tee", "test", "touch", "tr", "true", "uname", "uniq", "wc", "xargs",
)

#: ELF e_machine -> OCI architecture (image-spec config.md, Go GOARCH values).
_ELF_MACHINES: dict[int, str] = {
    3: "386",
    40: "arm",
    62: "amd64",
    183: "arm64",
    243: "riscv64",
    22: "s390x",
    21: "ppc64le",
}
_PT_INTERP = 3
# OCI distribution-spec tag grammar.
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor (image-spec descriptor.md)."""

    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class ImageBuild:
    """Everything a build produced; ``manifest.digest`` is the image digest."""

    out_dir: Path
    tag: str
    architecture: str
    manifest: Descriptor
    config: Descriptor
    layer: Descriptor
    diff_id: str
    created: str


@dataclass(frozen=True)
class TarEntry:
    """One member of the layer tar. ``kind`` is ``file``, ``dir`` or ``symlink``."""

    name: str
    kind: str
    mode: int
    data: bytes = b""
    linkname: str = ""


def canonical_json(obj: Any) -> bytes:
    """Serialise ``obj`` as stable JSON bytes: sorted keys, no whitespace, ASCII only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def source_date_epoch(environ: Mapping[str, str] | None = None) -> int:
    """Return ``SOURCE_DATE_EPOCH`` (reproducible-builds.org spec) or ``DEFAULT_EPOCH``.

    :raise ValueError: the variable is set but is not a non-negative decimal integer.
    """
    env = os.environ if environ is None else environ
    raw = env.get("SOURCE_DATE_EPOCH", "")
    if raw == "":
        return DEFAULT_EPOCH
    if not raw.isascii() or not raw.isdigit():
        raise ValueError(f"SOURCE_DATE_EPOCH must be a non-negative integer, got {raw!r}")
    return int(raw)


def rfc3339(epoch: int) -> str:
    return _dt.datetime.fromtimestamp(epoch, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def elf_architecture(data: bytes) -> str:
    """Return the OCI architecture of a *statically linked* ELF executable.

    The architecture comes from the binary rather than from the build host, so that
    cross-building (e.g. an arm64 busybox on an amd64 host) labels the image correctly.

    :raise ValueError: not an ELF file, an unknown machine, or dynamically linked (it has a
        ``PT_INTERP`` program header, so it would need a loader the image does not ship).
    """
    if len(data) < 64 or data[:4] != b"\x7fELF":
        raise ValueError("busybox is not an ELF executable")
    ei_class, ei_data = data[4], data[5]
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        raise ValueError(f"unsupported ELF class/data ({ei_class}, {ei_data})")
    end = "<" if ei_data == 1 else ">"
    (machine,) = struct.unpack_from(end + "H", data, 18)
    if ei_class == 2:
        (phoff,) = struct.unpack_from(end + "Q", data, 32)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 54)
    else:
        (phoff,) = struct.unpack_from(end + "I", data, 28)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 42)
    for i in range(phnum):
        offset = phoff + i * phentsize
        if offset + 4 > len(data):
            raise ValueError("truncated ELF program header table")
        (p_type,) = struct.unpack_from(end + "I", data, offset)
        if p_type == _PT_INTERP:
            raise ValueError(
                "busybox is dynamically linked (has an ELF interpreter); "
                "use a static build such as Debian's busybox-static"
            )
    arch = _ELF_MACHINES.get(machine)
    if arch is None:
        raise ValueError(f"unsupported ELF machine {machine}")
    if arch == "ppc64le" and ei_data != 1:
        raise ValueError("big-endian ppc64 is not supported")
    return arch


def _octal(value: int, width: int) -> bytes:
    """A NUL-terminated, zero-padded octal field of ``width`` bytes (ustar numeric field)."""
    text = format(value, "o").encode("ascii")
    if len(text) > width - 1:
        raise ValueError(f"value {value} does not fit a {width}-byte tar field")
    return text.rjust(width - 1, b"0") + b"\0"


def _field(text: str, width: int) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > width:
        raise ValueError(f"tar field too long ({len(raw)} > {width}): {text!r}")
    return raw.ljust(width, b"\0")


def _ustar_header(entry: TarEntry, mtime: int) -> bytes:
    """A POSIX.1-1988 ustar header (the base format of pax), owner root:root."""
    typeflag = {"file": b"0", "symlink": b"2", "dir": b"5"}[entry.kind]
    name = entry.name + "/" if entry.kind == "dir" else entry.name
    size = len(entry.data) if entry.kind == "file" else 0
    header = b"".join(
        (
            _field(name, 100),
            _octal(entry.mode, 8),
            _octal(0, 8),  # uid
            _octal(0, 8),  # gid
            _octal(size, 12),
            _octal(mtime, 12),
            b" " * 8,  # checksum placeholder
            typeflag,
            _field(entry.linkname, 100),
            b"ustar\x0000",
            _field("root", 32),  # uname
            _field("root", 32),  # gname
            _octal(0, 8),  # devmajor
            _octal(0, 8),  # devminor
            _field("", 155),  # prefix (names are short)
            b"\0" * 12,
        )
    )
    assert len(header) == 512
    checksum = format(sum(header), "o").encode("ascii").rjust(6, b"0") + b"\0 "
    return header[:148] + checksum + header[156:]


def build_layer_tar(entries: Iterable[TarEntry], mtime: int) -> bytes:
    """Serialise ``entries`` as an uncompressed tar, sorted by name, ended by two zero blocks."""
    ordered = sorted(entries, key=lambda e: e.name)
    names = [e.name for e in ordered]
    if len(set(names)) != len(names):
        raise ValueError("duplicate names in layer")
    chunks: list[bytes] = []
    for entry in ordered:
        if entry.name.startswith("/") or ".." in entry.name.split("/"):
            raise ValueError(f"unsafe tar member name: {entry.name!r}")
        chunks.append(_ustar_header(entry, mtime))
        if entry.kind == "file" and entry.data:
            chunks.append(entry.data)
            chunks.append(b"\0" * (-len(entry.data) % 512))
    chunks.append(b"\0" * 1024)
    return b"".join(chunks)


def _gzip(data: bytes) -> bytes:
    """RFC 1952 gzip with a fixed header (no name, mtime 0, XFL 2, OS 255) and level 9."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(data) + compressor.flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return header + body + trailer


def rootfs_entries(busybox: bytes, script: bytes, script_in_image: str = SCRIPT_IN_IMAGE) -> list[TarEntry]:
    """The image's root filesystem (see the module docstring)."""
    entries = [
        TarEntry("bin", "dir", 0o755),
        TarEntry("bin/busybox", "file", 0o755, busybox),
        TarEntry("etc", "dir", 0o755),
        TarEntry("etc/group", "file", 0o644, b"root:x:0:\n"),
        TarEntry("etc/passwd", "file", 0o644, b"root:x:0:0:root:/root:/bin/sh\n"),
        TarEntry("in", "dir", 0o755),
        TarEntry("out", "dir", 0o755),
        TarEntry("root", "dir", 0o700),
        TarEntry("tmp", "dir", 0o1777),
        TarEntry("usr", "dir", 0o755),
        TarEntry("usr/bin", "dir", 0o755),
        TarEntry("usr/bin/env", "symlink", 0o777, linkname="/bin/busybox"),
        TarEntry("usr/local", "dir", 0o755),
        TarEntry("usr/local/bin", "dir", 0o755),
        TarEntry(script_in_image, "file", 0o755, script),
    ]
    entries.extend(TarEntry(f"bin/{a}", "symlink", 0o777, linkname="busybox") for a in BUSYBOX_APPLETS)
    return entries


def _write_blob(blobs_dir: Path, media_type: str, data: bytes) -> Descriptor:
    """Store ``data`` as ``blobs/sha256/<hex>`` (kept if already present and intact)."""
    digest = sha256_digest(data)
    path = blobs_dir / digest.split(":", 1)[1]
    if not (path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == path.name):
        _atomic_write(path, data)
    return Descriptor(media_type, digest, len(data))


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _prepare_layout_dir(out_dir: Path) -> list[dict[str, Any]]:
    """Create ``out_dir`` (or reuse an existing layout); return the other tags' index entries.

    :raise FileExistsError: ``out_dir`` is a non-empty directory that is not an OCI layout.
    :raise ValueError: an existing ``index.json`` is not a JSON image index.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    layout_file = out_dir / "oci-layout"
    if not layout_file.exists():
        if any(out_dir.iterdir()):
            raise FileExistsError(f"{out_dir} is not empty and is not an OCI image layout")
        return []
    index_file = out_dir / "index.json"
    if not index_file.exists():
        return []
    try:
        index = json.loads(index_file.read_bytes())
        manifests = index["manifests"]
        if not isinstance(manifests, list):
            raise TypeError("manifests is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{index_file} is not a valid OCI image index: {exc}") from exc
    return [m for m in manifests if isinstance(m, dict)]


def build_layout(
    out_dir: str | os.PathLike[str],
    tag: str = DEFAULT_TAG,
    busybox_path: str | os.PathLike[str] = "/bin/busybox",
    *,
    script_path: str | os.PathLike[str] = SCRIPT_PATH,
    epoch: int | None = None,
    gzip_layer: bool = False,
    script_in_image: str = SCRIPT_IN_IMAGE,
    title: str = IMAGE_TITLE,
    version: str = PIPELINE_VERSION,
    description: str = "GC fraction and k-mer counts for FASTA files (busybox sh + awk)",
) -> ImageBuild:
    """Write (or add ``tag`` to) an OCI image layout at ``out_dir``.

    ``script_in_image``, ``title``, ``version`` and ``description`` let other example images reuse
    this builder with their own script (``workflows/gc-workflow`` builds its summary image so).

    ``epoch`` defaults to :func:`source_date_epoch`. An existing layout keeps its other tags;
    an entry with the same ``tag`` is replaced.

    :raise ValueError: bad tag, non-static or unknown-architecture busybox, bad epoch.
    :raise FileNotFoundError: busybox or the script is missing.
    :raise FileExistsError: ``out_dir`` is a non-empty non-layout directory.
    """
    if not _TAG_RE.fullmatch(tag):
        raise ValueError(f"invalid tag {tag!r}: must match [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}")
    when = source_date_epoch() if epoch is None else epoch
    if when < 0:
        raise ValueError(f"epoch must be >= 0, got {when}")
    busybox = Path(busybox_path).read_bytes()
    script = Path(script_path).read_bytes()
    arch = elf_architecture(busybox)
    created = rfc3339(when)

    layer_tar = build_layer_tar(rootfs_entries(busybox, script, script_in_image), when)
    diff_id = sha256_digest(layer_tar)
    layer_bytes = _gzip(layer_tar) if gzip_layer else layer_tar
    layer_media_type = MEDIA_TYPE_LAYER_GZIP if gzip_layer else MEDIA_TYPE_LAYER_TAR

    config = {
        "architecture": arch,
        "os": "linux",
        "created": created,
        "config": {
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C"],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/",
            "Labels": {
                "org.opencontainers.image.title": title,
                "org.opencontainers.image.version": version,
                "org.opencontainers.image.description": description,
                "org.sciregistry.busybox.sha256": hashlib.sha256(busybox).hexdigest(),
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [
            {
                "created": created,
                "created_by": f"workflows/gc-content/build_image.py: busybox-static + {Path(script_in_image).name}",
                "comment": f"{title} {version}",
            }
        ],
    }
    config_bytes = canonical_json(config)

    out = Path(out_dir)
    others = [
        m
        for m in _prepare_layout_dir(out)
        if m.get("annotations", {}).get(ANNOTATION_REF_NAME) != tag
    ]
    blobs_dir = out / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)

    layer_desc = _write_blob(blobs_dir, layer_media_type, layer_bytes)
    config_desc = _write_blob(blobs_dir, MEDIA_TYPE_CONFIG, config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [layer_desc.to_json()],
        "annotations": {
            "org.opencontainers.image.created": created,
            "org.opencontainers.image.title": title,
            "org.opencontainers.image.version": version,
        },
    }
    manifest_desc = _write_blob(blobs_dir, MEDIA_TYPE_MANIFEST, canonical_json(manifest))

    entry = manifest_desc.to_json()
    entry["platform"] = {"architecture": arch, "os": "linux"}
    entry["annotations"] = {ANNOTATION_REF_NAME: tag}
    manifests = sorted(
        others + [entry],
        key=lambda m: (str(m.get("annotations", {}).get(ANNOTATION_REF_NAME, "")), str(m.get("digest"))),
    )
    index = {"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": manifests}
    _atomic_write(out / "oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"}))
    _atomic_write(out / "index.json", canonical_json(index))
    return ImageBuild(
        out_dir=out,
        tag=tag,
        architecture=arch,
        manifest=manifest_desc,
        config=config_desc,
        layer=layer_desc,
        diff_id=diff_id,
        created=created,
    )


def build_image(
    out_dir: str | os.PathLike[str],
    tag: str = DEFAULT_TAG,
    busybox_path: str | os.PathLike[str] = "/bin/busybox",
) -> str:
    """Build the image layout at ``out_dir`` and return its manifest digest (``sha256:...``)."""
    return build_layout(out_dir, tag, busybox_path).manifest.digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the gc-content pipeline as a reproducible OCI image layout; "
        "prints the manifest digest."
    )
    parser.add_argument("--out", required=True, type=Path, help="OCI layout directory to write")
    parser.add_argument("--tag", default=DEFAULT_TAG, help=f"tag in index.json (default {DEFAULT_TAG})")
    parser.add_argument(
        "--busybox", default="/bin/busybox", type=Path, help="static busybox binary (default /bin/busybox)"
    )
    parser.add_argument(
        "--script", default=SCRIPT_PATH, type=Path, help="pipeline script (default pipeline/gc-content.sh)"
    )
    parser.add_argument(
        "--gzip", action="store_true", help="gzip the layer (digest then depends on the zlib version)"
    )
    args = parser.parse_args(argv)
    try:
        build = build_layout(
            args.out, args.tag, args.busybox, script_path=args.script, gzip_layer=args.gzip
        )
    except (OSError, ValueError) as exc:
        print(f"build_image.py: error: {exc}", file=sys.stderr)
        return 1
    print(build.manifest.digest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
