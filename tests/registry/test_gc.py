"""Garbage collection beside pushes (issue #11): each loss an outside probe found, made deterministic.

Every test runs on SQLite and PostgreSQL (the ``app`` fixture). The interleavings are forced by
hooking the registry between gc's steps (its first write transaction, its file deletion) or the
upload between writing its file and committing its rows; a concurrent request runs in a thread that
the code under test may have to block (that blocking is the fix).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, inspect, text

from sciregistry.db.base import utcnow
from sciregistry.registry.gc import collect

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _d(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(client: Any, repo: str, data: bytes) -> str:
    d = _d(data)
    r = client.post(
        f"/v2/{repo}/blobs/uploads/?digest={d}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    return d


def _child(config: bytes, layer: bytes) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _d(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": _d(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()


def _index(*children: bytes) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": _d(c), "size": len(c)} for c in children],
        }
    ).encode()


def _put(client: Any, repo: str, ref: str, data: bytes, media_type: str = OCI_MANIFEST) -> Any:
    return client.put(f"/v2/{repo}/manifests/{ref}", data=data, headers={"Content-Type": media_type})


def _push_child(client: Any, repo: str, salt: str) -> tuple[bytes, list[bytes]]:
    config, layer = f'{{"salt": "{salt}"}}'.encode(), f"layer {salt}\n".encode() * 50
    _blob(client, repo, config)
    _blob(client, repo, layer)
    child = _child(config, layer)
    r = _put(client, repo, _d(child), child)
    assert r.status_code == 201, r.get_data(as_text=True)
    return child, [config, layer]


def _age(app: Any, days: float = 2) -> None:
    """Make every object look pushed ``days`` ago (created_at and, where it exists, pushed_at)."""
    engine = app.extensions["sciregistry"].engine
    then = (utcnow() - timedelta(days=days)).replace(tzinfo=None)
    with engine.begin() as conn:
        for table in ("blobs", "repository_blobs", "manifests"):
            cols = {c["name"] for c in inspect(conn).get_columns(table)}
            sets = ", ".join(f"{c} = :t" for c in ("created_at", "pushed_at") if c in cols)
            conn.execute(text(f"UPDATE {table} SET {sets}"), {"t": then})


def _reg(app: Any) -> Any:
    return app.extensions["sciregistry"].registry


def _before_first_write(monkeypatch: pytest.MonkeyPatch, reg: Any, action: Any) -> None:
    """Run ``action`` once, just before gc opens its first write transaction (after its scan)."""
    original = reg.transaction
    done: list[bool] = []

    def wrapped():  # type: ignore[no-untyped-def]
        if not done:
            done.append(True)
            action()
        return original()

    monkeypatch.setattr(reg, "transaction", wrapped)


def test_a_child_pushed_by_digest_survives_a_pass_until_its_index_comes(client: Any, app: Any) -> None:
    child, _ = _push_child(client, "lab/multi", "amd64")
    report = collect(_reg(app), delete_untagged=True)  # default grace
    assert report.manifests_deleted == []
    r = _put(client, "lab/multi", "v1", _index(child), OCI_INDEX)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert client.get(f"/v2/lab/multi/manifests/{_d(child)}").status_code == 200


def test_an_index_put_between_mark_and_sweep_keeps_its_children(
    client: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    child, parts = _push_child(client, "lab/multi", "arm64")
    index = _index(child)
    accepted: list[int] = []
    _before_first_write(
        monkeypatch,
        _reg(app),
        lambda: accepted.append(_put(client, "lab/multi", "v1", index, OCI_INDEX).status_code),
    )
    collect(_reg(app), grace=0, delete_untagged=True)  # grace 0: the child alone is garbage at the scan
    assert accepted == [201]
    assert client.get("/v2/lab/multi/manifests/v1").status_code == 200
    assert client.get(f"/v2/lab/multi/manifests/{_d(child)}").status_code == 200
    for p in parts:
        assert client.get(f"/v2/lab/multi/blobs/{_d(p)}").status_code == 200


@pytest.mark.parametrize("how", ["upload", "head", "mount"])
def test_a_reused_blob_is_fresh_again(client: Any, app: Any, how: str) -> None:
    """Aged past the grace, its image deleted, then pushed again (uploaded, HEADed, mounted)."""
    child, (config, layer) = _push_child(client, "lab/old", "x")
    assert _push_child(client, "lab/new", "x")[0] == child  # the same image in a second repository
    for repo in ("lab/old", "lab/new"):
        assert client.delete(f"/v2/{repo}/manifests/{_d(child)}").status_code == 202
    _age(app)
    repo = "lab/old"
    for data in (config, layer):
        if how == "upload":
            _blob(client, repo, data)
        elif how == "head":
            assert client.head(f"/v2/{repo}/blobs/{_d(data)}").status_code == 200
        else:
            repo = "lab/new"
            r = client.post(f"/v2/{repo}/blobs/uploads/?mount={_d(data)}&from=lab/old")
            assert r.status_code == 201, r.get_data(as_text=True)
    report = collect(_reg(app))  # default grace: the re-pushed blobs are fresh
    assert report.blobs_deleted == []
    r = _put(client, repo, "v1", child)
    assert r.status_code == 201, r.get_data(as_text=True)
    for data in (config, layer):
        got = client.get(f"/v2/{repo}/blobs/{_d(data)}")
        assert got.status_code == 200 and got.data == data


def test_a_child_headed_by_digest_is_fresh_again(client: Any, app: Any) -> None:
    """skopeo HEADs a child it finds and skips its PUT: the HEAD keeps it for the coming index."""
    child, _ = _push_child(client, "lab/multi", "s390x")
    _age(app)
    assert client.head(f"/v2/lab/multi/manifests/{_d(child)}").status_code == 200
    collect(_reg(app), delete_untagged=True)
    r = _put(client, "lab/multi", "v2", _index(child), OCI_INDEX)
    assert r.status_code == 201, r.get_data(as_text=True)


def test_an_upload_racing_the_file_deletion_keeps_its_bytes(
    client: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gc deletes an unlinked blob's file while the same blob is uploaded again: the upload must
    not trust the file it saw (before: it dropped its own copy, then gc deleted the file)."""
    data = b"re-uploaded after its image was deleted\n" * 100
    d = _blob(client, "lab/re", data)
    assert client.delete(f"/v2/lab/re/blobs/{d}").status_code == 202
    _age(app)
    reg = _reg(app)
    original_delete = reg.store.delete
    uploads: list[int] = []

    def racing_delete(digest: str) -> bool:
        if digest == d and not uploads:
            t = threading.Thread(
                target=lambda: uploads.append(
                    client.post(
                        f"/v2/lab/re/blobs/uploads/?digest={d}",
                        data=data,
                        headers={"Content-Type": "application/octet-stream"},
                    ).status_code
                )
            )
            t.start()
            t.join(1.5)  # done here before the fix; blocked by the blob row's lock after it
            threads.append(t)
        return original_delete(digest)

    threads: list[threading.Thread] = []
    monkeypatch.setattr(reg.store, "delete", racing_delete)
    report = collect(reg)
    for t in threads:
        t.join(30)
    assert report.blobs_deleted == [d]
    assert uploads == [201]
    got = client.get(f"/v2/lab/re/blobs/{d}")
    assert got.status_code == 200 and got.data == data


