"""Concurrent requests on the same objects (found by an outside race probe): no 5xx, consistent state.

The races run against a live server with two worker processes (real parallelism; in-process test
clients interleave too little to show them), on SQLite and, where it is available, PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from ._support import send, start_server

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push_blob(port: int, repo: str, data: bytes) -> str:
    d = _digest(data)
    r = send(
        port,
        "POST",
        f"/v2/{repo}/blobs/uploads/?digest={d}",
        body=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status == 201, r.body
    return d


def _manifest(config: str, layer: str, salt: str) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 5}],
            "annotations": {"salt": salt},
        }
    ).encode()


def _run(n: int, fn: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * n
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    env = {}
    if request.param == "postgres":
        url = os.environ.get("SCIREGISTRY_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("PostgreSQL not configured (SCIREGISTRY_TEST_POSTGRES_URL)")
        name = f"races_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {name}"))
        except Exception as exc:
            pytest.skip(f"PostgreSQL unavailable: {exc}")
        env["SCIREGISTRY_DATABASE_URL"] = url.rsplit("/", 1)[0] + "/" + name
    server = start_server(tmp_path_factory.mktemp(f"races-{request.param}") / "data", env=env, workers=2)
    try:
        yield server
    finally:
        server.stop()
        if request.param == "postgres":
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()


def test_delete_while_the_tag_is_pushed_again(live: Any) -> None:
    port, repo = live.port, f"race/churn-{uuid.uuid4().hex[:6]}"
    config = _push_blob(port, repo, b"{}")
    layer = _push_blob(port, repo, b"layer")
    manifest = _manifest(config, layer, "one")
    digest = _digest(manifest)

    def churn(i: int) -> list[int]:
        statuses = []
        for _ in range(15):
            if i % 2:
                statuses.append(send(port, "DELETE", f"/v2/{repo}/manifests/{digest}").status)
            else:
                statuses.append(
                    send(
                        port,
                        "PUT",
                        f"/v2/{repo}/manifests/v0",
                        body=manifest,
                        headers={"Content-Type": OCI_MANIFEST},
                    ).status
                )
        return statuses

    results = _run(12, churn)
    assert {s for statuses in results for s in statuses} <= {201, 202, 404}, [
        ln for ln in live.log if " ERROR " in ln
    ][:5]
    # whatever won last, the state is consistent: the tag resolves, or it and the manifest are gone
    r = send(port, "GET", f"/v2/{repo}/manifests/v0")
    tags = send(port, "GET", f"/v2/{repo}/tags/list").json()["tags"]
    if r.status == 200:
        assert r.body == manifest and send(port, "GET", f"/v2/{repo}/manifests/{digest}").status == 200
        assert tags == ["v0"]
    else:
        assert r.status == 404 and tags == []
    assert not [ln for ln in live.log if "Traceback" in ln or " ERROR " in ln]


def test_racing_final_puts_of_one_upload(live: Any) -> None:
    port, repo = live.port, f"race/finish-{uuid.uuid4().hex[:6]}"
    for round_ in range(5):
        data = f"finish me once {round_}".encode() * 1000
        d = _digest(data)
        loc = send(port, "POST", f"/v2/{repo}/blobs/uploads/").headers["location"]
        assert (
            send(port, "PATCH", loc, body=data, headers={"Content-Type": "application/octet-stream"}).status
            == 202
        )

        def finish(i: int, loc: str = loc, d: str = d) -> int:
            return send(port, "DELETE" if i == 7 else "PUT", loc if i == 7 else f"{loc}?digest={d}").status

        statuses = _run(8, finish)
        assert set(statuses) <= {201, 204, 404}, statuses  # never 5xx
        assert statuses[:7].count(201) <= 1
        if 201 in statuses:
            assert send(port, "GET", f"/v2/{repo}/blobs/{d}").body == data
        assert send(port, "GET", loc).status == 404  # the session is gone either way
    assert not [ln for ln in live.log if "Traceback" in ln or " ERROR " in ln]


def test_a_finished_upload_cannot_be_finished_again(live: Any) -> None:
    port, data = live.port, b"once"
    d = _digest(data)
    loc = send(port, "POST", "/v2/race/again/blobs/uploads/").headers["location"]
    assert send(port, "PUT", f"{loc}?digest={d}", body=data).status == 201
    r = send(port, "PUT", f"{loc}?digest={d}")
    assert (r.status, r.code) == (404, "BLOB_UPLOAD_UNKNOWN")
