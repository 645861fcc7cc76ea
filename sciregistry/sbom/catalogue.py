"""Package inventories of an image, read from the package databases in its final filesystem.

Supported (path in the image -> what is read):

    etc/os-release, usr/lib/os-release          distribution id and version (purl ``distro``)
    var/lib/dpkg/status                         Debian/Ubuntu dpkg stanzas (Status "install ok installed")
    var/lib/dpkg/status.d/<name>                distroless: one stanza per file (``*.md5sums`` ignored)
    lib/apk/db/installed                        Alpine apk (P: name, V: version, o: origin, A: arch)
    var/lib/rpm/rpmdb.sqlite,                   RPM (sqlite backend, RHEL/Fedora/UBI >= 9): name, epoch,
    usr/lib/sysimage/rpm/rpmdb.sqlite             version, release, arch, sourcerpm from each header blob
    **/<name>.dist-info/METADATA                Python wheels' installs (Name, Version)
    **/<name>.egg-info/PKG-INFO, **/<x>.egg-info  Python eggs
    **/conda-meta/<name>.json                   conda / bioconda (name, version, build, channel, subdir)
    **/<library>/<pkg>/DESCRIPTION              R packages in a library tree (a directory named library
                                                  or site-library, or R's own lib); Bioconductor when
                                                  the DESCRIPTION has biocViews
    **/node_modules/[@scope/]<name>/package.json  npm

RPM's Berkeley DB and NDB backends (RHEL <= 8, SUSE) are not read: such an image gets no RPM
packages and a ``notes`` entry says so. Every parser is total: a malformed database raises
:class:`CatalogueError` with its path, never anything else.
"""

from __future__ import annotations

import json
import re
import sqlite3
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from typing import Any

from packageurl import PackageURL

from sciregistry.sbom.layers import Captured, Filesystem


class CatalogueError(Exception):
    """A package database that cannot be parsed; the message names its path."""


@dataclass(frozen=True, slots=True)
class Package:
    """One installed package. ``type`` is the purl type (deb, apk, rpm, pypi, conda, cran,
    bioconductor, npm); ``source`` the source package (dpkg Source, apk origin, rpm sourcerpm
    name) that distribution advisories name; ``path`` the database file it was read from."""

    type: str
    name: str
    version: str
    purl: str
    path: str
    source: str | None = None
    namespace: str | None = None  # distro id (debian, ubuntu, alpine, redhat...)
    distro: str | None = None  # distro version id (12, 3.19.1, 9.3)
    arch: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Package:
        return cls(**{k: d.get(k) for k in cls.__slots__ if k in d})  # type: ignore[arg-type]


@dataclass
class Inventory:
    packages: list[Package] = field(default_factory=list)
    distro: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


_RPMDB = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
_RPM_OTHER = ("var/lib/rpm/Packages", "var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/Packages.db")
_OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
_R_LIB = re.compile(r"(^|/)(site-library|library|R/library|Rlib|renv/library/[^/]+/[^/]+)/[^/]+/DESCRIPTION$")
_NPM = re.compile(r"(^|/)node_modules/(@[^/]+/)?[^/@][^/]*/package\.json$")


def wanted(path: str) -> bool:
    """Does a cataloguer read ``path``? (the predicate given to :func:`layers.collect`)"""
    if path in _OS_RELEASE or path == "var/lib/dpkg/status" or path == "lib/apk/db/installed":
        return True
    if path.startswith("var/lib/dpkg/status.d/"):
        return not path.endswith(".md5sums") and path.count("/") == 4
    if path in _RPMDB or path in _RPM_OTHER:
        return True
    if path.endswith((".dist-info/METADATA", ".egg-info/PKG-INFO")):
        return True
    if path.endswith(".egg-info") and ("/site-packages/" in path or "/dist-packages/" in path):
        return True
    if "/conda-meta/" in path or path.startswith("conda-meta/"):
        return path.endswith(".json") and path.rsplit("/", 2)[-2] == "conda-meta"
    if path.endswith("/DESCRIPTION"):
        return bool(_R_LIB.search(path))
    if path.endswith("/package.json"):
        return bool(_NPM.search(path))
    return False


def _text(c: Captured) -> str:
    return c.read().decode("utf-8", "replace")


def os_release(fs: Filesystem) -> dict[str, str]:
    for p in _OS_RELEASE:
        c = fs.files.get(p)
        if c is None:
            continue
        out = {}
        for line in _text(c).splitlines():
            k, sep, v = line.partition("=")
            if sep and re.fullmatch(r"[A-Z_]+", k.strip()):
                out[k.strip()] = v.strip().strip('"').strip("'")
        return out
    return {}


def _purl(
    type_: str,
    name: str,
    version: str,
    namespace: str | None = None,
    qualifiers: dict[str, str] | None = None,
) -> str:
    q = {k: v for k, v in (qualifiers or {}).items() if v}
    return PackageURL(
        type=type_, namespace=namespace, name=name, version=version, qualifiers=q or None
    ).to_string()


# --- dpkg ------------------------------------------------------------------------------------------


