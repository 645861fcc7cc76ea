"""#10 denial of service: slow clients must not stall the server for everybody else.

A live ``sciregistry serve`` (gunicorn, 2 workers x 8 threads) is attacked from 127.0.0.1 only, with
at most 50 connections for a bounded time, while a probe measures how long ``GET /v2/`` takes. Before
the fix, 50 connections trickling their headers (or their bodies) held every worker thread and the
probe timed out; afterwards it is answered in well under a second throughout.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Self

import pytest

from tests.conftest import LiveServer, start_server

CONNECTIONS = 50  # the attack, bounded: 50 connections from 127.0.0.1 ...
ATTACK_SECONDS = 12  # ... for at most this long (the brief allows 30)
PROBE_TIMEOUT = 3.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_server(
        tmp_path_factory.mktemp("slow") / "data",
        env={
            "SCIREGISTRY_HEADER_TIMEOUT": "4",
            "SCIREGISTRY_BODY_TIMEOUT": "3",
            "SCIREGISTRY_BODY_MIN_RATE": "1024",
        },
    )
    yield srv
    srv.stop()


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(5)
    return s


class Attack:
    """``CONNECTIONS`` sockets, each sending ``opening`` and then one ``drip`` byte string a second;
    a connection the server drops is replaced (an attacker reconnects)."""

    def __init__(self, port: int, opening: bytes, drip: bytes) -> None:
        self.port, self.opening, self.drip = port, opening, drip
        self.stop = threading.Event()
        self.dropped = 0
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CONNECTIONS)]

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                s = _connect(self.port)
            except OSError:
                time.sleep(0.2)
                continue
            try:
                s.sendall(self.opening)
                while not self.stop.wait(1.0):
                    s.sendall(self.drip)
            except OSError:
                self.dropped += 1
            finally:
                s.close()

    def __enter__(self) -> Self:
        for t in self.threads:
            t.start()
        time.sleep(1.5)  # every connection is open and has sent its first bytes
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)


def _probe(port: int) -> float:
    """Seconds one ``GET /v2/`` on a fresh connection takes (PROBE_TIMEOUT when it times out)."""
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT)
    try:
        conn.request("GET", "/v2/")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
    except (TimeoutError, OSError):
        return PROBE_TIMEOUT
    finally:
        conn.close()
    return time.monotonic() - start


def _measure(port: int, seconds: float) -> list[float]:
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out.append(_probe(port))
        time.sleep(0.25)
    return out


def _report(name: str, times: list[float]) -> str:
    timeouts = sum(t >= PROBE_TIMEOUT for t in times)
    return (
        f"{name}: {len(times)} probes of GET /v2/, slowest {max(times):.3f} s, "
        f"median {sorted(times)[len(times) // 2]:.3f} s, {timeouts} timed out ({PROBE_TIMEOUT:g} s)"
    )


def _under_attack(
    server: LiveServer, opening: bytes, drip: bytes, check: Callable[[Attack], None] | None = None
) -> list[float]:
    assert _probe(server.port) < 1.0  # answering before
    with Attack(server.port, opening, drip) as attack:
        times = _measure(server.port, ATTACK_SECONDS)
        if check:
            check(attack)
    return times


@pytest.mark.slow
def test_clients_that_never_finish_their_headers_do_not_stall_others(server: LiveServer) -> None:
    opening = b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\n"
    dropped: list[int] = []
    times = _under_attack(server, opening, b"X-a: b\r\n", check=lambda a: dropped.append(a.dropped))
    print(_report("headers never finished", times))
    assert max(times) < 1.5, _report("headers never finished", times)
    assert dropped[0] > 0, "no connection trickling its headers was dropped (header_timeout)"


@pytest.mark.slow
def test_trickling_request_bodies_do_not_stall_others(server: LiveServer) -> None:
    digest = "sha256:" + "0" * 64
    opening = (
        f"POST /v2/slow/body/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n"
    ).encode()
    times = _under_attack(server, opening, b"x")
    print(_report("trickling bodies", times))
    assert max(times) < 1.5, _report("trickling bodies", times)


def test_a_body_that_stops_arriving_ends_the_request(server: LiveServer) -> None:
    """No byte for body_timeout (3 s here): the client gets its spec error, the connection closes."""
    s = _connect(server.port)
    s.settimeout(15)
    start = time.monotonic()
    s.sendall(
        b"POST /v2/slow/stall/blobs/uploads/?digest=sha256:" + b"0" * 64 + b" HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000
    )
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except TimeoutError:
        pytest.fail("the server never answered a request whose body stopped arriving")
    finally:
        s.close()
    took = time.monotonic() - start
    assert data.startswith(b"HTTP/1.1 400"), data[:300]
    assert b"BLOB_UPLOAD_INVALID" in data
    assert 2.0 < took < 10.0


def test_a_body_below_the_minimum_rate_ends_the_request(server: LiveServer) -> None:
    """A byte every half second never idles for body_timeout, but averages far below body_min_rate."""
    s = _connect(server.port)
    s.settimeout(0.5)
    start = time.monotonic()
    s.sendall(
        b"POST /v2/slow/rate/blobs/uploads/?digest=sha256:" + b"0" * 64 + b" HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n"
    )
    data = b""
    try:
        while time.monotonic() - start < 20:
            try:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            except TimeoutError:
                s.sendall(b"x")
    except OSError:
        pass  # the server closed while we were sending
    finally:
        s.close()
    took = time.monotonic() - start
    assert b"BLOB_UPLOAD_INVALID" in data, data[:300]
    assert took < 12.0  # body_timeout (3 s) of grace, then the rate is checked at every read


def test_a_header_that_never_ends_is_dropped(server: LiveServer) -> None:
    s = _connect(server.port)
    s.settimeout(0.5)
    start = time.monotonic()
    s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    closed = False
    while time.monotonic() - start < 15 and not closed:
        try:
            closed = s.recv(1024) == b""
        except TimeoutError:
            try:
                s.sendall(b"X-a: b\r\n")
            except OSError:
                closed = True
        except OSError:
            closed = True
    s.close()
    assert closed, "a connection trickling its headers for 15 s was kept open"
    assert time.monotonic() - start < 8.0  # header_timeout is 4 s here


def test_a_tls_handshake_on_the_plain_port_fails_at_once(server: LiveServer) -> None:
    """skopeo, podman and docker try HTTPS first for an insecure registry and fall back to HTTP when
    the handshake fails. Kept waiting for a request line, they sat out their 10 s handshake timeout
    on every command; the connection is now closed as soon as its first bytes are a TLS record."""
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    start = time.monotonic()
    with _connect(server.port) as raw, pytest.raises((ssl.SSLError, ConnectionError)):
        ctx.wrap_socket(raw, server_hostname="127.0.0.1")  # the timeout (5 s) would be a TimeoutError
    assert time.monotonic() - start < 2.0
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/v2/")
    assert conn.getresponse().status == 200  # the port still speaks plain HTTP
    conn.close()


def test_requests_still_work_normally(server: LiveServer, tmp_path: Path) -> None:
    """The worker's own header reading keeps keep-alive, pipelined and large requests working."""
    import hashlib

    import requests

    blob = b"y" * (3 * 1024 * 1024 + 17)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with requests.Session() as http:
        for _ in range(3):  # keep-alive: one connection, several requests
            assert http.get(server.url + "/v2/").status_code == 200
        r = http.post(f"{server.url}/v2/ok/blob/blobs/uploads/?digest={digest}", data=blob)
        assert r.status_code == 201, r.text
        r = http.get(f"{server.url}/v2/ok/blob/blobs/{digest}")
        assert r.status_code == 200 and r.content == blob
        # chunked upload (no Content-Length)
        r = http.post(f"{server.url}/v2/ok/blob/blobs/uploads/")
        loc = r.headers["Location"]
        r = http.patch(server.url + loc, data=iter([blob[:1000], blob[1000:]]))
        assert r.status_code == 202, r.text
        r = http.put(server.url + loc, params={"digest": digest})
        assert r.status_code == 201, r.text
    # Expect: 100-continue (curl and docker send it): the server asks for the body, then stores it
    small = b"z" * 5000
    zdigest = "sha256:" + hashlib.sha256(small).hexdigest()
    s = _connect(server.port)
    s.sendall(
        f"POST /v2/ok/blob/blobs/uploads/?digest={zdigest} HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
        f"Content-Length: {len(small)}\r\nConnection: close\r\n\r\n".encode()
    )
    assert s.recv(1024).startswith(b"HTTP/1.1 100 Continue")
    s.sendall(small)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 201"), data[:200]
    # two requests pipelined in one write
    s = _connect(server.port)
    s.sendall(
        b"GET /v2/ HTTP/1.1\r\nHost: a\r\n\r\nGET /v2/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    assert data.count(b"HTTP/1.1 200") == 2
