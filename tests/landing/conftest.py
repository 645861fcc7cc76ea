"""Fixtures for the DOI landing page, the DOI/cite/gc commands and the pin guard.

``published`` (module scope, SQLite) is one registry holding one published closure, for the
read-only tests; ``fresh_app`` (per test, SQLite and PostgreSQL when available) is an empty
registry for tests that change state. Both register the landing blueprint when the composition
root does not (yet).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .closure import Closure, build_closure, mint

BASE_URL = "http://registry.test"
HOST = "registry.test"


def make_app(data_dir: Path, database_url: str | None = None, **extra: Any) -> Any:
    from sciregistry.api.landing import bp
    from sciregistry.app import create_app

    config: dict[str, Any] = {
        "data_dir": str(data_dir),
        "auth_enabled": False,
        "storage_fsync": False,
        "testing": True,
        "base_url": BASE_URL,
        **extra,
    }
    if database_url:
        config["database_url"] = database_url
    app = create_app(config)
    if "landing" not in app.blueprints:
        app.register_blueprint(bp)
    return app


@dataclass
class Published:
    app: Any
    client: Any
    closure: Closure
    record: dict[str, Any]

    @property
    def doi(self) -> str:
        return str(self.record["doi"])


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    app = make_app(tmp_path_factory.mktemp("landing") / "data")
    client = app.test_client()
    closure = build_closure(client, host=HOST)
    record = mint(
        client,
        closure,
        title="Read counts of <sample> A & B",
        description="Reads per gene, counted with the example pipeline.",
    )
    yield Published(app, client, closure, record)
    app.extensions["sciregistry"].engine.dispose()


@pytest.fixture
def fresh_app(tmp_path: Path, database_url: str) -> Iterator[Any]:
    app = make_app(tmp_path / "data", database_url)
    yield app
    app.extensions["sciregistry"].engine.dispose()


@dataclass
class Server:
    url: str
    host: str


@pytest.fixture(scope="module")
def cli_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Server]]:
    """An app (no base_url: links follow the request's host) served on 127.0.0.1:<free port> by a
    werkzeug server thread, for the HTTP client commands."""
    from werkzeug.serving import make_server

    app = make_app(tmp_path_factory.mktemp("cli") / "data", base_url="")
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, name="landing-test-server", daemon=True)
    thread.start()
    try:
        yield app, Server(f"http://127.0.0.1:{srv.server_port}", f"127.0.0.1:{srv.server_port}")
    finally:
        srv.shutdown()
        thread.join(timeout=10)
        app.extensions["sciregistry"].engine.dispose()


@pytest.fixture
def no_sciregistry_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """CLI commands read SCIREGISTRY_* and the credentials file: isolate them."""
    import os

    for key in list(os.environ):
        if key.startswith("SCIREGISTRY_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SCIREGISTRY_CONFIG_HOME", str(tmp_path / "client-config"))