def test_the_orphan_sweep_never_deletes_a_file_being_committed(
    client: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``gc --grace 0`` while an upload has written its file but not committed its rows yet."""
    reg = _reg(app)
    original_commit = reg.store.commit_upload
    reports: list[Any] = []

    def slow_commit(upload_id: str, digest: str) -> None:
        original_commit(upload_id, digest)
        t = threading.Thread(target=lambda: reports.append(collect(reg, grace=0)))
        t.start()
        t.join(1.5)  # done here before the fix; waits for this upload's rows after it
        threads.append(t)

    threads: list[threading.Thread] = []
    monkeypatch.setattr(reg.store, "commit_upload", slow_commit)
    data = b"committed while gc scans for orphan files\n" * 100
    d = _blob(client, "lab/orphan", data)
    for t in threads:
        t.join(30)
    assert reports and d not in reports[0].orphan_files_deleted
    got = client.get(f"/v2/lab/orphan/blobs/{d}")
    assert got.status_code == 200 and got.data == data


def test_a_tag_pushed_during_the_scan_does_not_crash_the_pass(client: Any, app: Any) -> None:
    """Before: manifests and tags were read in separate statements (KeyError on PostgreSQL)."""
    _push_child(client, "lab/a", "old")
    engine = app.extensions["sciregistry"].engine
    pushed: list[int] = []

    def push_between(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not pushed and "FROM tags" in statement:
            pushed.append(0)
            child = _child(b'{"new": 1}', b"new layer\n")
            t = threading.Thread(
                target=lambda: (
                    _blob(client, "lab/b", b'{"new": 1}'),
                    _blob(client, "lab/b", b"new layer\n"),
                    pushed.append(_put(client, "lab/b", "latest", child).status_code),
                )
            )
            t.start()
            t.join(5)

    event.listen(engine, "before_cursor_execute", push_between)
    try:
        collect(_reg(app), grace=0, delete_untagged=True)
    finally:
        event.remove(engine, "before_cursor_execute", push_between)
    assert pushed == [0, 201]
    assert client.get("/v2/lab/b/manifests/latest").status_code == 200


def test_the_report_counts_only_what_this_pass_deleted(
    client: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    child, _ = _push_child(client, "lab/c", "gone")
    _age(app)
    _before_first_write(monkeypatch, _reg(app), lambda: client.delete(f"/v2/lab/c/manifests/{_d(child)}"))
    report = collect(_reg(app), delete_untagged=True)
    assert report.manifests_deleted == []  # the client deleted it, not gc
    assert collect(_reg(app), delete_untagged=True).manifests_deleted == []


def test_untagged_manifests_past_the_grace_are_collected_with_their_blobs(client: Any, app: Any) -> None:
    child, parts = _push_child(client, "lab/d", "old")
    kept, kept_parts = _push_child(client, "lab/d", "kept")
    assert _put(client, "lab/d", "v1", _index(kept), OCI_INDEX).status_code == 201
    _age(app)
    dry = collect(_reg(app), delete_untagged=True, dry_run=True)
    assert dry.manifests_deleted == [_d(child)] and sorted(dry.blobs_deleted) == sorted(_d(p) for p in parts)
    report = collect(_reg(app), delete_untagged=True)
    assert report.manifests_deleted == [_d(child)]
    assert sorted(report.blobs_deleted) == sorted(_d(p) for p in parts) and report.links_deleted == 2
    assert client.get(f"/v2/lab/d/manifests/{_d(child)}").status_code == 404
    assert client.get(f"/v2/lab/d/manifests/{_d(kept)}").status_code == 200  # an index child
    for p in kept_parts:
        assert client.get(f"/v2/lab/d/blobs/{_d(p)}").status_code == 200
    for p in parts:
        assert client.get(f"/v2/lab/d/blobs/{_d(p)}").status_code == 404
        assert _reg(app).store.stat(_d(p)) is None


def test_one_gc_pass_at_a_time(client: Any, app: Any) -> None:
    from sciregistry.registry.tasks import TaskLock

    services = app.extensions["sciregistry"]
    a = TaskLock(services.engine, services.sessions, "gc")
    b = TaskLock(services.engine, services.sessions, "gc")
    b.me = "another-node:1:1"
    with a.held() as mine:
        assert mine
        with b.held() as theirs:
            assert not theirs
        r = client.post("/api/v1/gc")
        assert r.status_code == 409 and "another gc pass" in r.get_json()["errors"][0]["message"]
        assert client.post("/api/v1/gc?dry_run=true").status_code == 200  # a dry run needs no lock
    with b.held(min_interval=3600) as theirs:
        assert not theirs  # a pass finished just now: not due yet
    with b.held() as theirs:
        assert theirs
    assert client.post("/api/v1/gc").status_code == 200


def test_serve_runs_the_online_gc(tmp_path: Path) -> None:
    from ._support import send, start_server

    server = start_server(
        tmp_path / "data",
        workers=2,
        env={"SCIREGISTRY_GC_INTERVAL": "1", "SCIREGISTRY_GC_GRACE_SECONDS": "0"},
    )
    try:
        data = b"unreferenced, collected by the online gc\n"
        d = _d(data)
        assert send(server.port, "POST", f"/v2/lab/e/blobs/uploads/?digest={d}", body=data).status == 201
        deadline = time.monotonic() + 20
        while send(server.port, "HEAD", f"/v2/lab/e/blobs/{d}").status == 200:
            assert time.monotonic() < deadline, "the online gc never collected the blob"
            time.sleep(0.3)
    finally:
        server.stop()
