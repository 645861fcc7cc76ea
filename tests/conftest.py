"""Shared fixtures: apps on SQLite and PostgreSQL, live servers (real gunicorn) on 127.0.0.1:0."""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Flask test clients read each response to the end and close it, as a WSGI server does.

    Unbuffered (Flask's default), a response streamed from a blob file that a test does not read to
    the end keeps the file open until garbage collection: a ResourceWarning, an error here."""
    from flask import Flask
    from flask.testing import FlaskClient

    class BufferedClient(FlaskClient):
        def open(self, *args: Any, buffered: bool = True, **kwargs: Any) -> Any:
            return super().open(*args, buffered=buffered, **kwargs)

    Flask.test_client_class = BufferedClient


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules with a test marked ``slow`` come first, each module's tests still in their order.

    Under pytest-xdist (``make test``: ``--dist loadfile``) every module goes whole to the next free
    worker in collection order; a long module handed out last (the schemathesis fuzz, over two
    minutes) would keep one worker busy while the others sit idle at the end."""
    slow = {item.nodeid.split("::", 1)[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] not in slow)


BASE_POSTGRES_URL = os.environ.get(
    "SCIREGISTRY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _worker_postgres_url(base: str) -> str:
    """The database this pytest process owns: ``base`` itself, or ``<base>_gw<N>`` under pytest-xdist.

    The fixtures below empty or drop the schema of their database before each test, so two worker
    processes must never share one; each gets a sibling database on the same server (created on first
    use by :func:`_postgres_reason`)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return base
    from sqlalchemy.engine import make_url

    url = make_url(base)
    return url.set(database=f"{url.database}_{worker}").render_as_string(hide_password=False)


# (tests that create a database of their own connect to the base one to do it)
POSTGRES_URL = _worker_postgres_url(BASE_POSTGRES_URL)


def _create_worker_database() -> None:
    """Create this worker's database beside the base one when it does not exist yet."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(POSTGRES_URL).database
    eng = create_engine(BASE_POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with eng.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if exists is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        eng.dispose()


def _postgres_reason() -> str | None:
    try:
        import psycopg  # noqa: F401
        from sqlalchemy import create_engine, text
    except ImportError as exc:
        return f"psycopg not installed: {exc}"
    try:
        if POSTGRES_URL != BASE_POSTGRES_URL:
            _create_worker_database()
        eng = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
    except Exception as exc:
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.__class__.__name__}"
    return None


_PG_REASON: str | bool | None = False


def postgres_unavailable() -> str | None:
    global _PG_REASON
    if _PG_REASON is False:
        _PG_REASON = _postgres_reason()
    return _PG_REASON  # type: ignore[return-value]


def reset_postgres() -> None:
    """Drop every table of the test database so each test starts from an empty schema."""
    from sqlalchemy import create_engine, text

    eng = create_engine(POSTGRES_URL)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()


def empty_postgres() -> None:
    """Empty every table of the test database, or drop the schema when it is not at the code's head.

    TRUNCATE of a migrated schema takes milliseconds; dropping it makes the next ``create_app`` run
    every migration again (about a second). A test that moved the schema off head (or left none)
    gets the full reset."""
    from sqlalchemy import create_engine, text

    from sciregistry.db.revision import database_revisions, head_revisions

    eng = create_engine(POSTGRES_URL)
    try:
        with eng.begin() as conn:
            if database_revisions(conn) == head_revisions():
                tables = conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
                ).scalars()
                names = ", ".join(f'public."{t}"' for t in tables if t != "alembic_version")
                if names:
                    conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                return
    finally:
        eng.dispose()
    reset_postgres()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once per session; each test gets a copy (a fresh migration
    per test costs 0.3-1 s, a copy a few milliseconds)."""
    import sqlite3

    from sciregistry.app import create_app

    tmp = tmp_path_factory.mktemp("sqlite-template")
    app = create_app(make_config(tmp, database_url=f"sqlite:///{tmp}/migrated.db"))
    app.extensions["sciregistry"].engine.dispose()
    template = tmp / "template.db"
    src, dst = sqlite3.connect(tmp / "migrated.db"), sqlite3.connect(template)
    try:
        src.backup(dst)  # one self-contained file, whatever is still in the write-ahead log
    finally:
        src.close()
        dst.close()
    return template


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database at the schema's head: SQLite (a copy of ``sqlite_template``) or PostgreSQL."""
    if request.param == "sqlite":
        import shutil

        shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp_path / "registry.db")
        return f"sqlite:///{tmp_path}/registry.db"
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    empty_postgres()
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema at all, for tests that migrate step by step (SQLite or PostgreSQL)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/empty.db"
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    reset_postgres()
    return POSTGRES_URL


