"""Operations: /metrics (multiprocess, protected), the access log, request ids, /readyz."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ._support import sha256, start_server

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
FAMILIES = [
    "sciregistry_http_requests_total",
    "sciregistry_http_request_duration_seconds_bucket",
    "sciregistry_http_received_bytes_total",
    "sciregistry_http_sent_bytes_total",
    "sciregistry_uploads_in_progress",
    "sciregistry_gc_passes_total",
    "sciregistry_gc_duration_seconds_count",
    "sciregistry_db_pool_connections_in_use",
    "sciregistry_db_pool_capacity",
    "sciregistry_db_connections_opened_total",
    "sciregistry_run_crates_refused_total",
    "sciregistry_login_failures_total",
    "sciregistry_login_throttled_total",
]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")}


def make_app(tmp_path: Path, **extra: Any) -> Any:
    from sciregistry.app import create_app

    return create_app(
        {
            "data_dir": str(tmp_path / "data"),
            "auth_enabled": True,
            "storage_fsync": False,
            "testing": True,
            **extra,
        }
    )


def push_image(c: Any, repo: str, tag: str, headers: dict[str, str]) -> None:
    config, layer = b'{"os":"linux"}', b"layer bytes"
    for blob in (config, layer):
        r = c.post(f"/v2/{repo}/blobs/uploads/?digest={sha256(blob)}", data=blob, headers=headers)
        assert r.status_code == 201, r.data
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    r = c.put(f"/v2/{repo}/manifests/{tag}", data=manifest, headers={**headers, "Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.data


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The exposition as {(name, labels): value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        assert m, line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(s: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in s.items() if n == name and set(labels.items()) <= ls)


# --- a live server with two workers --------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    base = tmp_path_factory.mktemp("observe")
    metrics_dir = base / "prom"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"stale file of an earlier run")  # must be cleaned at start
    server = start_server(
        base / "data",
        workers=2,
        env={"SCIREGISTRY_LOG_FORMAT": "json", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
    )
    yield server, metrics_dir
    server.stop()


def _push(url: str, repo: str, salt: str) -> str:
    config = json.dumps({"salt": salt}).encode()
    layer = os.urandom(300_000)
    s = requests.Session()
    r = s.post(f"{url}/v2/{repo}/blobs/uploads/?digest={sha256(config)}", data=config)
    assert r.status_code == 201, r.text
    r = s.post(f"{url}/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202
    loc = r.headers["Location"]
    r = s.patch(url + loc, data=iter([layer[:100_000], layer[100_000:]]))  # chunked: no Content-Length
    assert r.status_code == 202, r.text
    r = s.put(url + r.headers["Location"], params={"digest": sha256(layer)})
    assert r.status_code == 201, r.text
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    r = s.put(f"{url}/v2/{repo}/manifests/v1", data=manifest, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text
    return sha256(layer)


def test_metrics_sum_every_worker_after_push_and_pull(served: tuple[Any, Path]) -> None:
    server, metrics_dir = served
    assert not (metrics_dir / "counter_1.db").exists()  # the directory was emptied at start
    url = server.url
    layer = _push(url, "lab/observed", "a")
    pulls = 60

    def pull(n: int) -> None:
        for _ in range(n):  # a new connection each time: the two workers share the requests
            r = requests.get(f"{url}/v2/lab/observed/manifests/v1", headers={"Connection": "close"})
            assert r.status_code == 200

    threads = [threading.Thread(target=pull, args=(pulls // 6,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert requests.get(f"{url}/v2/lab/observed/blobs/{layer}").content
    assert requests.post(f"{url}/api/v1/gc").status_code == 200  # auth is off in this server

    # Every worker that counted is replaced (gunicorn starts new ones): /metrics, answered by a
    # process that served none of these requests, must still count every one of them.
    workers = [
        int(m.group(1))
        for line in list(server.log)
        for m in [re.search(r"Booting worker with pid: (\d+)", line)]
        if m
    ]
    assert len(workers) == 2
    for pid in workers:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        booted = [ln for ln in list(server.log) if "Booting worker with pid" in ln]
        if len(booted) >= 4:
            break
        time.sleep(0.1)
    assert len(booted) >= 4, server.log[-20:]
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.1)
    text = requests.get(f"{url}/metrics").text
    s = samples(text)
    for family in FAMILIES:
        assert any(n == family for n, _ in s), family
    assert (
        value(
            s,
            "sciregistry_http_requests_total",
            method="GET",
            route="/v2/<name>/manifests/<ref>",
            status="200",
        )
        == pulls
    )
    assert (
        value(
            s,
            "sciregistry_http_request_duration_seconds_count",
            method="GET",
            route="/v2/<name>/manifests/<ref>",
        )
        == pulls
    )
    assert (
        value(
            s,
            "sciregistry_http_requests_total",
            method="PUT",
            route="/v2/<name>/manifests/<ref>",
            status="201",
        )
        == 1
    )
    # the chunked PATCH has no Content-Length: its bytes are counted as read
    assert (
        value(s, "sciregistry_http_received_bytes_total", route="/v2/<name>/blobs/uploads/<upload_id>")
        >= 300_000
    )
    assert value(s, "sciregistry_http_sent_bytes_total", route="/v2/<name>/blobs/<digest>") >= 300_000
    assert value(s, "sciregistry_gc_passes_total", outcome="ok") == 1
    assert value(s, "sciregistry_uploads_in_progress") == 0
    # live gauges of the dead workers left the sums (child_exit -> mark_process_dead): once both
    # new workers have loaded the app, the capacity is theirs alone (it would be 4 x 30 otherwise)
    while (cap := value(s, "sciregistry_db_pool_capacity")) < 2 * 30 and time.monotonic() < deadline:
        time.sleep(0.2)
        s = samples(requests.get(f"{url}/metrics").text)
    assert cap == 2 * 30
    # bounded labels: templates only, never a repository name or a digest
    routes = {dict(ls).get("route") for _n, ls in s if dict(ls).get("route")}
    assert not any("sha256" in r or "observed" in r for r in routes), routes


def test_json_access_lines_carry_the_request_id(served: tuple[Any, Path]) -> None:
    server, _ = served
    _push(server.url, "lab/logged", "b")
    r = requests.get(f"{server.url}/v2/lab/logged/manifests/v1", headers={"X-Request-Id": "trace-42.a"})
    assert r.headers["X-Request-Id"] == "trace-42.a"
    r2 = requests.get(f"{server.url}/v2/lab/missing/manifests/v1")
    generated = r2.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    deadline = time.monotonic() + 5
    found: dict[str, dict[str, Any]] = {}
    while len(found) < 2 and time.monotonic() < deadline:
        for line in list(server.log):
            if line.startswith("{") and '"sciregistry.access"' in line:
                rec = json.loads(line)
                if rec["request_id"] in ("trace-42.a", generated):
                    found[rec["request_id"]] = rec
    ok, missing = found["trace-42.a"], found[generated]
    assert ok["method"] == "GET" and ok["route"] == "/v2/<name>/manifests/<ref>" and ok["status"] == 200
    assert ok["bytes_out"] == len(r.content) and ok["duration_ms"] > 0 and ok["principal"] == "-"
    assert ok["level"] == "INFO" and ok["logger"] == "sciregistry.access" and "time" in ok
    assert missing["status"] == 404


# --- in-process: protection, log formats, request ids, readiness ----------------------------------


@pytest.fixture
def auth_app(tmp_path: Path) -> Iterator[Any]:
    app = make_app(tmp_path, admin_password="admin-secret-pw")
    from sciregistry.cli.first_start import first_start

    svc = app.extensions["sciregistry"]
    first_start(svc.accounts, svc.keys, svc.config.data_dir, svc.config.admin_password)
    yield app
    app.extensions["sciregistry"].engine.dispose()


def test_metrics_refused_to_anonymous_and_non_admins(auth_app: Any) -> None:
    c = auth_app.test_client()
    r = c.get("/metrics")
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    assert b"sciregistry_http" not in r.data
    r = c.get("/metrics", headers=basic("admin", "wrong"))
    assert r.status_code == 401
    r = c.get("/metrics", headers=basic("admin", "admin-secret-pw"))
    assert r.status_code == 200 and r.mimetype == "text/plain"
    s = samples(r.get_data(as_text=True))
    assert value(s, "sciregistry_login_failures_total", method="password") >= 1


def test_metrics_public_and_separate_bind(tmp_path: Path) -> None:
    app = make_app(tmp_path / "a", metrics_public=True)
    assert app.test_client().get("/metrics").status_code == 200
    app = make_app(tmp_path / "b", metrics_bind="127.0.0.1:9102")
    assert app.test_client().get("/metrics", headers=basic("admin", "x")).status_code == 404


def test_crate_refusals_and_login_throttle_are_counted(auth_app: Any) -> None:
    from sciregistry import metrics

    c = auth_app.test_client()
    refused, throttled = metrics.CRATES_REFUSED._value.get(), metrics.LOGIN_THROTTLED._value.get()
    admin = basic("admin", "admin-secret-pw")
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.sciregistry.rocrate.v1",
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                "size": 2,
            },
            "layers": [],
        }
    ).encode()
    c.post(f"/v2/lab/runs/blobs/uploads/?digest={sha256(b'{}')}", data=b"{}", headers=admin)
    r = c.put("/v2/lab/runs/manifests/crate", data=manifest, headers={**admin, "Content-Type": OCI_MANIFEST})
    assert r.status_code == 400
    assert metrics.CRATES_REFUSED._value.get() == refused + 1
    for _ in range(8):
        r = c.get("/v2/", headers=basic("admin", "wrong-password"))
    assert r.status_code == 429
    assert metrics.LOGIN_THROTTLED._value.get() > throttled


class _Capture:
    def __init__(self, fmt: str) -> None:
        from sciregistry.logs import RequestIdFilter, make_formatter

        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(make_formatter(fmt))
        self.handler.addFilter(RequestIdFilter())
        self.logger = logging.getLogger("sciregistry")
        self.level = self.logger.level

    def __enter__(self) -> _Capture:
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.level)

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()


def test_plain_access_line_and_principal(auth_app: Any) -> None:
    c = auth_app.test_client()
    admin = basic("admin", "admin-secret-pw")
    with _Capture("plain") as cap:
        push_image(c, "lab/plain", "v1", admin)
        r = c.get("/v2/lab/plain/manifests/v1", headers={**admin, "X-Request-Id": "req-plain-1"})
        r.close()
    assert r.headers["X-Request-Id"] == "req-plain-1"
    line = next(ln for ln in cap.lines() if "rid=req-plain-1" in ln)
    assert "INFO sciregistry.access [rid=req-plain-1]:" in line
    assert '"GET /v2/lab/plain/manifests/v1" 200' in line and f"out={len(r.data)}" in line
    assert (
        "route=/v2/<name>/manifests/<ref>" in line and " admin " in line and re.search(r" [0-9.]+ms ", line)
    )


@pytest.mark.parametrize(
    "hostile", ["a" * 129, "x\r\nSet-Cookie: a=b", "id with spaces", "<script>", '"quoted"', "é", ""]
)
def test_hostile_request_id_is_replaced(auth_app: Any, hostile: str) -> None:
    c = auth_app.test_client()
    with _Capture("json") as cap:
        r = c.get("/v2/", environ_overrides={"HTTP_X_REQUEST_ID": hostile})  # as a server would pass it
        r.close()
    rid = r.headers["X-Request-Id"]
    assert rid != hostile and re.fullmatch(r"[0-9a-f]{32}", rid)
    rec = json.loads(next(ln for ln in cap.lines() if '"sciregistry.access"' in ln))
    assert rec["request_id"] == rid and rec["status"] == 401


def test_errors_are_logged_with_the_request_id(auth_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    services = auth_app.extensions["sciregistry"]

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(services.registry, "get_manifest", boom)
    monkeypatch.setattr(services.gate, "authorize", lambda *a, **k: None)
    with _Capture("json") as cap:
        r = auth_app.test_client().get("/v2/lab/x/manifests/v1", headers={"X-Request-Id": "bug-7"})
        r.close()
    assert r.status_code == 500 and r.headers["X-Request-Id"] == "bug-7"
    recs = [json.loads(ln) for ln in cap.lines()]
    err = next(x for x in recs if x["level"] == "ERROR")
    assert err["request_id"] == "bug-7" and "simulated bug" in err.get("exc_info", "")
    assert next(x for x in recs if x["logger"] == "sciregistry.access")["status"] == 500


def test_readyz(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    app = make_app(tmp_path)
    services = app.extensions["sciregistry"]
    c = app.test_client()
    r = c.get("/readyz")
    assert r.status_code == 200 and r.get_json() == {"status": "ready"}
    with services.engine.begin() as conn:  # a database one migration behind this code
        conn.execute(text("UPDATE alembic_version SET version_num = '0005_doi_unique'"))
    r = c.get("/readyz")
    assert r.status_code == 503 and "migrations" in r.get_json()["problems"]
    assert "0005_doi_unique" in r.get_json()["problems"]["migrations"]
    assert c.get("/healthz").status_code == 200  # alive, not ready
    good = services.engine
    services.engine = create_engine(f"sqlite:///{tmp_path}/no/such/dir/registry.db")  # unreachable
    try:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.get_json()["problems"]["database"] == "OperationalError"
        assert r.headers["Retry-After"] == "5"
    finally:
        services.engine.dispose()
        services.engine = good
        good.dispose()


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_access_line_of_configured_logging(auth_app: Any, log_format: str) -> None:
    """Under ``serve`` (configure_logging), access lines skip the logging machinery: same format."""
    from sciregistry import logs

    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logs._sink)
    stream = io.StringIO()
    try:
        logs.configure_logging("INFO", log_format, stream=stream)
        logs.request_id.set("-")  # earlier tests' responses left unclosed keep their id in this thread
        logging.getLogger("sciregistry.test").warning("before")
        r = auth_app.test_client().get("/v2/", headers={"X-Request-Id": "fmt-1"})
        r.close()
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
        logs._sink = saved[2]
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    if log_format == "plain":
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING sciregistry.test \[rid=-\]: before", lines[0]
        )
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO sciregistry.access \[rid=fmt-1\]: "
            r'127\.0\.0\.1 anonymous "GET /v2/" 401 in=0 out=\d+ [0-9.]+ms route=/v2/',
            lines[1],
        ), lines[1]
    else:
        before, access = json.loads(lines[0]), json.loads(lines[1])
        assert set(before) == {"time", "level", "logger", "message", "request_id"}
        assert set(before) <= set(access)
        assert access["request_id"] == "fmt-1" and access["status"] == 401 and access["route"] == "/v2/"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", access["time"])


def test_metrics_on_their_own_address(tmp_path: Path) -> None:
    """``metrics_bind``: the gunicorn master serves the summed metrics there, without credentials;
    the main port no longer does."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = start_server(
        tmp_path / "data",
        workers=1,
        env={
            "SCIREGISTRY_AUTH_ENABLED": "true",
            "SCIREGISTRY_ADMIN_PASSWORD": "admin-pw-123",
            "SCIREGISTRY_METRICS_BIND": f"127.0.0.1:{port}",
        },
    )
    try:
        assert requests.get(f"{server.url}/v2/").status_code == 401
        assert requests.get(f"{server.url}/metrics", auth=("admin", "admin-pw-123")).status_code == 404
        deadline = time.monotonic() + 10
        while True:  # workers publish their counts at least once a second
            try:
                s = samples(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
                if value(s, "sciregistry_http_requests_total", route="/metrics", status="404") == 1:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert value(s, "sciregistry_http_requests_total", route="/v2/", status="401") == 1
        assert value(s, "sciregistry_http_requests_total", route="/metrics", status="404") == 1
    finally:
        server.stop()


def test_sendfile_body_is_passed_through_and_counted(tmp_path: Path) -> None:
    """A blob GET answered with the server's file wrapper (sendfile) reaches the server unwrapped,
    and still counts its bytes and writes its access line when the server closes it."""
    from werkzeug.wsgi import FileWrapper

    from sciregistry import metrics

    app = make_app(tmp_path, auth_enabled=False, blob_sendfile=True)
    c = app.test_client()
    blob = os.urandom(50_000)
    assert c.post(f"/v2/lab/sf/blobs/uploads/?digest={sha256(blob)}", data=blob).status_code == 201
    seen: list[Any] = []
    from sciregistry.api.proxies import TrustedProxies

    if isinstance(app.wsgi_app, TrustedProxies):  # outermost (no proxy trusted here): look at the observer
        app.wsgi_app = app.wsgi_app.app
    inner = app.wsgi_app.app

    def spy(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(result := inner(environ, start_response))
        return result

    app.wsgi_app.app = spy
    observer, returned = app.wsgi_app, []

    def server_side(environ: dict[str, Any], start_response: Any) -> Any:
        returned.append(result := observer(environ, start_response))
        return result

    app.wsgi_app = server_side
    sent = metrics.SENT.labels("/v2/<name>/blobs/<digest>")._value.get()
    with _Capture("json") as cap:
        r = c.get(f"/v2/lab/sf/blobs/{sha256(blob)}", environ_overrides={"wsgi.file_wrapper": FileWrapper})
        assert r.data == blob
        r.close()
    assert isinstance(seen[0], FileWrapper) and returned[0] is seen[0]  # what gunicorn would sendfile
    observer.flush()
    assert metrics.SENT.labels("/v2/<name>/blobs/<digest>")._value.get() == sent + len(blob)
    rec = json.loads(next(ln for ln in cap.lines() if '"sciregistry.access"' in ln))
    assert rec["bytes_out"] == len(blob) and rec["status"] == 200
    app.extensions["sciregistry"].engine.dispose()
