"""Versions (concept DOI redirect, previous/next links) and tombstones on the landing page."""

from __future__ import annotations

from typing import Any

from sciregistry.api.landing.negotiation import parse_links
from sciregistry.doi import validate_metadata

from .closure import build_closure, mint
from .conftest import BASE_URL, HOST

DATACITE = "application/vnd.datacite.datacite+json"


def _rels(resp: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for link in parse_links(resp.headers["Link"]):
        out.setdefault(link.rel, []).append(link.target)
    return out


def test_versions_concept_redirect_and_tombstone(fresh_app: Any) -> None:
    client = fresh_app.test_client()
    c1 = build_closure(client, host=HOST, tag="v1", seed="first")
    v1 = mint(client, c1, title="Counts")["doi"]
    c2 = build_closure(client, host=HOST, tag="v2", seed="second")
    rec2 = mint(client, c2, title="Counts, corrected", supersedes=v1)
    v2, concept = rec2["doi"], rec2["concept_doi"]
    assert concept and concept not in (v1, v2)

    # concept DOI: HTML redirects to the latest version, metadata formats answer for the concept
    resp = client.get(f"/doi/{concept}", headers={"Accept": "text/html"})
    assert resp.status_code == 302
    assert resp.headers["Location"] == f"{BASE_URL}/doi/{v2}"
    assert _rels(resp)["cite-as"] == [f"{BASE_URL}/doi/{concept}"]  # a local DOI: its own landing page
    resp = client.get(f"/doi/{concept}", headers={"Accept": DATACITE})
    assert resp.status_code == 200
    doc = resp.get_json(force=True)
    assert doc["doi"] == concept
    assert validate_metadata(doc) == []
    assert sorted(
        r["relatedIdentifier"] for r in doc["relatedIdentifiers"] if r["relationType"] == "HasVersion"
    ) == sorted([v1, v2])
    # the concept's RO-Crate is its latest version's
    resp = client.get(f"/doi/{concept}", headers={"Accept": "application/ld+json"})
    assert resp.get_data() == c2.crate_bytes

    # version pages link previous / next / concept
    page2 = client.get(f"/doi/{v2}").get_data(as_text=True)
    assert f'<a href="{BASE_URL}/doi/{v1}" rel="prev">' in page2
    assert f'<a href="{BASE_URL}/doi/{concept}">{concept}</a> (concept DOI' in page2
    assert f"<strong>{v2}</strong> (this version)" in page2
    page1_resp = client.get(f"/doi/{v1}")
    page1 = page1_resp.get_data(as_text=True)
    assert f'<a href="{BASE_URL}/doi/{v2}" rel="next">' in page1
    rels1 = _rels(page1_resp)
    assert rels1["successor-version"] == [f"{BASE_URL}/doi/{v2}"]
    assert rels1["latest-version"] == [f"{BASE_URL}/doi/{v2}"]
    assert _rels(client.get(f"/doi/{v2}"))["predecessor-version"] == [f"{BASE_URL}/doi/{v1}"]

    # withdraw v2: 200 tombstone page with the reason, no download links, no item links
    resp = client.post(f"/api/v1/dois/{v2}/tombstone", json={"reason": "Sample swap in lane 3"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    resp = client.get(f"/doi/{v2}", headers={"Accept": "text/html"})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "This DOI has been withdrawn" in html
    assert "<p>Reason: Sample swap in lane 3</p>" in html
    assert "/blobs/" not in html
    assert "sciregistry reproduce" not in html
    assert f'href="{BASE_URL}/doi/{v2}?format=ro-crate"' not in html
    for f in c2.outputs:
        assert f.sha256 not in html
    rels = _rels(resp)
    assert "item" not in rels
    assert rels["cite-as"] == [f"{BASE_URL}/doi/{v2}"]
    assert f"{BASE_URL}/doi/{v2}?format=ro-crate" not in rels["describedby"]
    crate = client.get(f"/doi/{v2}", headers={"Accept": "application/ld+json"})
    assert crate.status_code == 410
    assert crate.get_json(force=True)["errors"][0]["message"] == (
        f"DOI {v2} is withdrawn: its run crate is no longer offered (reason: Sample swap in lane 3)"
    )
    doc = client.get(f"/doi/{v2}", headers={"Accept": DATACITE}).get_json(force=True)
    withdrawn = [d for d in doc["dates"] if d["dateType"] == "Withdrawn"]
    assert len(withdrawn) == 1 and withdrawn[0]["dateInformation"] == "Sample swap in lane 3"
    assert validate_metadata(doc) == []

    # the concept now leads to the newest version that is still findable
    resp = client.get(f"/doi/{concept}")
    assert resp.status_code == 302
    assert resp.headers["Location"] == f"{BASE_URL}/doi/{v1}"
