"""Fixtures of the web page tests: an app with authentication on, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .world import World, build_world


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One registry per module and database (building it pushes three closures: seconds); the
    tests that change it (tags, tokens, users) leave the rest of the world as it was."""
    from cli_commands import root_conftest

    from sciregistry.app import create_app

    tmp = tmp_path_factory.mktemp("web")
    url = f"sqlite:///{tmp}/registry.db"
    if request.param == "postgresql":
        root = root_conftest()
        reason = root.postgres_unavailable()
        if reason:
            pytest.skip(reason)
        root.reset_postgres()
        url = root.POSTGRES_URL
    app = create_app(
        {
            "data_dir": str(tmp / "data"),
            "auth_enabled": True,
            "storage_fsync": False,
            "testing": True,
            "database_url": url,
            "base_url": "http://registry.test",
        }
    )
    try:
        yield build_world(app)
    finally:
        app.extensions["sciregistry"].engine.dispose()


def csrf(client: Any, path: str = "/") -> str:
    """The CSRF token of the client's session (after a page set it)."""
    import re

    page = client.get(path).get_data(as_text=True)
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m, page[:500]
    return m.group(1)
