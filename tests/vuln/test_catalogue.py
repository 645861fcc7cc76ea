"""Cataloguing images from their layers: package databases, purls, whiteouts, bad layers."""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
import struct
import tarfile
from pathlib import Path

import pytest

from sciregistry.sbom import ScanError, inventory
from sciregistry.sbom.catalogue import rpm_header
from sciregistry.sbom.document import read_sbom
from tests.vuln.images import alpine_image, conda_meta, debian_image, metadata, openers, tar_layer


def _by_name(inv):  # type: ignore[no-untyped-def]
    return {p.name: p for p in inv.packages}


def test_dpkg_python_conda_r_npm_with_purls() -> None:
    pkgs = _by_name(inventory(openers(debian_image())))
    ssl = pkgs["libssl3"]
    assert ssl.version == "3.0.11-1~deb12u1" and ssl.source == "openssl" and ssl.distro == "12"
    assert ssl.purl == "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl"
    assert ssl.path == "var/lib/dpkg/status"
    assert pkgs["zlib1g"].purl.startswith("pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?")
    assert "removed-pkg" not in pkgs  # deinstalled: only config files are left
    assert pkgs["Jinja2"].purl == "pkg:pypi/jinja2@2.10"
    assert pkgs["Jinja2"].path == "usr/lib/python3/dist-packages/jinja2-2.10.dist-info/METADATA"
    assert pkgs["urllib3"].version == "1.26.5"
    sam = pkgs["samtools"]
    assert sam.purl == "pkg:conda/samtools@1.17?build=h1234_0&channel=bioconda&subdir=linux-64"
    assert pkgs["DESeq2"].purl == "pkg:bioconductor/DESeq2@1.40.2"
    assert pkgs["ggplot2"].purl == "pkg:cran/ggplot2@3.4.4"
    assert pkgs["@babel/core"].purl == "pkg:npm/%40babel/core@7.23.2"
    assert pkgs["lodash"].purl == "pkg:npm/lodash@4.17.20"


def test_apk() -> None:
    pkgs = _by_name(inventory(openers(alpine_image())))
    bb = pkgs["busybox"]
    assert bb.version == "1.36.1-r2" and bb.distro == "3.18.4"
    assert bb.purl == "pkg:apk/alpine/busybox@1.36.1-r2?arch=x86_64&distro=3.18.4"
    assert pkgs["libcrypto3"].source == "openssl"


def _rpm_blob(tags: dict[int, tuple[int, bytes]]) -> bytes:
    index, data = b"", b""
    for tag, (typ, value) in tags.items():
        index += struct.pack(">IIiI", tag, typ, len(data), 1)
        data += value
    return struct.pack(">II", len(tags), len(data)) + index + data


def test_rpm_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "rpmdb.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    conn.execute(
        "INSERT INTO Packages (blob) VALUES (?)",
        (
            _rpm_blob(
                {
                    1000: (6, b"bash\0"),
                    1001: (6, b"5.1.8\0"),
                    1002: (6, b"6.el9\0"),
                    1022: (6, b"x86_64\0"),
                    1044: (6, b"bash-5.1.8-6.el9.src.rpm\0"),
                }
            ),
        ),
    )
    conn.execute(
        "INSERT INTO Packages (blob) VALUES (?)",
        (
            _rpm_blob(
                {
                    1000: (6, b"openssl-libs\0"),
                    1003: (4, struct.pack(">I", 1)),
                    1001: (6, b"3.0.7\0"),
                    1002: (6, b"24.el9\0"),
                    1044: (6, b"openssl-3.0.7-24.el9.src.rpm\0"),
                }
            ),
        ),
    )
    conn.commit()
    conn.close()
    layer = tar_layer(
        [("etc/os-release", 'ID="rhel"\nVERSION_ID="9.3"\n'), ("var/lib/rpm/rpmdb.sqlite", db.read_bytes())]
    )
    pkgs = _by_name(inventory(openers([layer])))
    assert pkgs["bash"].version == "5.1.8-6.el9"
    assert pkgs["bash"].purl == "pkg:rpm/redhat/bash@5.1.8-6.el9?arch=x86_64&distro=redhat-9.3"
    assert pkgs["openssl-libs"].version == "1:3.0.7-24.el9" and pkgs["openssl-libs"].source == "openssl"
    assert "epoch=1" in pkgs["openssl-libs"].purl
    with pytest.raises(ValueError):
        rpm_header(struct.pack(">II", 5000, 10) + b"\0" * 30)


