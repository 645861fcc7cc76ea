"""Faults of the server's own resources (disk full, storage or database unavailable) are answered as
the server's fault (507/503, JSON, a spec code on /v2), never as the client's (400), never a bare
500, and leave no blob behind."""

from __future__ import annotations

import errno
import hashlib
import json
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from sciregistry.errors import OCI_ERROR_CODES

DATA = b"bytes that will not fit" * 100
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


def _services(app: Any) -> Any:
    return app.extensions["sciregistry"]


def _start(client: Any, name: str = "lab/faults") -> str:
    r = client.post(f"/v2/{name}/blobs/uploads/")
    assert r.status_code == 202
    return r.headers["Location"]


def test_disk_full_during_upload_is_507_and_stores_nothing(
    app: Any, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _services(app).store

    def full(*_a: Any, **_k: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "append_upload", full)
    loc = _start(client)
    r = client.put(f"{loc}?digest={DIGEST}", data=DATA, content_type="application/octet-stream")
    assert r.status_code == 507
    err = r.get_json()["errors"][0]
    assert err["code"] in OCI_ERROR_CODES and err["code"] == "DENIED"
    assert "insufficient storage" in err["message"]
    monkeypatch.undo()
    assert client.head(f"/v2/lab/faults/blobs/{DIGEST}").status_code == 404
    assert store.stat(DIGEST) is None
    # once there is room again, the same upload session completes
    r = client.put(f"{loc}?digest={DIGEST}", data=DATA, content_type="application/octet-stream")
    assert r.status_code == 201
    assert client.get(f"/v2/lab/faults/blobs/{DIGEST}").data == DATA


def test_read_only_storage_is_503_with_retry_after(
    app: Any, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_only(*_a: Any, **_k: Any) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(_services(app).store, "start_upload", read_only)
    r = client.post("/v2/lab/faults/blobs/uploads/")
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "5"
    err = r.get_json()["errors"][0]
    assert err["code"] == "UNSUPPORTED"
    assert "storage unavailable" in err["message"]


def test_database_unavailable_is_503_on_v2_and_on_the_api(
    app: Any, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = _services(app).registry

    def down(*_a: Any, **_k: Any) -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(registry, "stat_blob", down)
    monkeypatch.setattr(registry, "catalog", down)
    r = client.get(f"/v2/lab/faults/blobs/{DIGEST}")
    assert (r.status_code, r.headers.get("Retry-After")) == (503, "5")
    assert r.get_json()["errors"][0] == {
        "code": "UNSUPPORTED",
        "message": "database unavailable, retry later",
    }
    r = client.get("/v2/_catalog")
    assert r.status_code == 503
    runs = _services(app).runs
    monkeypatch.setattr(runs, "search", down)
    r = client.get("/api/v1/runs?q=x")
    assert r.status_code == 503, r.data
    body = json.loads(r.data)
    assert body["errors"][0]["code"] == "UNAVAILABLE"


def test_database_disk_full_is_507_not_retry_later(
    app: Any, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    def full(*_a: Any, **_k: Any) -> None:
        raise OperationalError("INSERT ...", {}, sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(_services(app).registry, "start_upload", full)
    r = client.post("/v2/lab/faults/blobs/uploads/")
    assert r.status_code == 507
    assert r.get_json()["errors"][0]["code"] == "DENIED"
    assert "database cannot grow" in r.get_json()["errors"][0]["message"]


def test_healthz_reports_what_is_down(app: Any, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (client.get("/healthz").status_code, client.get("/healthz").get_json()) == (200, {"status": "ok"})

    def broken(*_a: Any, **_k: Any) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(_services(app).store, "stat", broken)
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.get_json() == {"status": "unavailable", "problems": {"storage": "OSError"}}
