"""SBOM documents: the CycloneDX 1.6 JSON sciregistry writes, and the SBOMs CI tools push.

Written (validated in the tests against the official CycloneDX 1.6 JSON schema)::

    {"bomFormat": "CycloneDX", "specVersion": "1.6", "serialNumber": "urn:uuid:...", "version": 1,
     "metadata": {"timestamp": "...", "tools": {"components": [{"type": "application",
                  "name": "sciregistry"}]},
                  "component": {"type": "container", "name": "lab/tool",
                                "version": "sha256:...", "bom-ref": "image"}},
     "components": [{"type": "library", "bom-ref": "pkg:deb/debian/zlib1g@1:1.2.13...",
                     "name": "zlib1g", "version": "1:1.2.13.dfsg-1", "purl": "pkg:deb/...",
                     "properties": [{"name": "sciregistry:package:path", "value": "var/lib/dpkg/status"},
                                    {"name": "sciregistry:package:type", "value": "deb"}, ...]}]}

Read: CycloneDX JSON (``components[].purl``, nested components too) and SPDX 2.x JSON
(``packages[].externalRefs`` of ``referenceType`` ``purl``), as syft and trivy write them. Packages
without a purl are skipped: nothing can be matched without one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from packageurl import PackageURL

from sciregistry.sbom.catalogue import Inventory, Package

CYCLONEDX = "application/vnd.cyclonedx+json"
SPDX = "application/spdx+json"
SBOM_TYPES = (CYCLONEDX, SPDX)
GENERATOR_ANNOTATION = "dev.sciregistry.sbom.generator"
MAX_SBOM = 64 << 20


class SbomError(ValueError):
    pass


def _props(p: Package) -> list[dict[str, str]]:
    out = [
        {"name": "sciregistry:package:path", "value": p.path},
        {"name": "sciregistry:package:type", "value": p.type},
    ]
    if p.source and p.source != p.name:
        out.append({"name": "sciregistry:package:source", "value": p.source})
    if p.namespace:
        out.append({"name": "sciregistry:package:namespace", "value": p.namespace})
    if p.distro:
        out.append({"name": "sciregistry:package:distro", "value": p.distro})
    if p.arch:
        out.append({"name": "sciregistry:package:arch", "value": p.arch})
    return out


def cyclonedx(inv: Inventory, *, repository: str, digest: str, timestamp: datetime | None = None) -> bytes:
    """The CycloneDX 1.6 JSON document of an image's inventory."""
    seen: set[str] = set()
    components = []
    for p in inv.packages:
        ref = p.purl if p.purl not in seen else f"{p.purl}#{p.path}"
        if ref in seen:
            continue
        seen.add(ref)
        components.append(
            {
                "type": "library",
                "bom-ref": ref,
                "name": p.name,
                "version": p.version,
                "purl": p.purl,
                "properties": _props(p),
            }
        )
    meta_props = [
        {"name": f"sciregistry:os-release:{k}", "value": v}
        for k, v in sorted(inv.distro.items())
        if k in ("ID", "VERSION_ID", "PRETTY_NAME")
    ]
    meta_props += [{"name": "sciregistry:note", "value": n} for n in inv.notes]
    doc: dict[str, Any] = {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "sciregistry"}]},
            "component": {"type": "container", "bom-ref": "image", "name": repository, "version": digest},
        },
        "components": components,
    }
    if meta_props:
        doc["metadata"]["properties"] = meta_props
    return json.dumps(doc, separators=(",", ":")).encode()


def _package_from_purl(purl: str, path: str) -> Package | None:
    try:
        p = PackageURL.from_string(purl)
    except ValueError:
        return None
    if not p.version:
        return None
    q = p.qualifiers if isinstance(p.qualifiers, dict) else {}
    name = f"{p.namespace}/{p.name}" if p.type == "npm" and p.namespace else p.name
    distro = q.get("distro")
    release = distro.split("-", 1)[1] if distro and "-" in distro else distro
    version = p.version
    if p.type == "rpm" and q.get("epoch"):
        version = f"{q['epoch']}:{version}"
    return Package(
        p.type,
        name,
        version,
        purl,
        path,
        source=q.get("upstream") or None,
        namespace=p.namespace if p.type in ("deb", "apk", "rpm") else None,
        distro=release,
        arch=q.get("arch"),
    )


def _cdx_components(items: Any) -> Iterator[dict[str, Any]]:
    for c in items or []:
        if isinstance(c, dict):
            yield c
            yield from _cdx_components(c.get("components"))


def read_sbom(data: bytes, label: str = "sbom") -> list[Package]:
    """Packages listed (with a purl) in a CycloneDX or SPDX JSON document; SbomError otherwise."""
    if len(data) > MAX_SBOM:
        raise SbomError(f"{label}: larger than {MAX_SBOM} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise SbomError(f"{label}: not JSON") from exc
    if not isinstance(doc, dict):
        raise SbomError(f"{label}: not a JSON object")
    out: list[Package] = []
    if doc.get("bomFormat") == "CycloneDX":
        for c in _cdx_components(doc.get("components")):
            props = {p.get("name"): p.get("value") for p in c.get("properties") or [] if isinstance(p, dict)}
            path = props.get("sciregistry:package:path") or props.get("syft:location:0:path") or label
            if isinstance(c.get("purl"), str) and (p := _package_from_purl(c["purl"], str(path))):
                out.append(p)
        return out
    if str(doc.get("spdxVersion", "")).startswith("SPDX-"):
        for pkg in doc.get("packages") or []:
            if not isinstance(pkg, dict):
                continue
            for ref in pkg.get("externalRefs") or []:
                if (
                    isinstance(ref, dict)
                    and ref.get("referenceType") == "purl"
                    and isinstance(ref.get("referenceLocator"), str)
                ):
                    p = _package_from_purl(ref["referenceLocator"], label)
                    if p is not None:
                        out.append(p)
                    break
        return out
    raise SbomError(f"{label}: neither CycloneDX nor SPDX JSON")