def test_whiteouts_and_layer_order() -> None:
    lower = tar_layer(
        [
            ("usr/lib/python3/site-packages/a-1.0.dist-info/METADATA", metadata("a", "1.0")),
            ("usr/lib/python3/site-packages/b-1.0.dist-info/METADATA", metadata("b", "1.0")),
            ("opt/conda/conda-meta/x-1-0.json", conda_meta("x", "1")),
            ("usr/lib/python3/site-packages/c-1.0.dist-info/METADATA", metadata("c", "1.0")),
        ]
    )
    upper = tar_layer(
        [
            ("usr/lib/python3/site-packages/.wh.a-1.0.dist-info", b""),  # deletes a
            ("opt/conda/conda-meta/.wh..wh..opq", b""),  # hides lower conda-meta content
            ("opt/conda/conda-meta/y-2-0.json", conda_meta("y", "2")),  # same layer: kept
            ("usr/lib/python3/site-packages/c-1.0.dist-info/METADATA", metadata("c", "1.1")),
        ]
    )
    pkgs = _by_name(inventory(openers([lower, upper])))
    assert set(pkgs) == {"b", "y", "c"}
    assert pkgs["c"].version == "1.1"
    # the same layers the other way round: nothing is whited out
    assert set(_by_name(inventory(openers([upper, lower])))) == {"a", "b", "c", "x", "y"}


def _raw_tar(entries: list[tarfile.TarInfo], data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for info in entries:
            tf.addfile(info, io.BytesIO(data) if info.size else None)
    return buf.getvalue()


def _pax_bomb() -> bytes:
    """A pax header declaring 2 GiB of extended attributes (tarfile would read it into memory)."""
    info = tarfile.TarInfo("x")
    header = bytearray(info.tobuf(tarfile.USTAR_FORMAT))
    header[156:157] = b"x"
    header[124:136] = b"%011o\0" % (2 << 30)
    header[148:156] = b"        "
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header) + b"\0" * 1024


def _deep() -> bytes:
    info = tarfile.TarInfo("a/" * 300 + "f")
    return _raw_tar([info])


def _escape() -> bytes:
    link = tarfile.TarInfo("var/lib/dpkg/status")
    link.type = tarfile.LNKTYPE
    link.linkname = "../../../etc/shadow"
    return _raw_tar([link])


def _sparse() -> bytes:
    info = tarfile.TarInfo("sparse")
    info.type = tarfile.GNUTYPE_SPARSE
    return _raw_tar([info])


@pytest.mark.parametrize(
    "blob, message",
    [
        (
            gzip.compress(tar_layer([("a", "b")], compress=False), mtime=0)[:40],
            "truncated tar stream|corrupt",
        ),
        (b"\x1f\x8b\x08\x00" + b"garbage" * 50, "corrupt compressed stream"),
        (_pax_bomb(), "extended tar header of"),
        (_deep(), "deeper than"),
        (_escape(), "leaves the image root"),
        (_sparse(), "sparse file"),
        (b"not a tar at all" * 40, "checksum mismatch|invalid number"),
        (
            tar_layer(
                [
                    ("var/lib/dpkg/status.d/x", "Package: x\nVersion: 1\n"),
                    ("usr/lib/node_modules/bad/package.json", "{not json"),
                ]
            ),
            "not JSON",
        ),
    ],
)
def test_bad_layers_are_a_scan_error(blob: bytes, message: str) -> None:
    with pytest.raises(ScanError, match=message):
        inventory(openers([tar_layer([("etc/os-release", "ID=debian\n")]), blob]))


def test_foreign_sboms() -> None:
    cdx = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "components": [
            {"type": "library", "name": "jinja2", "version": "2.10", "purl": "pkg:pypi/jinja2@2.10"},
            {"type": "library", "name": "nopurl", "version": "1"},
        ],
    }
    spdx = {
        "spdxVersion": "SPDX-2.3",
        "packages": [
            {
                "name": "busybox",
                "versionInfo": "1.36.1-r2",
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": (
                            "pkg:apk/alpine/busybox@1.36.1-r2?arch=x86_64&distro=alpine-3.18.4"
                        ),
                    }
                ],
            }
        ],
    }
    assert [(p.type, p.name, p.version) for p in read_sbom(json.dumps(cdx).encode())] == [
        ("pypi", "jinja2", "2.10")
    ]
    [bb] = read_sbom(json.dumps(spdx).encode())
    assert (bb.type, bb.namespace, bb.distro) == ("apk", "alpine", "3.18.4")


def test_zstd_and_plain_layers() -> None:
    zstandard = pytest.importorskip("zstandard", reason="zstandard not installed (the zstd extra)")
    raw = tar_layer(
        [("usr/lib/python3/site-packages/z-1.0.dist-info/METADATA", metadata("z", "1.0"))], compress=False
    )
    plain = tar_layer(
        [("usr/lib/python3/site-packages/p-2.0.dist-info/METADATA", metadata("p", "2.0"))], compress=False
    )
    pkgs = _by_name(inventory(openers([zstandard.ZstdCompressor().compress(raw), plain])))
    assert (pkgs["z"].version, pkgs["p"].version) == ("1.0", "2.0")
    with pytest.raises(ScanError, match="corrupt zstd stream|truncated"):
        inventory(openers([zstandard.ZstdCompressor().compress(raw)[:-20] + b"\x00" * 20]))


def test_corrupt_gzip_trailer_is_detected() -> None:
    good = tar_layer([("usr/lib/python3/site-packages/a-1.0.dist-info/METADATA", metadata("a", "1.0"))])
    with pytest.raises(ScanError, match="corrupt compressed stream"):
        inventory(openers([good[:-1] + bytes([good[-1] ^ 0xFF])]))  # the stored length no longer matches
