"""The Docker token flow: challenges, GET/POST /token, the JWT's access claim, Basic on /v2,
brute-force throttling (429), and the audit log."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import jwt
import pytest

from sciregistry.auth import parse_challenge

from .support import basic, bearer, error_code, make_app, push_image

PW = {"admin": "token-admin-pw", "alice": "alice-password", "bob": "bob-password"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    app = make_app(tmp_path_factory.mktemp("tokenflow"), login_max_failures=10_000, token_ttl=600)
    acc = app.extensions["sciregistry"].accounts
    acc.create_user("admin", PW["admin"], admin=True)
    acc.create_user("alice", PW["alice"])
    acc.create_user("bob", PW["bob"])
    acc.create_namespace("lab", "alice")
    acc.grant("lab", "bob", "reader")
    acc.create_namespace("pub", "alice", public=True)
    c = app.test_client()
    push_image(c, "lab/x", "v1", basic("alice", PW["alice"]))
    push_image(c, "pub/x", "v1", basic("alice", PW["alice"]))
    return app


def _claims(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 200, resp.data
    body = resp.get_json()
    assert set(body) == {"token", "access_token", "expires_in", "issued_at"}
    assert body["token"] == body["access_token"]
    dt.datetime.strptime(body["issued_at"], "%Y-%m-%dT%H:%M:%SZ")
    return jwt.decode(body["token"], options={"verify_signature": False})  # type: ignore[no-any-return]


def test_challenge_points_at_the_token_endpoint(app: Any) -> None:
    r = app.test_client().get("/v2/lab/x/manifests/v1")
    assert r.status_code == 401
    ch = parse_challenge(r.headers["WWW-Authenticate"])
    assert ch.scheme == "bearer"
    assert ch.params == {
        "realm": "http://registry.test/token",
        "service": "sciregistry",
        "scope": "repository:lab/x:pull",
    }
    r = app.test_client().delete("/v2/lab/x/manifests/v1")
    assert parse_challenge(r.headers["WWW-Authenticate"]).params["scope"] == "repository:lab/x:delete"


def test_token_grants_what_the_principal_holds(app: Any) -> None:
    c = app.test_client()
    scope = (
        "scope=repository:lab/x:pull,push,delete&scope=repository:pub/x:pull,push"
        "&scope=repository:other/y:pull"
    )
    claims = _claims(c.get(f"/token?service=sciregistry&{scope}", headers=basic("bob", PW["bob"])))
    assert claims["sub"] == "bob" and claims["aud"] == "sciregistry" and claims["iss"] == "sciregistry"
    assert claims["exp"] - claims["iat"] == 600
    assert claims["access"] == [
        {"type": "repository", "name": "lab/x", "actions": ["pull"]},
        {"type": "repository", "name": "pub/x", "actions": ["pull"]},
    ]
    claims = _claims(c.get(f"/token?service=sciregistry&{scope}", headers=basic("alice", PW["alice"])))
    # every action held, not only those asked for (pub/x: pull,push asked, owner holds delete too)
    assert claims["access"] == [
        {"type": "repository", "name": "lab/x", "actions": ["pull", "push", "delete"]},
        {"type": "repository", "name": "pub/x", "actions": ["pull", "push", "delete"]},
    ]
    claims = _claims(c.get("/token?scope=repository:lab/x:pull", headers=basic("alice", PW["alice"])))
    assert claims["access"] == [
        {"type": "repository", "name": "lab/x", "actions": ["pull", "push", "delete"]}
    ]
    claims = _claims(c.get(f"/token?{scope}&scope=registry:catalog:*"))  # anonymous
    assert claims["sub"] == ""
    assert claims["access"] == [
        {"type": "repository", "name": "pub/x", "actions": ["pull"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]


def test_bearer_token_works_on_v2_and_anonymous_token_only_for_public(app: Any) -> None:
    c = app.test_client()
    tok = c.get("/token?scope=repository:lab/x:pull", headers=basic("bob", PW["bob"])).get_json()["token"]
    assert c.get("/v2/lab/x/manifests/v1", headers=bearer(tok)).status_code == 200
    assert c.get("/v2/", headers=bearer(tok)).status_code == 200
    anon = c.get("/token?scope=repository:pub/x:pull&scope=repository:lab/x:pull").get_json()["token"]
    assert c.get("/v2/pub/x/manifests/v1", headers=bearer(anon)).status_code == 200
    r = c.get("/v2/lab/x/manifests/v1", headers=bearer(anon))
    assert (r.status_code, error_code(r)) == (401, "UNAUTHORIZED")


def test_api_token_as_basic_password_and_bearer(app: Any) -> None:
    acc = app.extensions["sciregistry"].accounts
    created = acc.create_token(user="alice", scopes=["repository:lab/*:pull"], expires_in=120)
    c = app.test_client()
    claims = _claims(c.get("/token?scope=repository:lab/x:pull,push", headers=basic("alice", created.secret)))
    assert claims["access"] == [{"type": "repository", "name": "lab/x", "actions": ["pull"]}]
    assert claims["tid"] == created.info.id
    assert claims["exp"] - claims["iat"] <= 120  # never outlives the API token
    assert c.get("/v2/lab/x/tags/list", headers=bearer(created.secret)).status_code == 200
    r = c.post("/v2/lab/x/blobs/uploads/", headers=bearer(created.secret))
    assert (r.status_code, error_code(r)) == (403, "DENIED")


def test_post_token_password_grant(app: Any) -> None:
    c = app.test_client()
    r = c.post(
        "/token",
        data={
            "grant_type": "password",
            "username": "alice",
            "password": PW["alice"],
            "service": "sciregistry",
            "scope": "repository:lab/x:pull,push",
            "client_id": "docker",
        },
    )
    assert r.status_code == 200
    body = r.get_json()
    assert body["scope"] == "repository:lab/x:pull,push,delete"
    assert c.get("/v2/lab/x/manifests/v1", headers=bearer(body["access_token"])).status_code == 200
    r = c.post("/token", data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert (r.status_code, r.get_json()["error"]) == (400, "unsupported_grant_type")
    r = c.post("/token", data={"grant_type": "password", "username": "alice", "password": "wrong-password"})
    assert (r.status_code, error_code(r)) == (401, "UNAUTHORIZED")


def test_token_endpoint_errors(app: Any) -> None:
    c = app.test_client()
    r = c.get("/token?scope=repository:lab/x:pull", headers=basic("alice", "not-her-password"))
    assert (r.status_code, error_code(r)) == (401, "UNAUTHORIZED")
    assert r.headers["WWW-Authenticate"] == 'Basic realm="sciregistry",charset="UTF-8"'
    assert r.get_json()["errors"][0]["message"] == "invalid username or password"
    r = c.get("/token?scope=repository:lab/x:pull", headers=basic("nobody", "whatever-pw"))
    assert r.get_json()["errors"][0]["message"] == "invalid username or password"  # same as a wrong password
    r = c.get("/token?scope=repository:Not Valid:pull")
    assert (r.status_code, error_code(r)) == (400, "BAD_REQUEST")
    r = c.get("/token", headers={"Authorization": "Basic !!!"})
    assert r.status_code == 401


def test_revocation_ends_the_access_of_issued_jwts(app: Any) -> None:
    """A JWT outlives neither its API token nor its user: revoking or disabling is enough."""
    acc = app.extensions["sciregistry"].accounts
    c = app.test_client()
    created = acc.create_token(user="alice", scopes=["repository:lab/*:pull"], expires_in=3600)
    jwt_of_token = c.get(
        "/token?scope=repository:lab/x:pull", headers=basic("alice", created.secret)
    ).get_json()["token"]
    assert c.get("/v2/lab/x/tags/list", headers=bearer(jwt_of_token)).status_code == 200
    acc.revoke_token(created.info.id)
    r = c.get("/v2/lab/x/tags/list", headers=bearer(jwt_of_token))
    assert (r.status_code, error_code(r)) == (401, "UNAUTHORIZED")
    jwt_of_user = c.get("/token?scope=repository:lab/x:pull", headers=basic("alice", PW["alice"])).get_json()[
        "token"
    ]
    assert c.get("/v2/lab/x/tags/list", headers=bearer(jwt_of_user)).status_code == 200
    acc.set_disabled("alice")
    try:
        r = c.get("/v2/lab/x/tags/list", headers=bearer(jwt_of_user))
        assert (r.status_code, error_code(r)) == (401, "UNAUTHORIZED")
    finally:
        acc.set_disabled("alice", False)
    assert c.get("/v2/lab/x/tags/list", headers=bearer(jwt_of_user)).status_code == 200


def test_disabled_user_is_refused(app: Any) -> None:
    acc = app.extensions["sciregistry"].accounts
    acc.create_user("carol", "carol-password")
    c = app.test_client()
    assert c.get("/v2/", headers=basic("carol", "carol-password")).status_code == 200
    acc.set_disabled("carol")
    assert c.get("/v2/", headers=basic("carol", "carol-password")).status_code == 401
    assert c.get("/token", headers=basic("carol", "carol-password")).status_code == 401


def test_throttle_answers_429(tmp_path: Any) -> None:
    app = make_app(tmp_path, login_max_failures=3, login_window=60)
    acc = app.extensions["sciregistry"].accounts
    acc.create_user("dave", "dave-password")
    c = app.test_client()
    for _ in range(3):
        assert c.get("/token", headers=basic("dave", "guess-guess")).status_code == 401
    r = c.get("/token", headers=basic("dave", "dave-password"))  # even the right password: slowed down
    assert (r.status_code, error_code(r)) == (429, "TOOMANYREQUESTS")
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    r = c.get("/v2/", headers=basic("dave", "guess-again"))
    assert (r.status_code, error_code(r)) == (429, "TOOMANYREQUESTS")
    # the per-user counter also stops guesses from other addresses
    r = c.get("/v2/", headers=basic("dave", "guess-4"), environ_base={"REMOTE_ADDR": "127.0.0.9"})
    assert r.status_code == 429
    # another user from another address is not affected
    acc.create_user("erin", "erin-password")
    r = c.get("/v2/", headers=basic("erin", "erin-password"), environ_base={"REMOTE_ADDR": "127.0.0.10"})
    assert r.status_code == 200
    log = acc.audit_log(20, action="auth.failure")
    reasons: dict[str, int] = {}
    for e in log:  # repeats from one address are folded into one row (#10: bounded audit growth)
        reasons[e.detail["reason"]] = reasons.get(e.detail["reason"], 0) + e.detail.get("repeats", 1)
    assert reasons["bad-password"] == 3 and reasons["throttled"] == 3
    assert {e.target for e in log} == {"user:dave"}


def test_audit_log_records_writes_and_failures(app: Any) -> None:
    acc = app.extensions["sciregistry"].accounts
    c = app.test_client()
    img = push_image(c, "lab/audited", "v7", basic("alice", PW["alice"]), salt="audit")
    r = c.delete(f"/v2/lab/audited/manifests/{img.digest}", headers=basic("bob", PW["bob"]))
    assert r.status_code == 403
    r = c.delete(f"/v2/lab/audited/manifests/{img.digest}", headers=basic("alice", PW["alice"]))
    assert r.status_code == 202
    c.get("/v2/", headers=basic("alice", "Wrong-Password-123"), environ_base={"REMOTE_ADDR": "127.0.0.7"})
    entries = acc.audit_log(8)
    got = [(e.principal, e.action, e.target, e.outcome) for e in reversed(entries)]
    assert got[-6:] == [
        ("alice", "blob.push", f"lab/audited@{img.config_digest}", "ok"),
        ("alice", "blob.push", f"lab/audited@{img.layer_digest}", "ok"),
        ("alice", "manifest.push", f"lab/audited@{img.digest}", "ok"),
        ("bob", "access.delete", "lab/audited", "denied"),
        ("alice", "manifest.delete", f"lab/audited@{img.digest}", "ok"),
        ("unauthenticated", "auth.failure", "user:alice", "failure"),
    ]
    assert entries[0].address == "127.0.0.7" and entries[1].address == "127.0.0.1"
    assert entries[3].detail == {"status": 201, "tag": "v7"}
    assert dt.datetime.fromisoformat(entries[0].at) <= dt.datetime.now(dt.UTC)


def test_require_admin(app: Any) -> None:
    c = app.test_client()
    assert c.post("/api/v1/gc?dry_run=true").status_code == 401
    r = c.post("/api/v1/gc?dry_run=true", headers=basic("alice", PW["alice"]))
    assert (r.status_code, error_code(r)) == (403, "DENIED")
    assert c.post("/api/v1/gc?dry_run=true", headers=basic("admin", PW["admin"])).status_code == 200


def test_audit_is_keyed_on_the_route_and_method(app: Any) -> None:
    """Every audited (route, method) of the route table, and what is not audited: an opened upload
    session (202), its chunks (PATCH), reads, refused requests."""
    acc = app.extensions["sciregistry"].accounts
    c = app.test_client()
    h = basic("alice", PW["alice"])
    img = push_image(c, "lab/routes-a", "t1", h, salt="routes")
    before = len(acc.audit_log(1000))
    # chunked upload: POST (202, not audited), PATCH (not audited), PUT (blob.push)
    data = b"chunked blob of the audit test"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = c.post("/v2/lab/routes-a/blobs/uploads/", headers=h)
    assert r.status_code == 202
    loc = r.headers["Location"]
    assert (
        c.patch(loc, data=data, headers={**h, "Content-Type": "application/octet-stream"}).status_code == 202
    )
    assert c.put(f"{loc}?digest={digest}", headers=h).status_code == 201
    # an upload cancelled
    loc2 = c.post("/v2/lab/routes-a/blobs/uploads", headers=h).headers["Location"]
    assert c.delete(loc2, headers=h).status_code == 204
    # a mount from another repository, a blob deleted, a manifest deleted by tag
    r = c.post(f"/v2/lab/routes-b/blobs/uploads/?mount={img.layer_digest}&from=lab/routes-a", headers=h)
    assert r.status_code == 201
    assert c.delete(f"/v2/lab/routes-b/blobs/{img.layer_digest}", headers=h).status_code == 202
    assert c.get(f"/v2/lab/routes-a/manifests/{img.digest}", headers=h).status_code == 200  # a read
    assert c.delete("/v2/lab/routes-a/manifests/nope", headers=h).status_code >= 400  # refused
    entries = list(reversed(acc.audit_log(1000)))[before:]
    got = [(e.action, e.target, e.detail) for e in entries]
    upload_id = loc2.rsplit("/", 1)[1]
    assert got == [
        ("blob.push", f"lab/routes-a@{digest}", {"status": 201}),
        ("upload.cancel", "lab/routes-a", {"status": 204}),
        ("blob.mount", f"lab/routes-b@{img.layer_digest}", {"status": 201, "from": "lab/routes-a"}),
        ("blob.delete", f"lab/routes-b@{img.layer_digest}", {"status": 202}),
    ], upload_id