def make_config(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {
        "data_dir": str(tmp_path / "data"),
        "auth_enabled": False,
        "storage_fsync": False,
        "testing": True,
        **extra,
    }


@pytest.fixture
def app(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    from sciregistry.app import create_app

    application = create_app(make_config(tmp_path, database_url=database_url))
    yield application
    application.extensions["sciregistry"].engine.dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


# --- live servers ---------------------------------------------------------------------------------


@dataclass
class LiveServer:
    url: str
    port: int
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log: list[str] = field(default_factory=list)
    log_dropped: int = 0  # lines dropped from the front of ``log`` (it keeps the last few thousand)
    drain: threading.Thread | None = None  # reads the server's output into ``log``

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_mark(self) -> int:
        """A position in the server's output, for :meth:`log_since` (tests sharing a server)."""
        return self.log_dropped + len(self.log)

    def log_since(self, mark: int) -> list[str]:
        """The output lines after ``mark`` (those still kept)."""
        return list(self.log)[max(0, mark - self.log_dropped) :]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.drain is not None:
            self.drain.join(timeout=5)  # the output pipe ends when the server's process group has exited
        if self.proc.stdout is not None and (self.drain is None or not self.drain.is_alive()):
            self.proc.stdout.close()


def start_server(
    data_dir: Path,
    *,
    env: dict[str, str] | None = None,
    workers: int = 2,
    extra_args: list[str] | None = None,
    timeout: float = 60,
) -> LiveServer:
    """Run ``sciregistry serve --port 0`` in its own process group and wait for every worker."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SCIREGISTRY_")}
    full_env.update(
        {
            "SCIREGISTRY_AUTH_ENABLED": "false",
            "SCIREGISTRY_STORAGE_FSYNC": "false",
            "PYTHONUNBUFFERED": "1",
            # no background vulnerability scanner: it would attach SBOM/report referrers to
            # pushed images and read their layers while a test measures (env can turn it on)
            "SCIREGISTRY_SCAN_IN_SERVER": "false",
        }
    )
    full_env.update(env or {})
    cmd = [
        sys.executable,
        "-m",
        "sciregistry",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        "--workers",
        str(workers),
        *(extra_args or []),
    ]
    proc = subprocess.Popen(
        cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    assert proc.stdout is not None
    port, booted, lines = None, 0, []
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline and (port is None or booted < workers):
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        buf += chunk
        *complete, buf = buf.split(b"\n")
        for raw in complete:
            line = raw.decode(errors="replace")
            lines.append(line)
            m = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
            if "Booting worker" in line:
                booted += 1
    if port is None or booted < workers:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        raise RuntimeError("server did not start:\n" + "\n".join(lines[-40:]))
    # keep draining output in the background so the pipe never fills
    server = LiveServer(f"http://127.0.0.1:{port}", port, data_dir, proc, lines)

    def _drain() -> None:
        for raw in proc.stdout:  # type: ignore[union-attr]
            server.log.append(raw.decode(errors="replace").rstrip())
            if len(server.log) > 5000:
                del server.log[:1000]
                server.log_dropped += 1000

    server.drain = threading.Thread(target=_drain, daemon=True)
    server.drain.start()
    _wait_http(server.url + "/healthz", deadline)
    return server


def _wait_http(url: str, deadline: float) -> None:
    import urllib.request

    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server (default configuration, 2 workers) for the whole session.

    For tests that only read, or write in repositories no other module uses, and never look at
    registry-wide state (the catalogue, every run, the server log) or stop the server: a start-up
    costs 2-6 s. Tests that need their own configuration or a fresh registry, or that stop or kill
    the server, use ``live_server`` (one per module) or ``start_server``.
    """
    server = start_server(tmp_path_factory.mktemp("shared") / "data")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A fresh live server for one test module (default configuration, 2 workers)."""
    server = start_server(tmp_path_factory.mktemp("live") / "data")
    yield server
    server.stop()
