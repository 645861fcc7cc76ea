"""Reviewer tokens: read-only, expiring, limited to one DOI's closure (its pinned manifests and blobs),
for results whose repositories are still private."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from landing.closure import Closure, build_closure, mint
from sqlalchemy import update

from sciregistry.db.models import ApiToken

from .support import basic, bearer, error_code, make_app, push_image

ADMIN_PW = "reviewer-admin-pw"


@dataclass
class Setup:
    app: Any
    client: Any
    closure: Closure
    doi: str
    other_doi: str
    secret: str
    token_id: str
    unpinned: Any


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    app = make_app(tmp_path_factory.mktemp("reviewer"), login_max_failures=10_000)
    acc = app.extensions["sciregistry"].accounts
    acc.create_user("admin", ADMIN_PW, admin=True)
    acc.create_user("olivia", "olivia-password")
    acc.create_namespace("lab", "olivia")  # private
    admin_client = app.test_client()
    admin_client.environ_base["HTTP_AUTHORIZATION"] = basic("admin", ADMIN_PW)["Authorization"]
    closure = build_closure(admin_client)
    doi = mint(admin_client, closure, title="Counts")["doi"]
    closure2 = build_closure(
        admin_client,
        tag="v2",
        seed="second",
        image_repo="lab/pipeline2",
        dataset_repo="lab/reads2",
        result_repo="lab/results2",
    )
    other = mint(admin_client, closure2, title="Other counts")["doi"]
    unpinned = push_image(admin_client, "lab/pipeline", "scratch", {}, salt="not in the closure")
    created = acc.create_token(reviewer_doi=doi, expires_in=14 * 86400)
    return Setup(app, app.test_client(), closure, doi, other, created.secret, created.info.id, unpinned)


def test_reviewer_token_listing(setup: Setup) -> None:
    acc = setup.app.extensions["sciregistry"].accounts
    info = next(t for t in acc.list_tokens() if t.id == setup.token_id)
    assert (info.kind, info.owner, info.doi, info.scopes) == ("reviewer", None, setup.doi, None)
    assert info.expires_at is not None
    left = dt.datetime.fromisoformat(info.expires_at) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=13, hours=23) < left <= dt.timedelta(days=14)


def test_reviewer_tokens_must_expire(setup: Setup) -> None:
    from sciregistry.errors import BadRequest

    acc = setup.app.extensions["sciregistry"].accounts
    with pytest.raises(BadRequest, match="must expire"):
        acc.create_token(reviewer_doi=setup.doi)
    with pytest.raises(BadRequest, match="scope"):
        acc.create_token(reviewer_doi=setup.doi, expires_in=60, scopes=["repository:*:pull"])


def test_anonymous_cannot_see_the_private_closure(setup: Setup) -> None:
    c = setup.client
    assert c.get(f"/v2/lab/results/manifests/{setup.closure.result.digest}").status_code == 401
    assert c.get(f"/api/v1/dois/{setup.doi}").status_code == 401


def test_reviewer_reads_the_doi_and_its_closure(setup: Setup) -> None:
    c, h = setup.client, bearer(setup.secret)
    r = c.get(f"/api/v1/dois/{setup.doi}", headers=h)
    assert r.status_code == 200 and r.get_json()["doi"] == setup.doi
    r = c.get(f"/api/v1/dois/{setup.doi}/closure", headers=h)
    assert r.status_code == 200
    pins = r.get_json()["pins"]
    assert {(p["repository"], p["digest"]) for p in pins} >= {
        (m.repository, m.digest) for m in setup.closure.all_manifests()
    }
    for m in setup.closure.all_manifests():
        r = c.get(f"/v2/{m.repository}/manifests/{m.digest}", headers=h)
        assert r.status_code == 200, m
        assert r.data == m.content
    for repo, digest in setup.closure.all_blobs():
        assert c.head(f"/v2/{repo}/blobs/{digest}", headers=h).status_code == 200
    # a tag that resolves to a pinned manifest is fine
    r = c.get(f"/v2/lab/results/manifests/{setup.closure.result_tag}", headers=h)
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == setup.closure.result.digest


def test_reviewer_cannot_go_beyond_the_closure(setup: Setup) -> None:
    c, h = setup.client, bearer(setup.secret)
    r = c.get(f"/v2/lab/pipeline/manifests/{setup.unpinned.digest}", headers=h)
    assert (r.status_code, error_code(r)) == (404, "MANIFEST_UNKNOWN")
    r = c.get("/v2/lab/pipeline/manifests/scratch", headers=h)
    assert (r.status_code, error_code(r)) == (404, "MANIFEST_UNKNOWN")
    r = c.get(f"/v2/lab/pipeline/blobs/{setup.unpinned.layer_digest}", headers=h)
    assert (r.status_code, error_code(r)) == (404, "BLOB_UNKNOWN")
    r = c.get("/v2/lab/results/tags/list", headers=h)
    assert (r.status_code, error_code(r)) == (403, "DENIED")
    r = c.post("/v2/lab/results/blobs/uploads/", headers=h)
    assert (r.status_code, error_code(r)) == (403, "DENIED")
    r = c.delete(f"/v2/lab/results/manifests/{setup.closure.result.digest}", headers=h)
    assert (r.status_code, error_code(r)) == (403, "DENIED")
    r = c.get("/v2/lab/results2/tags/list", headers=h)  # the other DOI's repository
    assert (r.status_code, error_code(r)) == (404, "NAME_UNKNOWN")
    r = c.get(f"/api/v1/dois/{setup.other_doi}", headers=h)
    assert (r.status_code, error_code(r)) == (404, "NOT_FOUND")
    assert c.get("/v2/_catalog", headers=h).get_json() == {"repositories": []}


def test_reviewer_reads_the_run_lineage_and_crate_of_the_doi(setup: Setup) -> None:
    """reviewer-guide section 4: run show / lineage / pull --with-crate with only a reviewer token."""
    c, h = setup.client, bearer(setup.secret)
    result = setup.closure.result
    r = c.get(f"/api/v1/lineage/{result.repository}@{result.digest}", headers=h)
    assert r.status_code == 200, r.data
    node = r.get_json()
    run_id = node["produced_by"]["id"]
    assert node["downstream"] == []  # nothing outside the closure
    r = c.get(f"/api/v1/runs/{run_id}", headers=h)
    assert r.status_code == 200 and r.get_json()["result_digest"] == result.digest
    r = c.get(f"/v2/{result.repository}/referrers/{result.digest}", headers=h)
    assert r.status_code == 200
    assert setup.closure.crate.digest in {d["digest"] for d in r.get_json()["manifests"]}
    # ... but nothing about content the DOI does not pin
    r = c.get(f"/api/v1/lineage/lab/pipeline@{setup.unpinned.digest}", headers=h)
    assert r.status_code in (403, 404)
    assert "reviewer token" in r.get_json()["errors"][0]["message"] or r.status_code == 404
    r = c.get(f"/v2/lab/pipeline/referrers/{setup.unpinned.digest}", headers=h)
    assert (r.status_code, error_code(r)) == (404, "MANIFEST_UNKNOWN")
    r = c.get("/api/v1/runs?repository=lab/results", headers=h)
    assert r.status_code in (403, 404)


def test_reviewer_through_the_token_flow(setup: Setup) -> None:
    c = setup.client
    r = c.get(
        "/token?service=sciregistry&scope=repository:lab/results:pull,push,delete"
        "&scope=repository:lab/secret:pull",
        headers=basic("reviewer", setup.secret),
    )
    assert r.status_code == 200
    import jwt

    claims = jwt.decode(r.get_json()["token"], options={"verify_signature": False})
    assert claims["access"] == [{"type": "repository", "name": "lab/results", "actions": ["pull"]}]
    assert claims["doi"] == setup.doi and claims["tid"] == setup.token_id and claims["sub"] == "reviewer"
    h = bearer(r.get_json()["token"])
    assert c.get(f"/v2/lab/results/manifests/{setup.closure.result.digest}", headers=h).status_code == 200
    r = c.get(f"/v2/lab/results/manifests/{setup.closure.crate.digest}", headers=h)
    assert r.status_code == 200
    r = c.get("/v2/lab/results/tags/list", headers=h)
    assert (r.status_code, error_code(r)) == (403, "DENIED")


def test_expired_reviewer_token_is_refused(setup: Setup) -> None:
    acc = setup.app.extensions["sciregistry"].accounts
    created = acc.create_token(reviewer_doi=setup.doi, expires_in=3600)
    c, h = setup.client, bearer(created.secret)
    assert c.get(f"/api/v1/dois/{setup.doi}", headers=h).status_code == 200
    with setup.app.extensions["sciregistry"].engine.begin() as conn:
        conn.execute(
            update(ApiToken)
            .where(ApiToken.id == created.info.id)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    setup.app.extensions["sciregistry"].gate.clear_caches()  # as when the cache TTL has passed
    r = c.get(f"/api/v1/dois/{setup.doi}", headers=h)
    assert r.status_code == 401
    assert r.get_json()["errors"][0]["message"] == "token has expired"
    r = c.get(f"/v2/lab/results/manifests/{setup.closure.result.digest}", headers=h)
    assert (r.status_code, error_code(r)) == (401, "UNAUTHORIZED")
