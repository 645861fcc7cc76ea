"""#10 proxies and hosts: who a client is, and the registry's own URL, are never taken from headers
an untrusted peer chose.

- behind the documented same-host nginx (``trusted_proxies = "127.0.0.1"``) the login throttle keys
  on the client's address from X-Forwarded-For, so one attacker cannot lock everybody out;
- without ``trusted_proxies`` (the default), X-Forwarded-For/Proto are ignored: an attacker cannot
  escape the throttle by inventing addresses, nor change the scheme;
- ``Host: evil.example`` moves neither the token realm nor a landing page's links.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import LiveServer, start_server

ADMIN_PASSWORD = "correct horse battery staple 10"


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _auth_server(data_dir: Path, **env: str) -> LiveServer:
    return start_server(
        data_dir,
        env={
            "SCIREGISTRY_AUTH_ENABLED": "true",
            "SCIREGISTRY_TESTING": "true",
            "SCIREGISTRY_ADMIN_PASSWORD": ADMIN_PASSWORD,
            **env,
        },
    )


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = _auth_server(
        tmp_path_factory.mktemp("proxied") / "data", SCIREGISTRY_TRUSTED_PROXIES="127.0.0.1"
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = _auth_server(tmp_path_factory.mktemp("direct") / "data")
    yield server
    server.stop()


def _login(server: LiveServer, user: str, password: str, headers: dict[str, str] | None = None) -> int:
    r = requests.get(server.url + "/v2/", headers={**_basic(user, password), **(headers or {})}, timeout=10)
    return r.status_code


def test_throttle_keys_on_the_client_behind_a_trusted_proxy(behind_proxy: LiveServer) -> None:
    attacker = {"X-Forwarded-For": "203.0.113.66"}
    codes = [_login(behind_proxy, f"guess{i}", "wrong", attacker) for i in range(21)]
    assert 429 in codes, codes  # the attacker is throttled ...
    # ... and only the attacker: another client behind the same proxy logs in
    assert _login(behind_proxy, "admin", ADMIN_PASSWORD, {"X-Forwarded-For": "198.51.100.7"}) == 200
    # nginx's $proxy_add_x_forwarded_for appends the peer it saw: the last entry is the client, and
    # an entry the attacker put in front changes nothing
    spoofed = {"X-Forwarded-For": "198.51.100.7, 203.0.113.66"}
    assert _login(behind_proxy, "someone", "wrong", spoofed) == 429
    assert _login(behind_proxy, "someone", "wrong", {"X-Forwarded-For": "198.51.100.7"}) == 401


def test_forwarded_headers_from_untrusted_peers_are_ignored(direct: LiveServer) -> None:
    codes = [_login(direct, f"guess{i}", "wrong", {"X-Forwarded-For": f"192.0.2.{i}"}) for i in range(21)]
    assert codes[-1] == 429, codes  # inventing addresses does not escape the throttle
    r = requests.get(direct.url + "/v2/", headers={"X-Forwarded-Proto": "https"}, timeout=10)
    assert r.status_code == 401
    assert f'realm="http://127.0.0.1:{direct.port}/token"' in r.headers["WWW-Authenticate"]


def test_forwarded_proto_from_a_trusted_proxy_is_honoured(behind_proxy: LiveServer) -> None:
    r = requests.get(behind_proxy.url + "/v2/", headers={"X-Forwarded-Proto": "https"}, timeout=10)
    assert f'realm="https://127.0.0.1:{behind_proxy.port}/token"' in r.headers["WWW-Authenticate"]


@pytest.mark.parametrize("fixture", ["direct", "behind_proxy"])
def test_host_header_does_not_move_the_token_realm(fixture: str, request: pytest.FixtureRequest) -> None:
    server: LiveServer = request.getfixturevalue(fixture)
    for headers in ({"Host": "evil.example"}, {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}):
        r = requests.get(server.url + "/v2/", headers=headers, timeout=10)
        assert r.status_code == 401
        challenge = r.headers["WWW-Authenticate"]
        assert "evil.example" not in challenge
        assert f"127.0.0.1:{server.port}/token" in challenge


def test_configured_base_url_is_the_realm(tmp_path: Path) -> None:
    from sciregistry.app import create_app

    app = create_app(
        {
            "data_dir": str(tmp_path / "d"),
            "auth_enabled": True,
            "testing": True,
            "storage_fsync": False,
            "base_url": "https://registry.example.org",
        }
    )
    r = app.test_client().get("/v2/", headers={"Host": "evil.example"})
    assert 'realm="https://registry.example.org/token"' in r.headers["WWW-Authenticate"]
    app.extensions["sciregistry"].engine.dispose()


def test_landing_page_links_ignore_the_host_header(client: Any) -> None:
    from tests.landing.closure import build_closure, mint

    closure = build_closure(client)
    record = mint(client, closure)
    page = client.get(f"/doi/{record['doi']}", headers={"Host": "evil.example", "Accept": "text/html"})
    assert page.status_code == 200
    assert b"evil.example" not in page.data
    assert "evil.example" not in page.headers.get("Link", "")
    assert b"http://localhost/doi/" in page.data  # the address the (test) server listens on


def test_audit_log_does_not_grow_with_repeated_failed_logins(tmp_path: Path) -> None:
    """Failed and throttled logins from one address fold into a few rows with a repeat count."""
    from sciregistry.app import create_app

    app = create_app(
        {
            "data_dir": str(tmp_path / "d"),
            "auth_enabled": True,
            "testing": True,
            "storage_fsync": False,
            "admin_password": ADMIN_PASSWORD,
        }
    )
    client = app.test_client()
    accounts = app.extensions["sciregistry"].accounts
    for i in range(60):
        client.get("/v2/", headers=_basic(f"user{i % 7}", "wrong"))
    entries = [e for e in accounts.audit_log(1000) if e.action == "auth.failure"]
    assert len(entries) <= 4, [(e.target, e.detail) for e in entries]
    assert sum(e.detail["repeats"] for e in entries) == 60
    reasons = {e.detail["reason"] for e in entries}
    assert "throttled" in reasons
    # another address gets its own row; the attacker's rows still say who was targeted
    client.get("/v2/", headers=_basic("user0", "wrong"), environ_base={"REMOTE_ADDR": "10.9.9.9"})
    entries = [e for e in accounts.audit_log(1000) if e.action == "auth.failure"]
    assert {e.address for e in entries} == {"127.0.0.1", "10.9.9.9"}
    assert any("user:user3" in e.detail["targets"] for e in entries)
    app.extensions["sciregistry"].engine.dispose()
