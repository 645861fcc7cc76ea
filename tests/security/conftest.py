"""One live registry (gunicorn, two workers, authentication on) shared by the security tests.

On SQLite and, when reachable, on PostgreSQL. Users ``alice`` and ``bob`` each own their private
personal namespace; ``admin`` is the administrator. Every caller signs in with an API token
(``Authorization: Bearer sr_...``), so no test pays for Argon2. Tests that change visibility or
roles use repositories of their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .support import World, start_world


@pytest.fixture(scope="package", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    database_url = None
    if request.param == "postgresql":
        from cli_commands import root_conftest

        root = root_conftest()
        reason = root.postgres_unavailable()
        if reason:
            pytest.skip(reason)
        root.reset_postgres()
        database_url = root.POSTGRES_URL
    w = start_world(tmp_path_factory.mktemp("security") / "data", database_url)
    try:
        yield w
    finally:
        w.close()
