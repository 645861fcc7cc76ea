"""Online gc against live pushers (issue #11): no accepted manifest ever loses a child or a blob.

Pushers push multi-arch images the way skopeo and buildx do (blobs, then the child manifests by
digest, then the index by tag), re-use blobs and child manifests of images deleted earlier (so that
they have aged past the grace period), and delete images, against two ``serve`` nodes sharing one
PostgreSQL database and one store (one node on SQLite) while ``collect(delete_untagged=True)``
loops. Then every accepted index that was not deleted is verified child by child, blob by blob.

Counted: ``lost`` (an index that got 201 and is not deleted, but whose index, child or blob is gone
or corrupt), ``refused`` (a push refused with MANIFEST_BLOB_UNKNOWN although every object it names
was uploaded, or answered 200 to a HEAD, moments before: gc removed it) and ``crashed`` gc passes.
On the code before the fix: see the closing note of issue #11 (docs/architecture.md, GC).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from ._support import OCI_INDEX, OCI_MANIFEST, send, start_server

GRACE = 5  # seconds; pushes here take well under a second
PUSH_SECONDS = float(os.environ.get("SCIREGISTRY_GC_STRESS_SECONDS", "20"))
PUSHERS = 4
POOL = [(b"shared base layer %d\n" % i) * 300 for i in range(6)]  # re-used by many images


def _d(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Tally:
    accepted: list[tuple[str, str, str, list[tuple[str, bytes]]]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # found gone while the pusher deleted it
    other: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _child(config: bytes, layers: list[bytes]) -> bytes:
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
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _d(x), "size": len(x)}
                for x in layers
            ],
        }
    ).encode()


def _index(children: list[bytes]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "annotations": {"push": uuid.uuid4().hex},
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": _d(c),
                    "size": len(c),
                    "platform": {"architecture": arch, "os": "linux"},
                }
                for c, arch in zip(children, ("amd64", "arm64", "riscv64"), strict=False)
            ],
        }
    ).encode()


class Pusher:
    def __init__(self, n: int, ports: list[int], tally: Tally, deadline: float) -> None:
        self.n, self.ports, self.tally, self.deadline = n, ports, tally, deadline
        self.rng = random.Random(n)
        self.mine: list[tuple[str, str, str, list[tuple[str, bytes]]]] = []  # accepted, not deleted
        self.old_children: list[tuple[bytes, list[bytes]]] = []  # children of deleted images

    def port(self) -> int:
        return self.rng.choice(self.ports)  # every request to either node

    def blob(self, repo: str, data: bytes) -> bool:
        d = _d(data)
        if self.rng.random() < 0.5:  # buildx: skip what the registry says it has
            r = send(self.port(), "HEAD", f"/v2/{repo}/blobs/{d}")
            if r.status == 200:
                return True
        r = send(
            self.port(),
            "POST",
            f"/v2/{repo}/blobs/uploads/?digest={d}",
            body=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        if r.status != 201:
            self.tally.other.append(f"blob {r.status} {r.body[:200]!r}")
            return False
        return True

    def manifest(self, repo: str, ref: str, data: bytes, media_type: str, note: str = "") -> int:
        r = send(
            self.port(), "PUT", f"/v2/{repo}/manifests/{ref}", body=data, headers={"Content-Type": media_type}
        )
        if r.status == 400 and b"MANIFEST_BLOB_UNKNOWN" in r.body:
            self.tally.refused.append(f"{repo} {ref} {note}: {r.body[:300]!r}")
        elif r.status != 201:
            self.tally.other.append(f"manifest {r.status} {r.body[:200]!r}")
        return r.status

    def push_image(self, i: int) -> None:
        repo = f"gc/app{self.n % 2}"
        children: list[bytes] = []
        blobs: list[tuple[str, bytes]] = []
        how: list[str] = []
        started = time.monotonic()
        for arch in range(2):
            if self.old_children and self.rng.random() < 0.3:  # skopeo: the child is there already
                child, parts = self.old_children.pop(self.rng.randrange(len(self.old_children)))
                r = send(self.port(), "HEAD", f"/v2/{repo}/manifests/{_d(child)}")
                if r.status == 200:
                    how.append(f"{_d(child)[:15]} HEADed at {time.monotonic() - started:.2f}s")
                    children.append(child)
                    blobs += [(_d(p), p) for p in parts]
                    continue
            config = json.dumps({"pusher": self.n, "i": i, "arch": arch, "u": uuid.uuid4().hex}).encode()
            parts = [config, self.rng.choice(POOL), os.urandom(64) + b"unique layer"]
            for p in parts:
                if not self.blob(repo, p):
                    return
            child = _child(config, parts[1:])
            if self.manifest(repo, _d(child), child, OCI_MANIFEST) != 201:
                return
            how.append(f"{_d(child)[:15]} PUT at {time.monotonic() - started:.2f}s")
            children.append(child)
            blobs += [(_d(p), p) for p in parts]
            self.old_children.append((child, parts))
        index = _index(children)
        tag = f"p{self.n}-{i}"
        note = f"({', '.join(how)}; index at {time.monotonic() - started:.2f}s)"
        if self.manifest(repo, tag, index, OCI_INDEX, note) == 201:
            entry = (repo, tag, _d(index), [(_d(c), c) for c in children] + blobs)
            self.mine.append(entry)
            with self.tally.lock:
                self.tally.accepted.append(entry)

    def delete_one(self) -> None:
        repo, tag, digest, _ = entry = self.mine.pop(self.rng.randrange(len(self.mine)))
        ref = tag if self.rng.random() < 0.5 else digest  # untag (gc collects it) or delete outright
        r = send(self.port(), "DELETE", f"/v2/{repo}/manifests/{ref}")
        with self.tally.lock:
            self.tally.accepted.remove(entry)
        if r.status == 404:
            self.tally.lost.append(f"{repo}:{tag} index gone before its delete ({ref[:19]})")
        elif r.status != 202:
            self.tally.other.append(f"delete {r.status} {r.body[:200]!r}")

    def run(self) -> None:
        i = 0
        while time.monotonic() < self.deadline:
            i += 1
            self.push_image(i)
            if len(self.mine) > 2 and self.rng.random() < 0.5:
                self.delete_one()
            del self.old_children[:-12]


def _gc_loop(
    data_dir: str, database_url: str, stop: threading.Event, passes: list[Any], crashes: list[str]
) -> None:
    from sciregistry.app import build_services
    from sciregistry.config import load_config
    from sciregistry.registry.gc import collect

    cfg = load_config(
        overrides={
            "data_dir": data_dir,
            "database_url": database_url,
            "storage_fsync": False,
            "auth_enabled": False,
        },
        environ={},
    )
    services = build_services(cfg, migrate=False)
    try:
        while not stop.is_set():
            try:
                passes.append(collect(services.registry, grace=GRACE, delete_untagged=True))
            except Exception as exc:
                crashes.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.05)
    finally:
        services.engine.dispose()


def _verify(port: int, accepted: list[Any]) -> list[str]:
    lost = []
    for repo, tag, digest, objects in accepted:
        r = send(port, "GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_INDEX})
        if r.status != 200 or _d(r.body) != digest:
            lost.append(f"{repo}:{tag} index {r.status}")
            continue
        for d, data in objects:
            kind = "manifests" if data.startswith(b'{"schemaVersion"') else "blobs"
            r = send(port, "GET", f"/v2/{repo}/{kind}/{d}", headers={"Accept": OCI_MANIFEST})
            if r.status != 200 or _d(r.body) != d:
                lost.append(f"{repo}:{tag} {kind[:-1]} {d[:19]} {r.status}")
    return lost


@pytest.fixture(params=["sqlite", "postgres"])
def nodes(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[list[Any], str]]:
    data_dir = tmp_path / "data"
    env = {"SCIREGISTRY_GC_GRACE_SECONDS": str(GRACE)}
    admin = name = None
    if request.param == "postgres":
        url = os.environ.get("SCIREGISTRY_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("PostgreSQL not configured (SCIREGISTRY_TEST_POSTGRES_URL)")
        name = f"gcstress_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {name}"))
        except Exception as exc:
            pytest.skip(f"PostgreSQL unavailable: {exc}")
        env["SCIREGISTRY_DATABASE_URL"] = database_url = url.rsplit("/", 1)[0] + "/" + name
    else:
        database_url = f"sqlite:///{data_dir}/registry.db"
    servers = [start_server(data_dir, env=env, workers=2)]
    try:
        if request.param == "postgres":  # a second node: same database, same store
            servers.append(start_server(data_dir, env=env, workers=2))
        yield servers, database_url
    finally:
        for s in servers:
            s.stop()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()


@pytest.mark.slow
def test_online_gc_never_loses_an_accepted_push(nodes: tuple[list[Any], str]) -> None:
    servers, database_url = nodes
    ports = [s.port for s in servers]
    tally, stop, passes, crashes = Tally(), threading.Event(), [], []
    gc = threading.Thread(
        target=_gc_loop, args=(str(servers[0].data_dir), database_url, stop, passes, crashes)
    )
    gc.start()
    deadline = time.monotonic() + PUSH_SECONDS
    pushers = [Pusher(n, ports, tally, deadline) for n in range(PUSHERS)]
    threads = [threading.Thread(target=p.run) for p in pushers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        stop.set()
        gc.join()
    lost = tally.lost + _verify(ports[0], tally.accepted)
    deleted = sum(len(p.manifests_deleted) for p in passes)
    summary = (
        f"nodes={len(ports)} accepted={len(tally.accepted)} lost={len(lost)} refused={len(tally.refused)} "
        f"gc passes={len(passes)} crashed={len(crashes)} manifests deleted={deleted} "
        f"blobs deleted={sum(len(p.blobs_deleted) for p in passes)}"
    )
    print(summary)
    assert len(tally.accepted) > 20 and len(passes) > 5, summary
    assert deleted > 0, summary  # gc did collect the deleted images meanwhile
    assert not tally.other, tally.other[:5]
    assert not crashes, crashes[:5]
    assert not lost, f"{summary}\n" + "\n".join(lost[:20])
    assert not tally.refused, f"{summary}\n" + "\n".join(tally.refused[:20])
