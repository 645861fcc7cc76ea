"""Every principal against every /v2 operation, with the exact status and error code of each cell.

The repository under test is ``lab/data`` in the private namespace ``lab``: olivia owns it, wendy
writes, rita reads, oscar has no role; the robot ``lab+ci`` is a writer whose token is limited to
``repository:lab/*:pull,push``. Cells:

    2xx   the operation's success status          401   UNAUTHORIZED (Bearer challenge)
    401S  UNAUTHORIZED with error="insufficient_scope" (a bearer token lacking an action the
          principal holds: the client must fetch a new token)
    401I  UNAUTHORIZED with error="invalid_token"
    403   DENIED                                  404   NAME_UNKNOWN (private looks missing)
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from .support import Image, basic, bearer, error_code, make_app, push_blob, push_image, sha256

OPS = [
    "base",
    "catalog",
    "manifest_get",
    "manifest_head",
    "manifest_put",
    "manifest_delete",
    "blob_get",
    "blob_head",
    "blob_delete",
    "upload_start",
    "upload_patch",
    "upload_put",
    "upload_status",
    "upload_cancel",
    "tags_list",
    "referrers",
]

_ADMIN_ROW = "200 200 200 200 201 202 200 200 202 202 202 201 204 204 200 200"
_WRITER_ROW = "200 200 200 200 201 403 200 200 403 202 202 201 204 204 200 200"
MATRIX: dict[str, str] = {
    #                 base cat mget mhead mput mdel bget bhead bdel upost upatch uput ustat udel tags refs
    "admin": _ADMIN_ROW,
    "owner": _ADMIN_ROW,
    "writer": _WRITER_ROW,
    "reader": "200 200 200 200 403 403 200 200 403 403 403 403 403 403 200 200",
    "other_user": "200 200 404 404 403 403 404 404 403 403 403 403 403 403 404 404",
    "anonymous": "401 200 401 401 401 401 401 401 401 401 401 401 401 401 401 401",
    "robot_token": _WRITER_ROW,
    "writer_jwt": _WRITER_ROW,
    "expired_token": " ".join(["401"] * 16),
    "revoked_token": " ".join(["401"] * 16),
    "tampered_jwt": " ".join(["401I"] * 16),
    "jwt_other_repo": "200 200 401S 401S 401S 403 401S 401S 403 401S 401S 401S 401S 401S 401S 401S",
}
PASSWORDS = {
    "admin": "admin-password-1",
    "olivia": "olivia-password",
    "wendy": "wendy-password",
    "rita": "rita-password",
    "oscar": "oscar-password",
}
REPO = "lab/data"


@dataclass
class World:
    client: Any
    app: Any
    headers: dict[str, dict[str, str]]
    admin: dict[str, str]
    image: Image


def _token(client: Any, headers: dict[str, str], scope: str) -> str:
    r = client.get(f"/token?service=sciregistry&scope={scope}", headers=headers)
    assert r.status_code == 200, r.data
    return r.get_json()["token"]  # type: ignore[no-any-return]


def _tamper(token: str, repo: str) -> str:
    """Rewrite the payload to grant every action on ``repo``, keeping the original signature."""
    header, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["access"] = [{"type": "repository", "name": repo, "actions": ["pull", "push", "delete"]}]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{sig}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    app = make_app(tmp_path_factory.mktemp("matrix"), login_max_failures=10_000)
    svc = app.extensions["sciregistry"]
    acc = svc.accounts
    acc.create_user("admin", PASSWORDS["admin"], admin=True)
    for name in ("olivia", "wendy", "rita", "oscar"):
        acc.create_user(name, PASSWORDS[name])
    acc.create_namespace("lab", "olivia")
    acc.grant("lab", "wendy", "writer")
    acc.grant("lab", "rita", "reader")
    acc.create_namespace("pub", "olivia", public=True)
    acc.create_robot("lab", "ci", "writer")
    robot = acc.create_token(robot="lab+ci", scopes=["repository:lab/*:pull,push"], expires_in=3600)
    expired = acc.create_token(user="wendy", expires_in=3600)
    revoked = acc.create_token(user="wendy")
    acc.revoke_token(revoked.info.id)
    import datetime as dt

    from sqlalchemy import update

    from sciregistry.db.models import ApiToken

    with svc.engine.begin() as conn:
        conn.execute(
            update(ApiToken)
            .where(ApiToken.id == expired.info.id)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    client = app.test_client()
    admin = basic("admin", PASSWORDS["admin"])
    image = push_image(client, REPO, "v1", admin)
    push_image(client, "pub/tools", "v1", admin)
    push_image(client, "oscar/own", "v1", basic("oscar", PASSWORDS["oscar"]))
    wendy = basic("wendy", PASSWORDS["wendy"])
    headers = {
        "admin": admin,
        "owner": basic("olivia", PASSWORDS["olivia"]),
        "writer": wendy,
        "reader": basic("rita", PASSWORDS["rita"]),
        "other_user": basic("oscar", PASSWORDS["oscar"]),
        "anonymous": {},
        "robot_token": basic("lab+ci", robot.secret),
        "writer_jwt": bearer(_token(client, wendy, f"repository:{REPO}:pull,push")),
        "expired_token": basic("wendy", expired.secret),
        "revoked_token": bearer(revoked.secret),
        "tampered_jwt": bearer(_tamper(_token(client, wendy, "repository:lab/other:pull"), REPO)),
        "jwt_other_repo": bearer(_token(client, wendy, "repository:lab/other:pull,push")),
    }
    return World(client, app, headers, admin, image)


def _new_upload(w: World) -> str:
    r = w.client.post(f"/v2/{REPO}/blobs/uploads/", headers=w.admin)
    assert r.status_code == 202
    return r.headers["Location"]


def _request(w: World, op: str, principal: str) -> Any:
    """Perform ``op`` as ``principal`` (objects the operation destroys are created fresh by the admin)."""
    h = w.headers[principal]
    c = w.client
    img = w.image
    calls: dict[str, Callable[[], Any]] = {
        "base": lambda: c.get("/v2/", headers=h),
        "catalog": lambda: c.get("/v2/_catalog", headers=h),
        "manifest_get": lambda: c.get(f"/v2/{REPO}/manifests/v1", headers=h),
        "manifest_head": lambda: c.head(f"/v2/{REPO}/manifests/v1", headers=h),
        "manifest_put": lambda: c.put(
            f"/v2/{REPO}/manifests/by-{principal}",
            data=img.manifest,
            headers={**h, "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        ),
        "manifest_delete": lambda: c.delete(
            f"/v2/{REPO}/manifests/{push_image(c, REPO, f'del-{principal}', w.admin, salt=principal).digest}",
            headers=h,
        ),
        "blob_get": lambda: c.get(f"/v2/{REPO}/blobs/{img.layer_digest}", headers=h),
        "blob_head": lambda: c.head(f"/v2/{REPO}/blobs/{img.layer_digest}", headers=h),
        "blob_delete": lambda: c.delete(
            f"/v2/{REPO}/blobs/{push_blob(c, REPO, f'doomed {principal}'.encode(), w.admin)}", headers=h
        ),
        "upload_start": lambda: c.post(f"/v2/{REPO}/blobs/uploads/", headers=h),
        "upload_patch": lambda: c.patch(
            _new_upload(w), data=b"abc", headers={**h, "Content-Type": "application/octet-stream"}
        ),
        "upload_put": lambda: c.put(
            f"{_new_upload(w)}?digest={sha256(principal.encode())}",
            data=principal.encode(),
            headers={**h, "Content-Type": "application/octet-stream"},
        ),
        "upload_status": lambda: c.get(_new_upload(w), headers=h),
        "upload_cancel": lambda: c.delete(_new_upload(w), headers=h),
        "tags_list": lambda: c.get(f"/v2/{REPO}/tags/list", headers=h),
        "referrers": lambda: c.get(f"/v2/{REPO}/referrers/{img.digest}", headers=h),
    }
    return calls[op]()


CELLS = [(p, op, cell) for p, row in MATRIX.items() for op, cell in zip(OPS, row.split(), strict=True)]


@pytest.mark.parametrize(("principal", "op", "cell"), CELLS, ids=[f"{p}-{op}" for p, op, _ in CELLS])
def test_cell(world: World, principal: str, op: str, cell: str) -> None:
    r = _request(world, op, principal)
    status = int(cell[:3])
    assert r.status_code == status, (r.status_code, r.data[:300])
    is_head = op.endswith("_head")
    if status == 401:
        challenge = r.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="http://registry.test/token",service="sciregistry"')
        if cell == "401S":
            assert 'error="insufficient_scope"' in challenge
            assert f'scope="repository:{REPO}:' in challenge
        elif cell == "401I":
            assert 'error="invalid_token"' in challenge
        else:
            assert "error=" not in challenge
        if not is_head:
            assert error_code(r) == "UNAUTHORIZED"
    elif status == 403:
        assert is_head or error_code(r) == "DENIED"
    elif status == 404:
        assert is_head or error_code(r) == "NAME_UNKNOWN"
        if not is_head:
            assert r.get_json()["errors"][0]["detail"] == {"name": REPO}


def test_matrix_is_complete() -> None:
    assert len(CELLS) == 12 * 16
    assert {p for p, _, _ in CELLS} >= {
        "admin",
        "owner",
        "writer",
        "reader",
        "other_user",
        "anonymous",
        "robot_token",
        "expired_token",
        "revoked_token",
        "tampered_jwt",
        "jwt_other_repo",
    }


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        ("admin", ["lab/data", "oscar/own", "pub/tools"]),
        ("owner", ["lab/data", "pub/tools"]),
        ("reader", ["lab/data", "pub/tools"]),
        ("other_user", ["oscar/own", "pub/tools"]),
        ("anonymous", ["pub/tools"]),
        ("robot_token", ["lab/data"]),  # its token is limited to lab/*
        ("jwt_other_repo", ["lab/data", "pub/tools"]),
    ],
)
def test_catalog_lists_only_readable(world: World, principal: str, expected: list[str]) -> None:
    r = world.client.get("/v2/_catalog", headers=world.headers[principal])
    assert r.status_code == 200
    assert r.get_json() == {"repositories": expected}


@pytest.mark.parametrize(
    "path",
    [
        "manifests/v1",
        "manifests/sha256:" + "0" * 64,
        "tags/list",
        "blobs/sha256:" + "1" * 64,
        "referrers/sha256:" + "2" * 64,
    ],
)
def test_private_is_indistinguishable_from_missing(world: World, path: str) -> None:
    """oscar (no role in lab) gets byte-identical answers for lab/data (exists) and lab/nothing (missing)."""
    h = world.headers["other_user"]
    existing = world.client.get(f"/v2/{REPO}/{path}", headers=h)
    missing = world.client.get(f"/v2/lab/nothing/{path}", headers=h)
    assert existing.status_code == missing.status_code == 404
    assert existing.data.replace(REPO.encode(), b"X") == missing.data.replace(b"lab/nothing", b"X")
    assert error_code(existing) == "NAME_UNKNOWN"
    # anonymous: the same 401 for both
    a1 = world.client.get(f"/v2/{REPO}/{path}")
    a2 = world.client.get(f"/v2/lab/nothing/{path}")
    assert a1.status_code == a2.status_code == 401


def test_anonymous_pull_public_succeeds_push_fails(world: World) -> None:
    c = world.client
    r = c.get("/v2/pub/tools/manifests/v1")
    assert r.status_code == 200
    r = c.get("/v2/pub/tools/tags/list")
    assert r.get_json() == {"name": "pub/tools", "tags": ["v1"]}
    r = c.post("/v2/pub/tools/blobs/uploads/")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].endswith('scope="repository:pub/tools:pull,push"')
    # a missing repository of a public namespace: 401, like a private one (no probe for existence)
    assert c.get("/v2/pub/missing/tags/list").status_code == 401
    # a repository made private inside the public namespace
    world.app.extensions["sciregistry"].accounts.set_repository_visibility("pub/tools", False)
    try:
        assert c.get("/v2/pub/tools/manifests/v1").status_code == 401
        assert c.get("/v2/pub/tools/manifests/v1", headers=world.headers["other_user"]).status_code == 404
    finally:
        world.app.extensions["sciregistry"].accounts.set_repository_visibility("pub/tools", None)
    assert c.get("/v2/pub/tools/manifests/v1").status_code == 200


def test_mount_requires_read_on_source(world: World) -> None:
    """oscar cannot read lab/data: mounting from it starts a normal upload (202), revealing nothing."""
    c = world.client
    layer = world.image.layer_digest
    r = c.post(
        f"/v2/oscar/copy/blobs/uploads/?mount={layer}&from={REPO}", headers=world.headers["other_user"]
    )
    assert r.status_code == 202
    assert r.headers["Location"].startswith("/v2/oscar/copy/blobs/uploads/")
    assert c.head(f"/v2/oscar/copy/blobs/{layer}", headers=world.headers["other_user"]).status_code == 404
    # the same answer as mounting a blob that exists nowhere
    r2 = c.post(
        f"/v2/oscar/copy/blobs/uploads/?mount=sha256:{'9' * 64}&from={REPO}",
        headers=world.headers["other_user"],
    )
    assert r2.status_code == 202
    # rita reads lab/data: the mount into her own namespace succeeds
    rita = world.headers["reader"]
    r = c.post(f"/v2/rita/copy/blobs/uploads/?mount={layer}&from={REPO}", headers=rita)
    assert r.status_code == 201
    assert r.headers["Docker-Content-Digest"] == layer


def test_mount_challenge_names_both_repositories(world: World) -> None:
    r = world.client.post(f"/v2/lab/copy/blobs/uploads/?mount={world.image.layer_digest}&from=pub/tools")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].endswith(
        'scope="repository:lab/copy:pull,push repository:pub/tools:pull"'
    )