def _stanzas(text: str) -> Iterator[dict[str, str]]:
    """Debian control-file stanzas (RFC 822-like; continuation lines start with a space)."""
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, None
            continue
        if line[0] in " \t":
            if key is not None:
                fields[key] += "\n" + line.strip()
            continue
        k, sep, v = line.partition(":")
        if not sep:
            continue
        key = k.strip()
        fields[key] = v.strip()
    if fields:
        yield fields


def parse_dpkg(text: str, path: str, distro: dict[str, str]) -> list[Package]:
    out = []
    ns = distro.get("ID", "debian") or "debian"
    ver = distro.get("VERSION_ID")
    for st in _stanzas(text):
        name, version = st.get("Package"), st.get("Version")
        if not name or not version:
            continue
        status = st.get("Status", "install ok installed").split()
        if status and status[-1] not in ("installed",):
            continue
        source = st.get("Source", "").split(" ")[0] or None
        arch = st.get("Architecture")
        q = {"arch": arch or "", "distro": f"{ns}-{ver}" if ver else ""}
        if source and source != name:
            q["upstream"] = source
        out.append(
            Package(
                "deb",
                name,
                version,
                _purl("deb", name, version, ns, q),
                path,
                source=source or name,
                namespace=ns,
                distro=ver,
                arch=arch,
            )
        )
    return out


# --- apk -------------------------------------------------------------------------------------------


def parse_apk(text: str, path: str, distro: dict[str, str]) -> list[Package]:
    out = []
    ns = distro.get("ID", "alpine") or "alpine"
    ver = distro.get("VERSION_ID")
    for block in re.split(r"\n\s*\n", text):
        rec: dict[str, str] = {}
        for line in block.splitlines():
            if len(line) >= 2 and line[1] == ":" and line[0] not in rec:
                rec[line[0]] = line[2:].strip()
        name, version = rec.get("P"), rec.get("V")
        if not name or not version:
            continue
        arch = rec.get("A")
        out.append(
            Package(
                "apk",
                name,
                version,
                _purl("apk", name, version, ns, {"arch": arch or "", "distro": ver or ""}),
                path,
                source=rec.get("o") or name,
                namespace=ns,
                distro=ver,
                arch=arch,
            )
        )
    return out


# --- rpm -------------------------------------------------------------------------------------------

_RPMTAG = {1000: "name", 1001: "version", 1002: "release", 1003: "epoch", 1022: "arch", 1044: "sourcerpm"}
_MAX_INDEX = 100_000


def rpm_header(blob: bytes) -> dict[str, Any]:
    """The tags we need from an RPM header blob as stored in rpmdb.sqlite (no lead, no magic):
    be32 index count, be32 data length, then 16-byte index entries (tag, type, offset, count)."""
    if len(blob) < 8:
        raise ValueError("header too short")
    il, dl = struct.unpack(">II", blob[:8])
    if il > _MAX_INDEX or 8 + il * 16 + dl > len(blob):
        raise ValueError("header sizes exceed the blob")
    data = blob[8 + il * 16 : 8 + il * 16 + dl]
    out: dict[str, Any] = {}
    for i in range(il):
        tag, typ, off, count = struct.unpack(">IIiI", blob[8 + i * 16 : 24 + i * 16])
        key = _RPMTAG.get(tag)
        if key is None:
            continue
        if off < 0 or (off >= len(data) and not (typ == 4 and count == 0)):
            raise ValueError(f"tag {tag} offset out of range")
        if typ in (6, 8, 9):  # STRING, STRING_ARRAY, I18NSTRING: first string
            end = data.find(b"\0", off)
            if end < 0:
                raise ValueError(f"tag {tag} unterminated")
            out[key] = data[off:end].decode("utf-8", "replace")
        elif typ == 4 and count >= 1:  # INT32
            out[key] = struct.unpack(">I", data[off : off + 4])[0]
    return out


def parse_rpmdb(c: Captured, distro: dict[str, str]) -> list[Package]:
    ns = distro.get("ID", "redhat") or "redhat"
    if ns == "rhel":
        ns = "redhat"
    ver = distro.get("VERSION_ID")
    with tempfile.NamedTemporaryFile(suffix=".sqlite") as tmp:
        c.data.seek(0)
        while chunk := c.data.read(1 << 20):
            tmp.write(chunk)
        tmp.flush()
        try:
            conn = sqlite3.connect(f"file:{tmp.name}?mode=ro&immutable=1", uri=True)
        except sqlite3.Error as exc:
            raise CatalogueError(f"{c.path}: not an SQLite database ({exc})") from exc
        try:
            rows = conn.execute("SELECT hnum, blob FROM Packages").fetchall()
        except sqlite3.Error as exc:
            raise CatalogueError(f"{c.path}: cannot read the Packages table ({exc})") from exc
        finally:
            conn.close()
    out = []
    for hnum, blob in rows:
        try:
            h = rpm_header(bytes(blob))
        except (ValueError, struct.error) as exc:
            raise CatalogueError(f"{c.path}: header {hnum} is malformed ({exc})") from exc
        name, version, release = h.get("name"), h.get("version"), h.get("release")
        if not name or not version or name == "gpg-pubkey":
            continue
        full = f"{version}-{release}" if release else version
        epoch = h.get("epoch")
        src = h.get("sourcerpm")
        source = re.sub(r"-[^-]+-[^-]+\.src\.rpm$", "", src) if src else name
        q = {
            "arch": h.get("arch") or "",
            "epoch": str(epoch) if epoch else "",
            "distro": f"{ns}-{ver}" if ver else "",
        }
        out.append(
            Package(
                "rpm",
                name,
                f"{epoch}:{full}" if epoch else full,
                _purl("rpm", name, full, ns, q),
                c.path,
                source=source,
                namespace=ns,
                distro=ver,
                arch=h.get("arch"),
            )
        )
    return out


