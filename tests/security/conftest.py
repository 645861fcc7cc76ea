"""One live registry (gunicorn, two workers, authentication on) shared by the security tests.

Users ``alice`` and ``bob`` each own their private personal namespace; ``admin`` is the
administrator. Every caller signs in with an API token (``Authorization: Bearer sr_...``), so no
test pays for Argon2. Tests that change visibility or roles use repositories of their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .support import World, start_world


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = start_world(tmp_path_factory.mktemp("security") / "data")
    try:
        yield w
    finally:
        w.close()
