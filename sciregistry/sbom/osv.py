"""OSV records (https://ossf.github.io/osv-schema/) and matching them against package inventories.

A record, abridged (pypa/advisory-database ``vulns/jinja2/PYSEC-2021-66.yaml``)::

    {"id": "PYSEC-2021-66", "modified": "2021-03-22T16:34:00Z",
     "details": "This affects the package jinja2 from 0.0.0 and before 2.11.3. ...",
     "affected": [{"package": {"name": "jinja2", "ecosystem": "PyPI", "purl": "pkg:pypi/jinja2"},
                   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.11.3"}]}],
                   "versions": ["2.0", "...", "2.10.2"]}]}

A *scientific advisory* is an OSV record with ``database_specific.kind`` ``correctness`` (a tool's
versions that compute wrong results) instead of the default ``security``; it may name conda or
bioconda packages (``"ecosystem": "bioconda"`` or ``"purl": "pkg:conda/samtools"``), which OSV
itself does not list.

Matching: an affected entry applies to a package of the same purl type and name (the source
package too for distributions, whose advisories name source packages), and of the same
distribution release when the ecosystem names one (``Debian:12``, ``Alpine:v3.19``). The version is
affected when it is listed in ``versions`` or falls in an ``ECOSYSTEM``/``SEMVER`` range, evaluated
with the ecosystem's ordering from :mod:`sciregistry.sbom.versions`. ``GIT`` ranges are ignored
(commit hashes name no installed version).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from packageurl import PackageURL

from sciregistry.sbom import cvss, versions
from sciregistry.sbom.catalogue import Package

KINDS = ("security", "correctness")
MAX_RECORD = 4 << 20


class OsvError(ValueError):
    """A record that is not valid OSV (the message names the record and the problem)."""


# OSV ecosystem (before any ':') -> (purl type, distro namespace)
_ECOSYSTEMS = {
    "pypi": ("pypi", None),
    "debian": ("deb", "debian"),
    "ubuntu": ("deb", "ubuntu"),
    "alpine": ("apk", "alpine"),
    "npm": ("npm", None),
    "cran": ("cran", None),
    "bioconductor": ("bioconductor", None),
    "conda": ("conda", None),
    "bioconda": ("conda", None),
    "conda-forge": ("conda", None),
    "red hat": ("rpm", "redhat"),
    "rocky linux": ("rpm", "rocky"),
    "almalinux": ("rpm", "almalinux"),
    "fedora": ("rpm", "fedora"),
}


def normalize_name(type_: str, name: str) -> str:
    if type_ == "pypi":
        return re.sub(r"[-_.]+", "-", name).lower()
    if type_ in ("deb", "apk", "conda"):
        return name.lower()
    return name


@dataclass(frozen=True)
class Target:
    """Which packages an affected entry is about."""

    type: str
    name: str  # normalised
    namespace: str | None = None
    release: str | None = None  # "12", "3.19", "22.04"

    def applies_to_distro(self, p: Package) -> bool:
        if self.namespace and p.namespace and self.namespace != p.namespace:
            return False
        if self.release and p.distro:
            if self.type == "apk":
                return p.distro == self.release or p.distro.startswith(self.release + ".")
            return (
                p.distro.split(".")[0] == self.release.split(".")[0]
                if self.type == "deb" and self.namespace == "debian"
                else p.distro == self.release
            )
        return True


def target_of(package: dict[str, Any]) -> Target | None:
    """The purl type/name/distro an OSV ``affected[].package`` names (None: an ecosystem we do not match)."""
    eco = str(package.get("ecosystem") or "")
    name = package.get("name")
    purl = package.get("purl")
    family, _, rest = eco.partition(":")
    known = _ECOSYSTEMS.get(family.strip().lower())
    release = None
    if rest:
        release = rest.split(":")[-2 if rest.endswith(":LTS") else -1].strip()
        release = release[1:] if family.lower() == "alpine" and release.startswith("v") else release
    if purl:
        try:
            p = PackageURL.from_string(purl)
        except ValueError:
            p = None
        if p is not None:
            ns = known[1] if known else p.namespace
            full = f"{p.namespace}/{p.name}" if p.type == "npm" and p.namespace else p.name
            return Target(p.type, normalize_name(p.type, str(name or full)), ns, release)
    if known is None or not isinstance(name, str) or not name:
        return None
    return Target(known[0], normalize_name(known[0], name), known[1], release)


@dataclass
class Affected:
    target: Target
    versions: frozenset[str]
    ranges: list[
        list[tuple[str, str]]
    ]  # each range: [(event kind, version)], kinds introduced/fixed/last_affected/limit
    _keyed: list[list[tuple[int, str, Any]]] | None = None

    def fixed(self) -> list[str]:
        return [v for r in self.ranges for k, v in r if k == "fixed"]

    def _prepared(self) -> list[list[tuple[int, str, Any]]]:
        if self._keyed is None:
            out = []
            for r in self.ranges:
                try:
                    evs = [
                        (0 if v == "0" else 1, k, None if v == "0" else versions.key(self.target.type, v))
                        for k, v in r
                    ]
                except ValueError:
                    continue  # a range we cannot order is skipped; the versions list still applies
                evs.sort(key=_event_sort)
                out.append(evs)
            self._keyed = out
        return self._keyed

    def affects(self, version: str, vkey: Any = None) -> bool:
        """Is ``version`` affected? ``vkey`` is its sort key when the caller already has it."""
        if version in self.versions:
            return True
        ranges = self._prepared()
        if not ranges:
            return False
        if vkey is None:
            try:
                vkey = versions.key(self.target.type, version)
            except ValueError:
                return False
        v = vkey
        for evs in ranges:
            hit = False
            for zero, kind, k in evs:
                if zero == 0:  # introduced: "0"
                    hit = kind == "introduced" or hit
                    continue
                if kind == "introduced":
                    if not v < k:
                        hit = True
                elif kind == "last_affected":
                    if k < v:
                        hit = False
                elif not v < k:  # fixed, limit
                    hit = False
            if hit:
                return True
        return False

    def fixed_after(self, version: str, vkey: Any = None) -> list[str]:
        """The fixed versions above ``version`` (all of them when it cannot be ordered)."""
        out = set()
        for r in self.ranges:
            for k, v in r:
                if k != "fixed":
                    continue
                try:
                    if vkey is None or vkey < versions.key(self.target.type, v):
                        out.add(v)
                except ValueError:
                    out.add(v)
        return sorted(out)


def _event_sort(ev: tuple[int, str, Any]) -> Any:
    return _Sorter(ev)


class _Sorter:
    __slots__ = ("ev",)

    def __init__(self, ev: tuple[int, str, Any]) -> None:
        self.ev = ev

    def __lt__(self, other: _Sorter) -> bool:
        a, b = self.ev, other.ev
        if a[0] != b[0]:
            return a[0] < b[0]
        if a[0] == 0:
            return False
        return bool(a[2] < b[2])


@dataclass
class Advisory:
    id: str
    kind: str
    summary: str
    details: str
    modified: str
    published: str | None
    aliases: list[str]
    score: float | None
    severity: str | None
    affected: list[Affected]
    references: list[str]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def withdrawn(self) -> bool:
        return bool(self.raw.get("withdrawn"))


def _severity(doc: dict[str, Any]) -> tuple[float | None, str | None]:
    score = None
    for s in doc.get("severity") or []:
        if (
            isinstance(s, dict)
            and str(s.get("type", "")).startswith("CVSS_V3")
            and isinstance(s.get("score"), str)
        ):
            try:
                score = max(score or 0.0, cvss.base_score(s["score"]))
            except ValueError:
                continue
    if score is not None:
        return score, cvss.rating(score)
    label = (doc.get("database_specific") or {}).get("severity")
    if isinstance(label, str) and label.upper() in ("LOW", "MODERATE", "MEDIUM", "HIGH", "CRITICAL"):
        return None, "MEDIUM" if label.upper() == "MODERATE" else label.upper()
    return None, None


def parse_record(data: bytes | str | dict[str, Any], where: str = "record") -> Advisory:
    """An OSV record from JSON bytes or a decoded object; OsvError when it is not one."""
    if isinstance(data, dict):
        doc = data
    else:
        if len(data) > MAX_RECORD:
            raise OsvError(f"{where}: larger than {MAX_RECORD} bytes")
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise OsvError(f"{where}: not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise OsvError(f"{where}: not a JSON object")
    rid = doc.get("id")
    if not isinstance(rid, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", rid):
        raise OsvError(f"{where}: missing or invalid 'id'")
    modified = doc.get("modified")
    if not isinstance(modified, str) or not modified:
        raise OsvError(f"{rid}: missing 'modified'")
    kind = (
        (doc.get("database_specific") or {}).get("kind", "security")
        if isinstance(doc.get("database_specific") or {}, dict)
        else "security"
    )
    if kind not in KINDS:
        raise OsvError(f"{rid}: database_specific.kind must be one of {', '.join(KINDS)}")
    affected = []
    raw_affected = doc.get("affected") or []
    if not isinstance(raw_affected, list):
        raise OsvError(f"{rid}: 'affected' must be a list")
    for i, a in enumerate(raw_affected):
        if not isinstance(a, dict) or not isinstance(a.get("package", {}), dict):
            raise OsvError(f"{rid}: affected[{i}] is not an object with a package")
        target = target_of(a.get("package") or {})
        if target is None:
            continue
        vs = a.get("versions") or []
        if not isinstance(vs, list) or not all(isinstance(v, str) for v in vs):
            raise OsvError(f"{rid}: affected[{i}].versions must be a list of strings")
        ranges = []
        for r in a.get("ranges") or []:
            if not isinstance(r, dict) or r.get("type") not in ("ECOSYSTEM", "SEMVER", "GIT"):
                raise OsvError(f"{rid}: affected[{i}] has a range of unknown type")
            if r["type"] == "GIT":
                continue
            events = []
            for ev in r.get("events") or []:
                if not isinstance(ev, dict) or len(ev) != 1:
                    raise OsvError(f"{rid}: affected[{i}] has a malformed range event")
                ((k, v),) = ev.items()
                if k not in ("introduced", "fixed", "last_affected", "limit") or not isinstance(v, str):
                    raise OsvError(f"{rid}: affected[{i}] has an unknown range event {k!r}")
                events.append((k, v))
            if events:
                ranges.append(events)
        affected.append(Affected(target, frozenset(vs), ranges))
    score, label = _severity(doc)
    refs = [
        r["url"] for r in doc.get("references") or [] if isinstance(r, dict) and isinstance(r.get("url"), str)
    ]
    details = str(doc["details"]) if isinstance(doc.get("details"), str) else ""
    summary = str(doc["summary"]) if isinstance(doc.get("summary"), str) else details.split("\n")[0][:200]
    return Advisory(
        rid,
        kind,
        summary,
        details,
        modified,
        doc.get("published") if isinstance(doc.get("published"), str) else None,
        [a for a in doc.get("aliases") or [] if isinstance(a, str)],
        score,
        label,
        affected,
        refs,
        doc,
    )


@dataclass(frozen=True)
class Finding:
    advisory: str
    kind: str
    package: Package
    fixed: list[str]
    severity: str | None
    score: float | None
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.advisory,
            "kind": self.kind,
            "package": self.package.name,
            "version": self.package.version,
            "type": self.package.type,
            "purl": self.package.purl,
            "path": self.package.path,
            "fixed": self.fixed,
            "severity": self.severity,
            "score": self.score,
            "summary": self.summary,
        }


class Matcher:
    """Advisories indexed by (purl type, name): matching costs one dict lookup per package plus
    the version checks of the advisories about that name."""

    def __init__(self, advisories: Iterable[Advisory] = ()) -> None:
        self.index: dict[tuple[str, str], list[tuple[Advisory, Affected]]] = defaultdict(list)
        self.count = 0
        for a in advisories:
            self.add(a)

    def add(self, a: Advisory) -> None:
        if a.withdrawn:
            return
        self.count += 1
        for aff in a.affected:
            self.index[(aff.target.type, aff.target.name)].append((a, aff))

    def match(self, packages: Iterable[Package]) -> list[Finding]:
        out = []
        for p in packages:
            names = {normalize_name(p.type, p.name)}
            if p.source and p.type in ("deb", "apk", "rpm"):
                names.add(normalize_name(p.type, p.source))
            seen: set[str] = set()
            vkey: Any = False  # computed once per package, when a candidate needs it
            for n in names:
                for adv, aff in self.index.get((p.type, n), ()):
                    if adv.id in seen or not aff.target.applies_to_distro(p):
                        continue
                    if vkey is False:
                        try:
                            vkey = versions.key(p.type, p.version)
                        except ValueError:
                            vkey = None  # unorderable: only the listed versions can match
                    if p.version not in aff.versions and (vkey is None or not aff.affects(p.version, vkey)):
                        continue
                    seen.add(adv.id)
                    out.append(
                        Finding(
                            adv.id,
                            adv.kind,
                            p,
                            aff.fixed_after(p.version, vkey),
                            adv.severity,
                            adv.score,
                            adv.summary,
                        )
                    )
        return out