# --- language ecosystems -------------------------------------------------------------------------------


def _pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_python(c: Captured) -> list[Package]:
    headers = BytesHeaderParser().parsebytes(c.read(4 << 20))
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        raise CatalogueError(f"{c.path}: no Name or Version")
    name, version = str(name).strip(), str(version).strip()
    return [Package("pypi", name, version, _purl("pypi", _pep503(name), version), c.path)]


def parse_conda(c: Captured) -> list[Package]:
    try:
        doc = json.loads(c.read(16 << 20))
    except ValueError as exc:
        raise CatalogueError(f"{c.path}: not JSON ({exc})") from exc
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("name"), str)
        or not isinstance(doc.get("version"), str)
    ):
        if c.path.endswith("/history") or not isinstance(doc, dict):
            return []
        raise CatalogueError(f"{c.path}: no name or version")
    channel = doc.get("channel") or doc.get("schannel") or ""
    if isinstance(channel, str) and "/" in channel:
        # https://conda.anaconda.org/bioconda/linux-64 -> bioconda
        parts = [p for p in channel.rstrip("/").split("/") if p]
        channel = (
            parts[-2]
            if len(parts) >= 2
            and parts[-1]
            in (doc.get("subdir"), "noarch", "linux-64", "linux-aarch64", "osx-64", "osx-arm64", "win-64")
            else parts[-1]
        )
    q = {
        "build": str(doc.get("build") or ""),
        "channel": str(channel or ""),
        "subdir": str(doc.get("subdir") or ""),
    }
    name, version = doc["name"], doc["version"]
    return [
        Package(
            "conda",
            name,
            version,
            _purl("conda", name, version, None, q),
            c.path,
            namespace=str(channel) or None,
        )
    ]


def parse_r(c: Captured) -> list[Package]:
    st = next(_stanzas(_text(c)), {})
    name, version = st.get("Package"), st.get("Version")
    if not name or not version:
        raise CatalogueError(f"{c.path}: no Package or Version")
    bioc = "biocViews" in st or st.get("Repository", "").lower().startswith("bioc")
    type_ = "bioconductor" if bioc else "cran"
    return [Package(type_, name, version, _purl(type_, name, version), c.path)]


def parse_npm(c: Captured) -> list[Package]:
    try:
        doc = json.loads(c.read(16 << 20))
    except ValueError as exc:
        raise CatalogueError(f"{c.path}: not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise CatalogueError(f"{c.path}: not a JSON object")
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name:
        return []  # package.json of a bundled fixture or a private workspace: not an installed package
    ns, _, bare = name.rpartition("/") if name.startswith("@") else ("", "", name)
    return [Package("npm", name, version, _purl("npm", bare, version, ns or None), c.path)]


def catalogue(fs: Filesystem) -> Inventory:
    """Every package in ``fs`` (a Filesystem collected with :func:`wanted`)."""
    inv = Inventory(distro=os_release(fs))
    for path in sorted(fs.files):
        c = fs.files[path]
        try:
            if path == "var/lib/dpkg/status" or path.startswith("var/lib/dpkg/status.d/"):
                inv.packages += parse_dpkg(_text(c), path, inv.distro)
            elif path == "lib/apk/db/installed":
                inv.packages += parse_apk(_text(c), path, inv.distro)
            elif path in _RPMDB:
                inv.packages += parse_rpmdb(c, inv.distro)
            elif path in _RPM_OTHER:
                inv.notes.append(f"{path}: RPM Berkeley DB / NDB databases are not read (only rpmdb.sqlite)")
            elif path.endswith((".dist-info/METADATA", ".egg-info/PKG-INFO", ".egg-info")):
                inv.packages += parse_python(c)
            elif "conda-meta/" in path:
                inv.packages += parse_conda(c)
            elif path.endswith("/DESCRIPTION"):
                inv.packages += parse_r(c)
            elif path.endswith("/package.json"):
                inv.packages += parse_npm(c)
        except CatalogueError:
            raise
        except (ValueError, UnicodeError, KeyError, TypeError) as exc:  # a parser's unforeseen input
            raise CatalogueError(f"{path}: malformed ({type(exc).__name__}: {exc})") from exc
    return inv
