"""Shared fixtures for the auth unit tests (no database, no Flask)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sciregistry.auth.jwt import KeyStore


class FakeClock:
    """A settable clock: ``clock()`` returns ``clock.now``; ``clock.advance(s)`` moves it."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ec_store(tmp_path: Path, clock: FakeClock) -> KeyStore:
    """A P-256 store (key generation is instantaneous) with an injected clock and no leeway."""
    return KeyStore(tmp_path / "data", key_type="ec", leeway=0, clock=clock)


@pytest.fixture(scope="module")
def rsa_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One RSA key per module (generation takes ~0.1 s)."""
    d = tmp_path_factory.mktemp("rsa")
    KeyStore(d, key_type="rsa").load()  # create the key
    return d


@pytest.fixture
def rsa_store(rsa_data_dir: Path, clock: FakeClock) -> KeyStore:
    return KeyStore(rsa_data_dir, leeway=0, clock=clock)


@pytest.fixture(params=["ec", "rsa"])
def store(request: pytest.FixtureRequest) -> KeyStore:
    """Both key types."""
    store: KeyStore = request.getfixturevalue(f"{request.param}_store")
    return store
