"""Scanning in the registry: the queue, findings, SBOM and report referrers, rescans, impact,
scientific advisories on DOI landing pages and DataCite metadata, authorization, bad layers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sciregistry.api.gate import OpenGate
from sciregistry.doi.validation import validate_metadata
from sciregistry.errors import NotFound
from sciregistry.registry.vulns import REPORT_TYPE, iter_osv
from tests.vuln.conftest import DATA, World, conforms, push_real_image, records
from tests.vuln.images import tar_layer

BASE = [
    "pypa/PYSEC-2019-220.json",
    "pypa/PYSEC-2021-66.json",
    "distro/DSA-0000-openssl.json",
    "distro/ALPINE-0000-busybox.json",
]


def findings(world: World, repo: str, digest: str) -> dict[str, Any]:
    resp = world.client.get(f"/api/v1/images/{repo}@{digest}/vulnerabilities")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    conforms(resp.get_json(), "ImageVulnerabilities")
    [image] = resp.get_json()["images"]
    return image


def ids(image: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(f["id"], f["package"], f["version"]) for f in image["findings"]}


def test_push_queues_then_worker_scans(world: World) -> None:
    img = world.debian.image
    before = findings(world, img.repository, img.digest)
    assert before["state"] == "queued" and before["findings"] == []  # the push did not wait for a scan
    world.vulns.import_records(records(*BASE))
    assert world.vulns.drain() >= 2
    image = findings(world, img.repository, img.digest)
    assert image["state"] == "done" and image["error"] is None
    assert ids(image) == {
        ("PYSEC-2021-66", "Jinja2", "2.10"),
        ("TEST-DEB-2023-0001", "libssl3", "3.0.11-1~deb12u1"),
    }
    deb = next(f for f in image["findings"] if f["id"] == "TEST-DEB-2023-0001")
    assert deb["severity"] == "CRITICAL" and deb["score"] == 9.8 and deb["fixed"] == ["3.0.11-1~deb12u2"]
    assert deb["path"] == "var/lib/dpkg/status"
    jinja = next(f for f in image["findings"] if f["id"] == "PYSEC-2021-66")
    assert jinja["path"] == "usr/lib/python3/dist-packages/jinja2-2.10.dist-info/METADATA"
    assert jinja["fixed"] == ["2.11.3"]
    alp = findings(world, world.alpine.image.repository, world.alpine.image.digest)
    assert ids(alp) == {("TEST-ALPINE-2023-0001", "busybox", "1.36.1-r2")}


def test_sbom_and_report_are_referrers(world: World) -> None:
    world.vulns.import_records(records(*BASE))
    world.vulns.drain()
    img = world.debian.image
    resp = world.client.get(
        f"/v2/{img.repository}/referrers/{img.digest}?artifactType=application/vnd.cyclonedx%2Bjson"
    )
    [desc] = resp.get_json()["manifests"]
    manifest = world.client.get(f"/v2/{img.repository}/manifests/{desc['digest']}").get_json()
    sbom = world.client.get(f"/v2/{img.repository}/blobs/{manifest['layers'][0]['digest']}").get_data()
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(sbom.decode()) is None  # official 1.6 schema
    purls = {c["purl"] for c in json.loads(sbom)["components"]}
    assert "pkg:conda/samtools@1.17?build=h1234_0&channel=bioconda&subdir=linux-64" in purls
    resp = world.client.get(
        f"/v2/{img.repository}/referrers/{img.digest}?artifactType={REPORT_TYPE.replace('+', '%2B')}"
    )
    [rep] = resp.get_json()["manifests"]
    layer = world.client.get(f"/v2/{img.repository}/manifests/{rep['digest']}").get_json()["layers"][0]
    report = json.loads(world.client.get(f"/v2/{img.repository}/blobs/{layer['digest']}").get_data())
    assert {f["id"] for f in report["findings"]} == {"PYSEC-2021-66", "TEST-DEB-2023-0001"}
    assert report["sbom"]["source"] == "catalogue"
    # a rescan replaces the report (one current report per image, not one per scan)
    world.vulns.import_records(records("pypa/PYSEC-2023-192.json"))
    world.vulns.drain()
    resp = world.client.get(
        f"/v2/{img.repository}/referrers/{img.digest}?artifactType={REPORT_TYPE.replace('+', '%2B')}"
    )
    assert len(resp.get_json()["manifests"]) == 1


def test_rescan_after_import_finds_new_record(world: World) -> None:
    world.vulns.import_records(records(*BASE))
    world.vulns.drain()
    img = world.debian.image
    assert not any(
        f["id"] == "PYSEC-2023-192" for f in findings(world, img.repository, img.digest)["findings"]
    )
    report = world.vulns.import_records(iter_osv(DATA / "pypa"))  # a directory, as OSV exports it
    assert report.imported == 1 and report.unchanged == 2 and report.requeued == 2
    assert findings(world, img.repository, img.digest)["state"] == "queued"
    world.vulns.drain()
    image = findings(world, img.repository, img.digest)
    urllib3 = next(f for f in image["findings"] if f["id"] == "PYSEC-2023-192")
    assert (urllib3["version"], urllib3["severity"], urllib3["fixed"]) == (
        "1.26.5",
        "HIGH",
        ["1.26.17", "2.0.6"],
    )


def test_ci_sbom_is_used_instead_of_cataloguing(world: World) -> None:
    from tests.landing.closure import File, push_artifact

    img = world.debian.image
    cdx = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "components": [
            {"type": "library", "name": "jinja2", "version": "2.8", "purl": "pkg:pypi/jinja2@2.8"}
        ],
    }
    push_artifact(
        world.client,
        img.repository,
        None,
        "application/vnd.cyclonedx+json",
        [File("sbom.cdx.json", json.dumps(cdx).encode(), "application/vnd.cyclonedx+json")],
        subject=img,
    )
    world.vulns.import_records(records(*BASE))
    world.vulns.drain()
    image = findings(world, img.repository, img.digest)
    assert image["sbom"]["source"].startswith("referrer sha256:")
    assert ids(image) == {("PYSEC-2019-220", "jinja2", "2.8"), ("PYSEC-2021-66", "jinja2", "2.8")}


def test_bad_layers_are_a_per_image_scan_error(world: World) -> None:
    bomb = tar_layer([("a/" * 300 + "f", "x")], compress=True)
    bad = push_real_image(
        world.client, "lab/broken", "v1", [tar_layer([("etc/os-release", "ID=debian\n")]), bomb]
    )
    corrupt = push_real_image(world.client, "lab/broken", "v2", [b"\x1f\x8b\x08\x00garbage-not-gzip" * 10])
    world.vulns.import_records(records(*BASE))
    world.vulns.drain()
    assert "deeper than" in findings(world, "lab/broken", bad.digest)["error"]
    assert "corrupt compressed stream" in findings(world, "lab/broken", corrupt.digest)["error"]
    # the other images were scanned all the same
    assert findings(world, world.debian.image.repository, world.debian.image.digest)["state"] == "done"


def test_correctness_advisory_on_the_right_doi(world: World) -> None:
    world.vulns.import_records(records(*BASE))
    world.vulns.drain()
    adv, _ = world.vulns.publish_advisory(
        "advisory-samtools.json", (DATA / "advisory-samtools.json").read_bytes()
    )
    assert adv["kind"] == "correctness"
    world.vulns.drain()
    page = world.client.get(f"/doi/{world.debian_doi}").get_data(as_text=True)
    assert "Scientific advisory SCIREG-2026-0001" in page and "samtools 1.17" in page
    assert "Fixed in 1.18" in page and "2026-11-30" in page
    other = world.client.get(f"/doi/{world.alpine_doi}").get_data(as_text=True)
    assert "SCIREG-2026-0001" not in other and "Scientific advisory" not in other
    attrs = world.client.get(f"/doi/{world.debian_doi}?format=datacite").get_json()
    tech = [d["description"] for d in attrs["descriptions"] if d["descriptionType"] == "TechnicalInfo"]
    assert any("Advisory SCIREG-2026-0001 (correctness)" in t and "Fixed in 1.18" in t for t in tech)
    rel = [
        r
        for r in attrs["relatedIdentifiers"]
        if r["relatedIdentifier"].endswith("/api/v1/advisories/SCIREG-2026-0001")
    ]
    assert rel and rel[0]["relationType"] == "IsReviewedBy"
    assert validate_metadata(attrs) == []  # DataCite 4.5 schema and our rules
    # stored too (what the minter was sent), not only rendered
    stored = world.client.get(f"/api/v1/dois/{world.debian_doi}").get_json()
    conforms(stored, "Doi")
    conforms(world.client.get("/api/v1/advisories/SCIREG-2026-0001").get_json(), "Advisory")
    conforms(world.client.get("/api/v1/advisories/SCIREG-2026-0001/affected").get_json(), "Affected")
    conforms(world.client.get("/api/v1/vulndb").get_json(), "VulnDbStatus")
    assert any("SCIREG-2026-0001" in d["description"] for d in stored["metadata"]["descriptions"])
    assert [a["id"] for a in stored["advisories"]] == ["SCIREG-2026-0001"]
    other_attrs = world.client.get(f"/doi/{world.alpine_doi}?format=datacite").get_json()
    assert "SCIREG-2026-0001" not in json.dumps(other_attrs)
    authors = world.vulns.authors("SCIREG-2026-0001")
    assert [a["doi"] for a in authors] == [world.debian_doi]
    assert authors[0]["agent"]["name"] == "Ada Lovelace"


def test_affected_follows_impact_to_dois(world: World) -> None:
    world.vulns.import_records(records(*BASE))
    world.vulns.drain()
    doc = world.client.get("/api/v1/vulnerabilities/PYSEC-2021-66/affected").get_json()
    conforms(doc, "Affected")
    conforms(world.client.get("/api/v1/vulnerabilities/PYSEC-2021-66").get_json(), "Advisory")
    assert [(i["repository"], i["digest"]) for i in doc["images"]] == [
        (world.debian.image.repository, world.debian.image.digest)
    ]
    assert doc["images"][0]["packages"][0]["path"].endswith("jinja2-2.10.dist-info/METADATA")
    assert [r["result_digest"] for r in doc["runs"]] == [world.debian.result.digest]
    assert [d["doi"] for d in doc["dois"]] == [world.debian_doi]
    assert world.client.get("/api/v1/vulnerabilities/NOPE-1/affected").status_code == 404
    assert world.client.get("/api/v1/vulnerabilities/bad%20id/affected").status_code == 400


class HidingGate(OpenGate):
    """A caller who cannot read ``hidden`` (a private repository)."""

    def __init__(self, hidden: set[str]) -> None:
        self.hidden = hidden

    def can_read(self, repository: str) -> bool:
        return repository not in self.hidden

    def authorize(self, repository: str | None, action: str, *, hide: bool = False, **kw: Any) -> None:
        if repository in self.hidden:
            raise NotFound(f"repository {repository} not found")


def test_private_findings_are_invisible(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.vulns.import_records(records(*BASE))
    world.vulns.drain()
    svc = world.app.extensions["sciregistry"]
    monkeypatch.setattr(
        svc, "gate", HidingGate({world.debian.image.repository, world.debian.result.repository})
    )
    img = world.debian.image
    assert (
        world.client.get(f"/api/v1/images/{img.repository}@{img.digest}/vulnerabilities").status_code == 404
    )
    doc = world.client.get("/api/v1/vulnerabilities/PYSEC-2021-66/affected").get_json()
    assert doc["images"] == [] and doc["runs"] == [] and doc["dois"] == []
    monkeypatch.setattr(svc, "gate", HidingGate(set()))
    assert world.client.get("/api/v1/vulnerabilities/PYSEC-2021-66/affected").get_json()["dois"]


def test_mint_policy_refuses_and_admin_overrides(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.landing.closure import build_closure, mint

    audit: list[dict[str, Any]] = []
    monkeypatch.setattr(world.app.extensions["sciregistry"], "audit_sink", lambda **kw: audit.append(kw))

    world.vulns.import_records(records(*BASE))
    world.vulns.publish_advisory("advisory-samtools.json", (DATA / "advisory-samtools.json").read_bytes())
    world.vulns.drain()
    assert world.vulns.set_policy("lab", block_critical=True, block_correctness=True)
    # a second result computed with the same (Debian + samtools 1.17) image
    second = build_closure(world.client, tag="d2", seed="deb-2", image_repo="lab/pipeline")
    assert second.image.digest == world.debian.image.digest
    resp = world.client.post("/api/v1/dois", json={"reference": f"{second.host}/{second.result_ref}"})
    assert resp.status_code == 403
    err = resp.get_json()["errors"][0]
    assert err["code"] == "DENIED" and "policy of namespace lab" in err["message"]
    assert any(p.startswith("correctness advisory SCIREG-2026-0001") for p in err["detail"]["problems"])
    assert any(p.startswith("critical vulnerability TEST-DEB-2023-0001") for p in err["detail"]["problems"])
    resp = world.client.post(
        "/api/v1/dois", json={"reference": f"{second.host}/{second.result_ref}", "override_policy": ""}
    )
    assert resp.status_code == 400  # the contract: a reason is at least one character
    resp = world.client.post(
        "/api/v1/dois", json={"reference": f"{second.host}/{second.result_ref}", "override_policy": "   "}
    )
    assert resp.status_code == 403  # a blank reason is no override
    record = mint(world.client, second, override_policy="erratum does not apply: no supplementary alignments")
    [override] = [a for a in audit if a["action"] == "doi.policy_override"]
    assert override["detail"]["reason"].startswith("erratum does not apply")
    assert override["target"] == second.result_ref and override["detail"]["problems"]
    assert record["doi"]
    # other namespaces are not affected, and lifting the policy allows minting again
    world.vulns.set_policy("lab", block_critical=False, block_correctness=False)
    third = build_closure(world.client, tag="d3", seed="deb-3", image_repo="lab/pipeline")
    assert mint(world.client, third)["doi"]
