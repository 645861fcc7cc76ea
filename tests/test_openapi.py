"""The OpenAPI document is the /api/v1 contract: it lists exactly the routes that exist, the package
carries it byte for byte, the server serves it self-contained, and every request is checked against it
(a request it forbids gets 400 naming the parameter; one it allows is never refused for its shape)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DIGEST = "sha256:" + "ab" * 32


def _flask_routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    out = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or rule.rule.startswith("/api/v1/docs"):
            continue  # the viewer's HTML and assets are not part of the JSON API
        path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            out.add((path, method.lower()))
    return out


def test_openapi_matches_routes(tmp_path: Path) -> None:
    from sciregistry.app import create_app

    app = create_app({"data_dir": str(tmp_path), "auth_enabled": False})
    doc = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    documented = {
        (path, method) for path, ops in doc["paths"].items() for method in ops if method != "parameters"
    }
    assert documented == _flask_routes(app)
    assert doc["openapi"].startswith("3.1")


def test_openapi_schema_refs_exist() -> None:
    text = (ROOT / "docs" / "openapi.yaml").read_text()
    for ref in re.findall(r'\$ref: "\.\./([^"]+)"', text):
        assert (ROOT / ref).is_file(), ref


def test_package_carries_the_document_byte_for_byte() -> None:
    packaged = ROOT / "sciregistry" / "data" / "openapi" / "openapi.yaml"
    assert packaged.read_bytes() == (ROOT / "docs" / "openapi.yaml").read_bytes(), (
        "run: cp docs/openapi.yaml sciregistry/data/openapi/openapi.yaml"
    )


def test_bundled_document_is_self_contained_and_valid_openapi_31() -> None:
    from openapi_spec_validator import validate

    from sciregistry.api.ext.contract import bundled_document

    doc = bundled_document()
    refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(doc))
    assert refs and all(r.startswith("#/") for r in refs), [r for r in refs if not r.startswith("#/")]
    for ref in set(refs):  # every pointer lands somewhere
        node = doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    assert {"Run", "RunList", "Lineage", "Impact", "Error"} <= set(doc["components"]["schemas"])
    validate(doc)


def test_every_operation_documents_its_error_statuses() -> None:
    doc = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path == "/api/v1/openapi.json":
                continue
            statuses = set(op["responses"])
            assert {"400", "401", "429", "503"} <= statuses, (method, path, statuses)
            if method == "post" and "requestBody" in op:
                assert {"413", "415"} <= statuses, (method, path)


# --- the server checks requests against the document ----------------------------------------------


@pytest.fixture
def api(client):  # type: ignore[no-untyped-def]
    return client


def _error(resp) -> str:  # type: ignore[no-untyped-def]
    body = resp.get_json()
    assert set(body) == {"errors"} and body["errors"][0]["code"], body
    return body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("/api/v1/runs?limit=0", "'limit': 0 is less than the minimum of 1"),
        ("/api/v1/runs?limit=1001", "'limit': 1001 is greater than the maximum of 1000"),
        ("/api/v1/runs?limit=ten", "'limit' must be an integer"),
        ("/api/v1/runs?limit=5&limit=6", "'limit' is given more than once"),
        ("/api/v1/runs?image=sha256:abc", "'image'"),
        ("/api/v1/runs?repository=Bad//Name", "'repository'"),
        ("/api/v1/runs?started_after=2026-01-01", "started_after must be an RFC 3339 date-time"),
        ("/api/v1/runs?started_after=2026-02-30T00:00:00Z", "started_after is not a valid date-time"),
        ("/api/v1/dois?limit=-1", "'limit'"),
        ("/api/v1/impact/0", "path parameter 'ref'"),
        ("/api/v1/lineage/lab/x@sha256:short", "path parameter 'ref'"),
        ("/api/v1/dois/0/0", "path parameter 'prefix'"),
        ("/api/v1/dois/10.5072/a%20b/closure", "path parameter 'suffix'"),
    ],
)
def test_requests_the_document_forbids_get_400_naming_the_parameter(api, url: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    resp = api.get(url)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert fragment in _error(resp)


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/impact/{DIGEST}",
        f"/api/v1/impact/lab/x@{DIGEST}",
        f"/api/v1/lineage/lab/x@{DIGEST}",
        "/api/v1/dois/10.5072/zzzz-zzzz",
        "/api/v1/dois/10.5072/zzzz-zzzz/closure",
        "/api/v1/runs/7",
    ],
)
def test_requests_the_document_allows_are_never_refused_for_their_shape(api, url: str) -> None:  # type: ignore[no-untyped-def]
    assert api.get(url).status_code in (200, 404)


def test_value_alone_searches_every_parameter(api) -> None:  # type: ignore[no-untyped-def]
    resp = api.get("/api/v1/runs?value=demo")
    assert resp.status_code == 200 and resp.get_json() == {"items": [], "next": None}
    assert api.get("/api/v1/runs?value=").status_code == 200


def test_post_bodies_are_checked(api) -> None:  # type: ignore[no-untyped-def]
    resp = api.post("/api/v1/dois", data="reference=x", content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 415
    resp = api.post("/api/v1/dois", data="{not json", content_type="application/json")
    assert resp.status_code == 400 and "not valid JSON" in _error(resp)
    resp = api.post("/api/v1/dois", json={"reference": f"lab/x@{DIGEST}", "colour": "red"})
    assert resp.status_code == 400 and "colour" in _error(resp)
    resp = api.post("/api/v1/dois", json={"reference": f"lab/x@{DIGEST}", "creators": [{"orcid": "x"}]})
    assert resp.status_code == 400 and "body.creators[0]" in _error(resp)
    resp = api.post("/api/v1/dois", json={"reference": f"lab/x@{DIGEST}", "title": "A result"})
    assert resp.status_code == 404  # schema-valid, names a repository that does not exist
    resp = api.post("/api/v1/dois", data=b"{" + b" " * (1 << 20) + b"}", content_type="application/json")
    assert resp.status_code == 413
    resp = api.post("/api/v1/dois/10.5072/zzzz-zzzz/tombstone", json={"reason": "   "})
    assert resp.status_code == 400 and "body.reason" in _error(resp)
    resp = api.post("/api/v1/dois/10.5072/zzzz-zzzz/tombstone", json={"reason": "retracted"})
    assert resp.status_code == 404


def test_gc_query_booleans_are_true_or_false(api) -> None:  # type: ignore[no-untyped-def]
    resp = api.post("/api/v1/gc?dry_run=null")
    assert resp.status_code == 400 and "'dry_run' must be true or false" in _error(resp)
    resp = api.post("/api/v1/gc?dry_run=true&delete_untagged=false")
    assert resp.status_code == 200 and resp.get_json()["dry_run"] is True


@pytest.mark.parametrize("method", ["TRACE", "PUT", "DELETE", "PATCH"])
def test_undeclared_methods_get_405_with_allow(api, method: str) -> None:  # type: ignore[no-untyped-def]
    resp = api.open("/api/v1/runs", method=method)
    assert resp.status_code == 405
    assert set(resp.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD", "OPTIONS"}
    assert resp.mimetype == "application/json" and resp.get_json()["errors"]


def test_served_document_and_viewer_are_local(api) -> None:  # type: ignore[no-untyped-def]
    from sciregistry.api.ext.contract import bundled_document

    resp = api.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    served = resp.get_json()
    assert served.pop("servers") == [{"url": "/", "description": "this registry"}]
    assert served == {k: v for k, v in bundled_document().items() if k != "servers"}
    page = api.get("/api/v1/docs/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and not [a for a in assets if "//" in a and not a.startswith("../")], assets
    for asset in assets:
        if asset.startswith("../"):
            continue
        got = api.get(f"/api/v1/docs/{asset}")
        assert got.status_code == 200 and len(got.get_data()) > 100, asset
    assert api.get("/api/v1/docs/../../v2/").status_code in (200, 401, 404)
    assert api.get("/api/v1/docs/secret.py").status_code == 404


def test_text_no_database_can_store_is_refused_up_front(api) -> None:  # type: ignore[no-untyped-def]
    """NUL characters and unpaired surrogates: PostgreSQL refuses both (a 500 before the contract)."""
    assert api.get("/api/v1/runs?parameter=k%00").status_code == 400
    resp = api.post(
        "/api/v1/dois/10.5072/zzzz-zzzz/tombstone",
        data='{"reason": "bad \\ud800 text"}',
        content_type="application/json",
    )
    assert resp.status_code == 400 and "surrogate" in _error(resp)
    resp = api.post("/api/v1/dois/10.5072/zzzz-zzzz/tombstone", json={"reason": "nul \x00 inside"})
    assert resp.status_code == 400 and "body.reason" in _error(resp)
    assert api.get("/api/v1/runs/9223372036854775806").status_code == 404  # beyond a 32-bit id: no such run
    assert api.get("/api/v1/runs?cursor=9223372036854775806").status_code == 200
    assert api.get(f"/api/v1/impact/{DIGEST}?cursor=9223372036854775806").status_code == 200
