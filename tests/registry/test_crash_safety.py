"""Crash safety: SIGKILL the whole server (master and workers) while request bodies are half sent,
restart on the same data directory, and check that nothing partial became visible and nothing
committed was lost (DESIGN.md section 4: "A crash never leaves a visible partial blob").
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import time
from pathlib import Path

from ._support import (
    OCI_INDEX,
    OCI_MANIFEST,
    image_manifest,
    log_tracebacks,
    push_blob,
    push_manifest,
    send,
    sha256,
    start_server,
    start_upload,
)

MIB = 1 << 20
TOTAL = 48 * MIB  # size of the blob being pushed when the server dies
SENT = 20 * MIB  # bytes of it sent on the wire before the kill
FIRST_CHUNK = MIB  # acknowledged by the server before the crash


def open_body(
    port: int, method: str, path: str, length: int, extra: dict[str, str] | None = None
) -> socket.socket:
    """Send a request's headers announcing ``length`` body bytes; the caller sends (part of) the body."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Content-Length: {length}",
        "Content-Type: application/octet-stream",
    ]
    head += [f"{k}: {v}" for k, v in (extra or {}).items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    return sock


def upload_bytes(storage: Path) -> int:
    return sum(p.stat().st_size for p in (storage / "uploads").iterdir() if p.is_file())


def wait_until(predicate, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_sigkill_mid_body_leaves_no_partial_blob_and_loses_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    storage = data_dir / "storage"
    big = random.Random(20261128).randbytes(TOTAL)
    big_digest = sha256(big)
    other = random.Random(7).randbytes(TOTAL // 2)
    other_digest = sha256(other)

    server = start_server(data_dir, workers=2)
    try:
        port = server.port
        # --- what was committed before the crash ---
        committed: dict[str, bytes] = {}
        for i in range(3):
            payload = f"committed blob {i}\n".encode() * (1000 * (i + 1))
            committed[push_blob(port, "lab/keep", payload)] = payload
        layers = [(d, len(b)) for d, b in committed.items()]
        m1 = image_manifest(layers[:2])
        m2 = image_manifest(layers[2:], annotations={"org.opencontainers.image.title": "second"})
        d1 = push_manifest(port, "lab/keep", "v1", m1)
        d2 = push_manifest(port, "lab/keep", "v2", m2)
        idx = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {"mediaType": OCI_MANIFEST, "digest": d1, "size": len(m1)},
                    {"mediaType": OCI_MANIFEST, "digest": d2, "size": len(m2)},
                ],
            }
        ).encode()
        di = push_manifest(port, "lab/keep", "all", idx, OCI_INDEX)
        manifests = {"v1": (m1, d1, OCI_MANIFEST), "v2": (m2, d2, OCI_MANIFEST), "all": (idx, di, OCI_INDEX)}

        # --- a chunked upload: first chunk acknowledged, second chunk cut by the crash ---
        loc = start_upload(port, "lab/crash")
        upload_id = loc.rsplit("/", 1)[1]
        r = send(
            port, "PATCH", loc, body=big[:FIRST_CHUNK], headers={"Content-Range": f"0-{FIRST_CHUNK - 1}"}
        )
        assert (r.status, r.headers["range"]) == (202, f"0-{FIRST_CHUNK - 1}")
        patch = open_body(
            port, "PATCH", loc, TOTAL - FIRST_CHUNK, {"Content-Range": f"{FIRST_CHUNK}-{TOTAL - 1}"}
        )
        # --- a monolithic push of another blob, also cut ---
        mono = open_body(port, "POST", f"/v2/lab/crash/blobs/uploads/?digest={other_digest}", len(other))
        for off in range(0, SENT, MIB):
            patch.sendall(big[FIRST_CHUNK + off : FIRST_CHUNK + off + MIB])
            mono.sendall(other[off : off + MIB])
        upload_file = storage / "uploads" / upload_id
        wait_until(
            lambda: (
                upload_file.stat().st_size >= FIRST_CHUNK + SENT - MIB
                and upload_bytes(storage) >= FIRST_CHUNK + 2 * SENT - 2 * MIB
            )
        )

        os.killpg(server.pid, signal.SIGKILL)
        server.proc.wait(timeout=20)
        patch.close()
        mono.close()
    finally:
        server.stop(signal.SIGKILL)

    # --- no blob file anywhere is partial: every file's hash is its name ---
    def check_blob_files() -> int:
        n = 0
        for alg_dir in (storage / "blobs").iterdir():
            for f in alg_dir.rglob("*"):
                if f.is_file():
                    h = hashlib.new(alg_dir.name)
                    with f.open("rb") as fh:
                        while chunk := fh.read(MIB):
                            h.update(chunk)
                    assert h.hexdigest() == f.name, f"partial or corrupt blob file {f}"
                    assert f.parent.name == f.name[:2]
                    n += 1
        return n

    assert check_blob_files() >= 3
    assert not (storage / "blobs" / "sha256" / big_digest[7:9] / big_digest[7:]).exists()
    assert not (storage / "blobs" / "sha256" / other_digest[7:9] / other_digest[7:]).exists()

    server = start_server(data_dir, workers=2)
    try:
        port = server.port
        # the interrupted blobs are not visible
        for d in (big_digest, other_digest):
            assert send(port, "HEAD", f"/v2/lab/crash/blobs/{d}").status == 404
            r = send(port, "GET", f"/v2/lab/crash/blobs/{d}")
            assert (r.status, r.code) == (404, "BLOB_UNKNOWN")

        # the old upload is either unknown or reports a sane prefix that can be resumed
        r = send(port, "GET", loc)
        if r.status == 404:
            assert r.code == "BLOB_UPLOAD_UNKNOWN"
        else:
            assert r.status == 204
            assert r.headers["location"] == loc
            start, _, end = r.headers["range"].partition("-")
            have = int(end) + 1
            assert start == "0" and FIRST_CHUNK <= have <= FIRST_CHUNK + SENT
            assert upload_file.read_bytes() == big[:have]  # exactly what was sent, in order
            # resume after the restart (a new process: the running hash is rebuilt from storage)
            r = send(port, "PATCH", loc, body=big[have:], headers={"Content-Range": f"{have}-{TOTAL - 1}"})
            assert (r.status, r.headers["range"]) == (202, f"0-{TOTAL - 1}")
            r = send(port, "PUT", f"{loc}?digest={big_digest}")
            assert r.status == 201, r.body
            r = send(port, "GET", f"/v2/lab/crash/blobs/{big_digest}")
            assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == big_digest[7:]

        # a fresh upload of the interrupted blob succeeds and verifies
        loc2 = start_upload(port, "lab/fresh")
        r = send(port, "PATCH", loc2, chunks=[other[i : i + MIB] for i in range(0, len(other), MIB)])
        assert r.status == 202
        r = send(port, "PUT", f"{loc2}?digest={other_digest}")
        assert r.status == 201, r.body
        assert r.headers["docker-content-digest"] == other_digest
        r = send(port, "GET", f"/v2/lab/fresh/blobs/{other_digest}")
        assert r.status == 200 and sha256(r.body) == other_digest
        assert push_blob(port, "lab/crash", big) == big_digest

        # everything committed before the crash is still there, byte for byte
        for digest, payload in committed.items():
            r = send(port, "GET", f"/v2/lab/keep/blobs/{digest}")
            assert (r.status, r.body) == (200, payload)
        for tag, (body, digest, media_type) in manifests.items():
            for ref in (tag, digest):
                r = send(port, "GET", f"/v2/lab/keep/manifests/{ref}")
                assert r.status == 200
                assert r.body == body
                assert r.headers["docker-content-digest"] == digest
                assert r.headers["content-type"] == media_type
        r = send(port, "GET", "/v2/lab/keep/tags/list")
        assert r.json() == {"name": "lab/keep", "tags": ["all", "v1", "v2"]}
        assert "lab/keep" in send(port, "GET", "/v2/_catalog").json()["repositories"]
        assert log_tracebacks(server) == []
    finally:
        server.stop()

    assert check_blob_files() >= 5
