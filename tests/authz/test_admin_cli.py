"""The admin CLI (``sciregistry user|namespace|repo|robot|token|audit``) and the first start of ``serve``."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sciregistry.cli import main

from .support import basic, bearer, make_app

ENV = {
    "SCIREGISTRY_TESTING": "true",
    "SCIREGISTRY_STORAGE_FSYNC": "false",
    "SCIREGISTRY_AUTH_ENABLED": "true",
}


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    runner = CliRunner()
    data = str(tmp_path / "data")

    def run(*args: str, input: str | None = None, ok: bool = True) -> Any:
        result = runner.invoke(
            main, [*args, "--data-dir", data], input=input, env=ENV, catch_exceptions=False
        )
        if ok:
            assert result.exit_code == 0, result.output
        return result

    run.data = data  # type: ignore[attr-defined]
    return run


def test_users_namespaces_robots_tokens(cli: Any, tmp_path: Path) -> None:
    assert (
        cli("user", "add", "alice", "--password-stdin", input="alice-secret-pw\n").stdout
        == "created user alice with namespace alice\n"
    )
    out = cli("user", "add", "root2", "--admin").stdout.splitlines()
    assert out[0] == "created user root2 (admin) with namespace root2"
    assert out[1].startswith("password: ") and len(out[1]) > 30
    cli("user", "add", "bob", "--password-stdin", input="bob-secret-pw\n")
    assert (
        cli("namespace", "create", "lab-x", "--owner", "alice").stdout
        == "created private namespace lab-x owned by alice\n"
    )
    assert cli("namespace", "grant", "lab-x", "bob", "reader").stdout == "bob is reader of lab-x\n"
    assert cli("namespace", "create", "open", "--owner", "bob", "--public").stdout.startswith(
        "created public"
    )
    assert cli("robot", "create", "lab-x", "ci").stdout == "created robot lab-x+ci (writer of lab-x)\n"
    namespaces = json.loads(cli("namespace", "list", "--json").stdout)
    assert [n["name"] for n in namespaces] == ["alice", "bob", "lab-x", "open", "root2"]
    labx = next(n for n in namespaces if n["name"] == "lab-x")
    assert labx == {
        "name": "lab-x",
        "public": False,
        "personal": False,
        "members": {"alice": "owner", "bob": "reader"},
        "robots": {"lab-x+ci": "writer"},
    }
    users = json.loads(cli("user", "list", "--json").stdout)
    assert [(u["name"], u["admin"], u["disabled"]) for u in users] == [
        ("alice", False, False),
        ("bob", False, False),
        ("root2", True, False),
    ]
    assert users[1]["namespaces"] == {"bob": "owner", "lab-x": "reader", "open": "owner"}

    created = json.loads(
        cli(
            "token",
            "create",
            "--robot",
            "lab-x+ci",
            "--scope",
            "repository:lab-x/*:pull,push",
            "--expires",
            "30d",
            "--description",
            "CI",
            "--json",
        ).stdout
    )
    secret = created["secret"]
    assert secret.startswith(f"sr_{created['id']}_")
    assert (created["kind"], created["owner"], created["scopes"]) == (
        "robot",
        "lab-x+ci",
        ["repository:lab-x/*:pull,push"],
    )
    plain = cli("token", "create", "--user", "alice", "--expires", "12h")
    assert (
        plain.stdout.strip().startswith("sr_") and len(plain.stdout.strip()) == 66
    )  # stdout: the secret only
    listing = cli("token", "list").stdout
    assert created["id"] in listing and secret not in listing
    assert cli("token", "revoke", created["id"]).stdout == f"revoked token {created['id']}\n"
    assert created["id"] not in cli("token", "list").stdout
    assert created["id"] in cli("token", "list", "--all").stdout

    # the server sees all of it
    app = make_app(tmp_path)
    c = app.test_client()
    assert c.get("/v2/", headers=basic("alice", "alice-secret-pw")).status_code == 200
    assert c.get("/v2/", headers=bearer(secret)).status_code == 401  # revoked
    assert c.post("/v2/lab-x/x/blobs/uploads/", headers=basic("bob", "bob-secret-pw")).status_code == 403

    cli("user", "disable", "bob")
    app.extensions[
        "sciregistry"
    ].gate.clear_caches()  # another process changed it: seen once the cache expires
    assert c.get("/v2/", headers=basic("bob", "bob-secret-pw")).status_code == 401
    cli("user", "enable", "bob")
    cli("user", "passwd", "bob", "--password-stdin", input="bob-new-password\n")
    app.extensions["sciregistry"].gate.clear_caches()
    assert c.get("/v2/", headers=basic("bob", "bob-new-password")).status_code == 200
    assert c.get("/v2/", headers=basic("bob", "bob-secret-pw")).status_code == 401

    audit = json.loads(cli("audit", "--json", "--limit", "100").stdout)
    actions = [(e["action"], e["target"]) for e in reversed(audit) if e["principal"].startswith("cli")]
    assert actions[:6] == [
        ("user.create", "alice"),
        ("user.create", "root2"),
        ("user.create", "bob"),
        ("namespace.create", "lab-x"),
        ("namespace.grant", "lab-x"),
        ("namespace.create", "open"),
    ]
    assert ("token.revoke", created["id"]) in actions
    assert ("user.passwd", "bob") in actions
    failures = json.loads(cli("audit", "--json", "--action", "auth.failure").stdout)
    assert {f["detail"]["reason"] for f in failures} >= {"revoked", "disabled", "bad-password"}
    text = cli("audit", "--limit", "1").stdout
    assert "auth.failure" in text or "user.passwd" in text


def test_visibility_commands(cli: Any, tmp_path: Path) -> None:
    cli("user", "add", "alice", "--password-stdin", input="alice-secret-pw\n")
    cli("namespace", "create", "lab", "--owner", "alice")
    app = make_app(tmp_path)
    c = app.test_client()
    from .support import push_image

    push_image(c, "lab/x", "v1", basic("alice", "alice-secret-pw"))
    assert c.get("/v2/lab/x/manifests/v1").status_code == 401
    assert cli("repo", "set-visibility", "lab/x", "public").stdout == "repository lab/x is public\n"
    app.extensions["sciregistry"].gate.clear_caches()
    assert c.get("/v2/lab/x/manifests/v1").status_code == 200
    assert (
        cli("repo", "set-visibility", "lab/x", "inherit").stdout
        == "repository lab/x is private (inherited)\n"
    )
    cli("namespace", "set-visibility", "lab", "public")
    app.extensions["sciregistry"].gate.clear_caches()
    assert c.get("/v2/lab/x/manifests/v1").status_code == 200


def test_cli_errors(cli: Any) -> None:
    r = cli("token", "create", "--user", "ghost", ok=False)
    assert r.exit_code == 1 and "no user 'ghost'" in r.output
    r = cli("token", "create", "--user", "ghost", "--expires", "soon", ok=False)
    assert r.exit_code == 2 and "invalid duration" in r.output
    r = cli("token", "create", ok=False)
    assert r.exit_code == 2 and "exactly one of" in r.output
    r = cli("user", "add", "Bad Name", "--password-stdin", input="long-enough-pw\n", ok=False)
    assert r.exit_code == 1 and "invalid user name" in r.output
    r = cli("user", "add", "shorty", "--password-stdin", input="short\n", ok=False)
    assert r.exit_code == 1 and "at least 8" in r.output
    cli("user", "add", "alice", "--password-stdin", input="alice-secret-pw\n")
    r = cli("user", "add", "alice", "--password-stdin", input="alice-secret-pw\n", ok=False)
    assert r.exit_code == 1 and "CONFLICT" in r.output


def test_first_start_creates_admin_once(tmp_path: Path) -> None:
    from sciregistry.cli.first_start import first_start

    app = make_app(tmp_path)
    svc = app.extensions["sciregistry"]
    out = io.StringIO()
    password = first_start(svc.accounts, svc.keys, svc.config.data_dir, out=out)
    assert password is not None and len(password) >= 20
    path = Path(svc.config.data_dir) / "admin-password"
    assert path.read_text() == password + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert out.getvalue().count(password) == 1
    assert (Path(svc.config.data_dir) / "keys" / "jwt-signing.pem").exists()
    assert [(u.name, u.is_admin) for u in svc.accounts.list_users()] == [("admin", True)]
    c = app.test_client()
    assert c.post("/api/v1/gc?dry_run=true", headers=basic("admin", password)).status_code == 200
    # a second start changes nothing and prints nothing
    out2 = io.StringIO()
    assert first_start(svc.accounts, svc.keys, svc.config.data_dir, out=out2) is None
    assert out2.getvalue() == "" and path.read_text() == password + "\n"


def test_first_start_with_given_password(tmp_path: Path) -> None:
    from sciregistry.cli.first_start import first_start

    app = make_app(tmp_path)
    svc = app.extensions["sciregistry"]
    out = io.StringIO()
    assert first_start(svc.accounts, svc.keys, svc.config.data_dir, "given-admin-pw", out=out) is None
    assert out.getvalue() == ""
    assert not (Path(svc.config.data_dir) / "admin-password").exists()
    assert app.test_client().get("/v2/", headers=basic("admin", "given-admin-pw")).status_code == 200
