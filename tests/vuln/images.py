"""Tiny image layers built in the tests: tar archives (gzip or plain) with package databases."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Callable, Iterable
from typing import BinaryIO

DPKG_STATUS = """\
Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 6138
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.11-1~deb12u1
Depends: libc6 (>= 2.34)
Description: Secure Sockets Layer toolkit - shared libraries
 This package is part of the OpenSSL project's implementation of the SSL and TLS
 cryptographic protocols for secure communication over the Internet.

Package: zlib1g
Status: install ok installed
Priority: required
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime

Package: removed-pkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
Description: gone
"""

APK_INSTALLED = """\
C:Q1abcdefabcdefabcdefabcdefabcdefabcd=
P:busybox
V:1.36.1-r2
A:x86_64
S:509417
I:940032
T:Size optimized toolbox of many common UNIX utilities
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>
t:1696417436

C:Q1zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz=
P:libcrypto3
V:3.1.3-r0
A:x86_64
o:openssl
"""

OS_DEBIAN = (
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
)
OS_ALPINE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.18.4\nPRETTY_NAME="Alpine Linux v3.18"\n'


def metadata(name: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n\nlong description\n"


def conda_meta(name: str, version: str, build: str = "h1234_0", channel: str = "bioconda") -> str:
    return json.dumps(
        {
            "name": name,
            "version": version,
            "build": build,
            "build_number": 0,
            "channel": f"https://conda.anaconda.org/{channel}/linux-64",
            "subdir": "linux-64",
            "files": ["bin/" + name],
        }
    )


Entry = tuple  # (path, content bytes|str) or (path, None, kind, extra)


def tar_layer(files: Iterable[tuple], *, compress: bool = True) -> bytes:
    """A layer tar: ``(path, content)`` regular files, ``(path, None, "dir"|"symlink"|"hardlink", link)``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for item in files:
            path = item[0]
            info = tarfile.TarInfo(path)
            if len(item) == 2:
                data = item[1].encode() if isinstance(item[1], str) else item[1]
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                kind, link = item[2], item[3]
                info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[
                    kind
                ]
                info.linkname = link or ""
                tf.addfile(info)
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def openers(blobs: list[bytes]) -> list[tuple[str, Callable[[], BinaryIO]]]:
    return [(f"l{i}", (lambda b=b: io.BytesIO(b))) for i, b in enumerate(blobs)]


def debian_image() -> list[bytes]:
    base = tar_layer(
        [
            ("etc/os-release", OS_DEBIAN),
            ("var/lib/dpkg/status", DPKG_STATUS),
            (
                "usr/lib/python3/dist-packages/urllib3-1.26.5.dist-info/METADATA",
                metadata("urllib3", "1.26.5"),
            ),
            ("usr/lib/python3/dist-packages/jinja2-2.10.dist-info/METADATA", metadata("Jinja2", "2.10")),
        ]
    )
    app = tar_layer(
        [
            ("opt/conda/conda-meta/samtools-1.17-h00cdaf9_0.json", conda_meta("samtools", "1.17")),
            (
                "usr/local/lib/R/site-library/DESeq2/DESCRIPTION",
                "Package: DESeq2\nVersion: 1.40.2\nbiocViews: Sequencing\n",
            ),
            ("usr/local/lib/R/site-library/ggplot2/DESCRIPTION", "Package: ggplot2\nVersion: 3.4.4\n"),
            (
                "app/node_modules/@babel/core/package.json",
                json.dumps({"name": "@babel/core", "version": "7.23.2"}),
            ),
            ("app/node_modules/lodash/package.json", json.dumps({"name": "lodash", "version": "4.17.20"})),
        ]
    )
    return [base, app]


def alpine_image() -> list[bytes]:
    return [tar_layer([("etc/os-release", OS_ALPINE), ("lib/apk/db/installed", APK_INSTALLED)])]
