"""Memory: a 2 GiB blob goes through the server (streamed chunked PATCH as docker sends it, then a
monolithic POST, then a pull) while the RSS of the whole server process tree stays flat.

The blob is never held in memory on either side: it is a generator of pseudo-random 1 MiB chunks,
hashed as it is sent, and the pull is hashed as it is read. The RSS of gunicorn's master and every
descendant (``/proc/<pid>/status`` VmRSS) is sampled every 50 ms; the peak may exceed the idle
figure by at most 30 MiB. Run with ``-m slow``.
"""

from __future__ import annotations

import hashlib
import http.client
import random
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._support import push_blob, send, start_server, start_upload

MIB = 1 << 20
SIZE = 2048 * MIB
LIMIT = 30 * MIB
SAMPLE_EVERY = 0.05


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc/<pid>/task/<tid>/children."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def tree_rss(root: int) -> int:
    """Sum of VmRSS (bytes) over the process tree of ``root``."""
    total = 0
    for pid in tree_pids(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


class Sampler(threading.Thread):
    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.samples: list[int] = []
        self.processes = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append(tree_rss(self.root))
            self.processes = max(self.processes, len(tree_pids(self.root)))
            self._stop_event.wait(SAMPLE_EVERY)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


class Blob:
    """2 GiB of pseudo-random bytes, produced 1 MiB at a time; the digest is known after one pass."""

    def __init__(self, size: int, seed: int = 2026) -> None:
        self.size = size
        self.base = random.Random(seed).randbytes(MIB)
        self.sent_digest: str | None = None

    def chunks(self) -> Iterator[bytes]:
        h = hashlib.sha256()
        for i in range(self.size // MIB):
            k = (i * 7919) % MIB
            chunk = self.base[k:] + self.base[:k]
            h.update(chunk)
            yield chunk
        self.sent_digest = "sha256:" + h.hexdigest()


def stream(
    port: int, method: str, path: str, body: Iterator[bytes], length: int | None
) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        headers = {"Content-Type": "application/octet-stream"}
        if length is None:
            conn.request(method, path, body=body, headers=headers, encode_chunked=True)
        else:
            headers["Content-Length"] = str(length)
            conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def pull_digest(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status == 200
        h, n = hashlib.sha256(), 0
        while chunk := resp.read(MIB):
            h.update(chunk)
            n += len(chunk)
        return n, "sha256:" + h.hexdigest()
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_2gib_push_and_pull_keep_server_rss_flat(tmp_path: Path, record_property: Any) -> None:
    server = start_server(tmp_path / "data", workers=2)
    try:
        port = server.port
        # warm up every worker (imports, pools, first request) with small pushes and pulls
        for i in range(8):
            d = push_blob(port, "lab/warm", f"warm {i}".encode() * 10000)
            assert send(port, "GET", f"/v2/lab/warm/blobs/{d}").status == 200
            loc = start_upload(port, "lab/warm")
            assert send(port, "PATCH", loc, chunks=[b"x" * MIB, b"y" * MIB]).status == 202
            assert send(port, "DELETE", loc).status == 204
        time.sleep(0.5)
        idle_samples = []
        for _ in range(20):
            idle_samples.append(tree_rss(server.pid))
            time.sleep(SAMPLE_EVERY)
        idle = max(idle_samples)

        sampler = Sampler(server.pid)
        sampler.start()
        t0 = time.monotonic()
        try:
            blob = Blob(SIZE)
            # 1. one streamed PATCH, chunked transfer encoding, no Content-Length (docker's way)
            loc = start_upload(port, "lab/big")
            status, headers = stream(port, "PATCH", loc, blob.chunks(), None)
            assert status == 202 and headers["range"] == f"0-{SIZE - 1}"
            digest = blob.sent_digest
            assert digest is not None
            r = send(port, "PUT", f"{loc}?digest={digest}")
            assert r.status == 201, r.body
            t_patch = time.monotonic() - t0

            # 2. monolithic POST ?digest= with a Content-Length
            status, headers = stream(
                port, "POST", f"/v2/lab/big2/blobs/uploads/?digest={digest}", Blob(SIZE).chunks(), SIZE
            )
            assert status == 201 and headers["docker-content-digest"] == digest
            t_post = time.monotonic() - t0 - t_patch

            # 3. pull, hashing while reading
            n, pulled = pull_digest(port, f"/v2/lab/big/blobs/{digest}")
            assert (n, pulled) == (SIZE, digest)
            t_pull = time.monotonic() - t0 - t_patch - t_post
            h = send(port, "HEAD", f"/v2/lab/big2/blobs/{digest}")
            assert (h.status, h.headers["content-length"]) == (200, str(SIZE))
        finally:
            sampler.stop()

        peak = max(sampler.samples)
        growth = peak - idle
        figures = (
            f"server tree RSS ({sampler.processes} processes, {len(sampler.samples)} samples): "
            f"idle {idle / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB, growth {growth / MIB:.1f} MiB "
            f"(limit {LIMIT / MIB:.0f}); 2 GiB chunked PATCH {t_patch:.1f}s, monolithic POST {t_post:.1f}s, "
            f"pull {t_pull:.1f}s"
        )
        print(figures, file=sys.stderr)
        record_property("idle_rss_mib", round(idle / MIB, 1))
        record_property("peak_rss_mib", round(peak / MIB, 1))
        record_property("growth_rss_mib", round(growth / MIB, 1))
        assert sampler.processes >= 3  # master and both workers were measured
        assert growth <= LIMIT, figures
    finally:
        server.stop()
