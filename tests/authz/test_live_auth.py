"""Authentication against a live server (gunicorn, auth on) with real clients, then a search of
the database, the logs and every response for the secrets used.

- skopeo ``--creds`` (password, and a robot's API token) pushes to a private repository and reads
  it back; without credentials skopeo is refused (401); a public repository is readable anonymously;
  an anonymous push always fails;
- podman ``--creds`` pushes to the private repository and pulls it back;
- oras-py pushes and pulls with Basic credentials sent directly (``auth_backend="basic"``) and
  through the Docker token flow (password, and an API token as the password);
- passwords and token secrets never appear in the database files, the server log, or any response.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from interop.conftest import ToolEnv, make_tool_env
from interop.oci_image import BuiltImage, build_image_layout, read_layout

from sciregistry.client.runtimes import PODMAN_GLOBAL_FLAGS, podman_store_flags

from .support import sha256

SKOPEO = shutil.which("skopeo")
PODMAN = shutil.which("podman")
SECRETS: dict[str, str] = {
    "admin": "Adm1n-live-secret-7f3e",
    "alice": "Al1ce-live-secret-91c2",
    "bob": "B0b-live-secret-44d0",
    "wrong": "Wr0ng-guess-secret-2b9a",
}


@dataclass
class Live:
    url: str
    host: str
    data_dir: Path
    server: Any
    secrets: dict[str, str]
    responses: list[bytes] = field(default_factory=list)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        r = requests.request(method, self.url + path, timeout=30, **kw)
        self.responses.append(json.dumps(dict(r.headers)).encode() + b"\n" + r.content)
        return r


def _root_conftest() -> Any:
    from registry._support import root_conftest

    return root_conftest()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("liveauth") / "data"
    server = _root_conftest().start_server(
        data_dir, env={"SCIREGISTRY_AUTH_ENABLED": "true", "SCIREGISTRY_ADMIN_PASSWORD": SECRETS["admin"]}
    )
    from sciregistry.app import build_services
    from sciregistry.config import load_config

    svc = build_services(load_config(overrides={"data_dir": str(data_dir)}, environ={}))
    acc = svc.accounts
    acc.create_user("alice", SECRETS["alice"])
    acc.create_user("bob", SECRETS["bob"])
    acc.create_namespace("lab", "alice")
    acc.create_namespace("pub", "alice", public=True)
    acc.create_robot("lab", "ci", "writer")
    secrets = dict(SECRETS)
    secrets["robot_token"] = acc.create_token(
        robot="lab+ci", scopes=["repository:lab/*:pull,push"], expires_in=3600
    ).secret
    secrets["alice_token"] = acc.create_token(user="alice", expires_in=3600).secret
    svc.engine.dispose()
    live = Live(server.url, server.host, data_dir, server, secrets)
    yield live
    server.stop()


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> ToolEnv:
    return make_tool_env(tmp_path_factory.mktemp("authtools"))


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    return build_image_layout(tmp_path_factory.mktemp("authlayout") / "img", "v1")


def _skopeo(tools: ToolEnv, *args: str) -> subprocess.CompletedProcess[str]:
    assert SKOPEO is not None
    cmd = [
        *tools.prefix,
        SKOPEO,
        "--policy",
        str(tools.policy),
        "--registries.d",
        str(tools.registries_d),
        "--registries-conf",
        tools.env["CONTAINERS_REGISTRIES_CONF"],
        "--tmpdir",
        str(tools.tmpdir),
        *args,
    ]
    return subprocess.run(cmd, env=tools.env, capture_output=True, text=True, timeout=180, check=False)


needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed (apt-get install skopeo)")


@needs_skopeo
def test_skopeo_private_push_and_pull(live: Live, tools: ToolEnv, image: BuiltImage, tmp_path: Path) -> None:
    creds = f"alice:{live.secrets['alice']}"
    remote = f"docker://{live.host}/lab/private:v1"
    p = _skopeo(
        tools,
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        "--preserve-digests",
        f"oci:{image.layout}:{image.tag}",
        remote,
    )
    assert p.returncode == 0, p.stderr
    p = _skopeo(tools, "inspect", "--tls-verify=false", "--creds", creds, "--raw", remote)
    assert p.returncode == 0, p.stderr
    assert p.stdout.encode() == image.manifest_bytes
    out = tmp_path / "back"
    p = _skopeo(
        tools,
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        creds,
        "--preserve-digests",
        remote,
        f"oci:{out}:v1",
    )
    assert p.returncode == 0, p.stderr
    back = read_layout(out, "v1")
    assert back.manifest_digest == image.manifest_digest and back.blob_digests == image.blob_digests

    # anonymous: refused with 401, by skopeo and on the wire
    p = _skopeo(tools, "inspect", "--tls-verify=false", "--raw", remote)
    assert p.returncode != 0
    assert "401" in p.stderr or "unauthorized" in p.stderr.lower() or "authentication required" in p.stderr
    r = live.get("/v2/lab/private/manifests/v1")
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    # bob (no role in lab): the repository does not exist for him
    r = live.get("/v2/lab/private/manifests/v1", auth=("bob", live.secrets["bob"]))
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NAME_UNKNOWN"


@needs_skopeo
def test_skopeo_robot_token(live: Live, tools: ToolEnv, image: BuiltImage) -> None:
    creds = f"lab+ci:{live.secrets['robot_token']}"
    remote = f"docker://{live.host}/lab/from-ci:v1"
    p = _skopeo(
        tools,
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        "--preserve-digests",
        f"oci:{image.layout}:{image.tag}",
        remote,
    )
    assert p.returncode == 0, p.stderr
    p = _skopeo(tools, "inspect", "--tls-verify=false", "--creds", creds, "--raw", remote)
    assert p.returncode == 0 and p.stdout.encode() == image.manifest_bytes
    # outside its scope (lab/*) the robot may not push
    p = _skopeo(
        tools,
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        f"oci:{image.layout}:{image.tag}",
        f"docker://{live.host}/pub/from-ci:v1",
    )
    assert p.returncode != 0


@needs_skopeo
def test_public_pull_anonymous_push_refused(live: Live, tools: ToolEnv, image: BuiltImage) -> None:
    creds = f"alice:{live.secrets['alice']}"
    remote = f"docker://{live.host}/pub/open:v1"
    p = _skopeo(
        tools,
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        "--preserve-digests",
        f"oci:{image.layout}:{image.tag}",
        remote,
    )
    assert p.returncode == 0, p.stderr
    p = _skopeo(tools, "inspect", "--tls-verify=false", "--raw", remote)  # anonymous
    assert p.returncode == 0, p.stderr
    assert p.stdout.encode() == image.manifest_bytes
    assert live.get("/v2/pub/open/manifests/v1").status_code == 200
    # anonymous pushes fail, to a public namespace too
    p = _skopeo(
        tools,
        "copy",
        "--dest-tls-verify=false",
        f"oci:{image.layout}:{image.tag}",
        f"docker://{live.host}/pub/anon:v1",
    )
    assert p.returncode != 0
    r = live.request("POST", "/v2/pub/open/blobs/uploads/")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == (
        f'Bearer realm="{live.url}/token",service="sciregistry",scope="repository:pub/open:pull,push"'
    )


def test_podman_private_push_and_pull(live: Live, tools: ToolEnv, image: BuiltImage) -> None:
    if PODMAN is None:
        pytest.skip("podman is not installed (apt-get install podman runc)")
    store = Path(tempfile.mkdtemp(prefix="srpm"))  # podman wants a runroot shorter than 50 characters
    base = [*tools.prefix, PODMAN, *podman_store_flags(store, store / "run"), *PODMAN_GLOBAL_FLAGS]

    def podman(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], env=tools.env, capture_output=True, text=True, timeout=180, check=False
        )

    info = podman("info", "--format", "json")
    if info.returncode != 0:
        pytest.skip(f"podman cannot run here: {info.stderr.strip()[:300]}")
    try:
        loaded = podman("pull", "--quiet", f"oci:{image.layout}:{image.tag}")
        assert loaded.returncode == 0, loaded.stderr
        image_id = loaded.stdout.split()[-1]
        ref = f"{live.host}/lab/podman:v1"
        creds = f"alice:{live.secrets['alice']}"
        p = podman("push", "--tls-verify=false", "--creds", creds, image_id, f"docker://{ref}")
        assert p.returncode == 0, p.stderr
        podman("rmi", "--all", "--force")
        p = podman("pull", "--tls-verify=false", ref)  # anonymous: refused
        assert p.returncode != 0
        p = podman("pull", "--tls-verify=false", "--creds", creds, ref)
        assert p.returncode == 0, p.stderr
        assert p.stdout.split()[-1] == image_id  # the same config: the same image
    finally:
        podman("rmi", "--all", "--force")
        shutil.rmtree(store, ignore_errors=True)


def _oras(live: Live, backend: str, user: str, password: str) -> Any:
    import oras.provider

    class FastRegistry(oras.provider.Registry):  # type: ignore[misc]
        do_request = oras.provider.Registry.do_request.__wrapped__  # no retry loop

    reg = FastRegistry(live.host, insecure=True, auth_backend=backend)
    reg.session.request = functools.partial(reg.session.request, timeout=30)
    reg.auth.set_basic_auth(user, password)
    return reg


@pytest.mark.parametrize(
    ("backend", "who"),
    [("basic", "alice"), ("token", "alice"), ("token", "alice_token"), ("basic", "robot_token")],
)
def test_oras_py_push_and_pull(
    live: Live, backend: str, who: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.docker/config.json
    user = {"alice": "alice", "alice_token": "alice", "robot_token": "lab+ci"}[who]
    password = live.secrets[who]
    src = tmp_path / "src"
    src.mkdir()
    files = {"results.tsv": f"gene\tcount\nBRCA1\t{len(who)}\n".encode(), "notes.txt": who.encode() * 100}
    for name, data in files.items():
        (src / name).write_bytes(data)
    target = f"{live.host}/lab/oras-{backend}-{who.replace('_', '-')}:v1"
    reg = _oras(live, backend, user, password)
    resp = reg.push(
        target=target, files=[str(src / n) for n in files], disable_path_validation=True, quiet=True
    )
    assert resp.status_code == 201
    out = tmp_path / "out"
    paths = _oras(live, backend, user, password).pull(target=target, outdir=str(out))
    assert sorted(Path(p).name for p in paths) == sorted(files)
    for name, data in files.items():
        assert (out / name).read_bytes() == data
    repo = target.split("/", 1)[1].split(":")[0]
    r = live.get(f"/v2/{repo}/manifests/v1")
    assert r.status_code == 401  # private to anonymous


def test_oras_py_wrong_password_fails(live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "f.txt").write_text("x")
    reg = _oras(live, "token", "alice", live.secrets["wrong"])
    with pytest.raises(Exception):  # noqa: B017 - oras-py raises its own kinds
        reg.push(
            target=f"{live.host}/lab/never:v1",
            files=[str(tmp_path / "f.txt")],
            disable_path_validation=True,
            quiet=True,
        )
    r = live.get("/token?scope=repository:lab/never:pull", auth=("alice", live.secrets["wrong"]))
    assert r.status_code == 401


def test_audit_cli_on_live_data(live: Live) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIREGISTRY_")}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "sciregistry",
            "audit",
            "--json",
            "--limit",
            "500",
            "--data-dir",
            str(live.data_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    entries = json.loads(p.stdout)
    actions = {(e["action"], e["outcome"]) for e in entries}
    assert {("manifest.push", "ok"), ("blob.push", "ok"), ("auth.failure", "failure")} <= actions
    assert all(e["address"] in ("127.0.0.1", "local") for e in entries)
    pushes = [e for e in entries if e["action"] == "manifest.push" and e["target"].startswith("lab/private@")]
    assert pushes and pushes[-1]["principal"] == "alice"


def test_secrets_never_stored_logged_or_returned(live: Live) -> None:
    """Run last in this module: grep the data directory (database, WAL), the server log and every
    response seen for each password and token secret (raw, and Base64 inside Basic headers)."""
    live.get("/v2/", auth=("alice", live.secrets["alice"]))
    live.get("/token?scope=repository:lab/private:pull", auth=("alice", live.secrets["alice"]))
    live.get("/token?scope=repository:lab/private:pull", auth=("alice", live.secrets["alice_token"]))
    live.get("/v2/lab/private/tags/list", headers={"Authorization": f"Bearer {live.secrets['robot_token']}"})
    live.get("/v2/", auth=("bob", live.secrets["wrong"]))
    live.get("/v2/", headers={"Authorization": "Basic !!!" + live.secrets["wrong"]})
    needles: dict[str, bytes] = {}
    for name, secret in live.secrets.items():
        needles[name] = secret.encode()
        needles[name + " (basic)"] = base64.b64encode(f"alice:{secret}".encode())
        needles[name + " (random part)"] = secret.encode()[-20:]
    haystacks: dict[str, bytes] = {}
    for path in live.data_dir.rglob("*"):
        if path.is_file():
            haystacks[str(path.relative_to(live.data_dir))] = path.read_bytes()
    assert any(k.startswith("registry.db") for k in haystacks)
    haystacks["server log"] = "\n".join(live.server.log).encode()
    haystacks["responses"] = b"\n".join(live.responses)
    assert len(live.responses) >= 6
    found = [(n, h) for n, needle in needles.items() for h, hay in haystacks.items() if needle in hay]
    assert found == []
    # the hashes are there instead
    db = haystacks["registry.db"] + haystacks.get("registry.db-wal", b"")
    assert b"$argon2id$" in db
    token_id = live.secrets["robot_token"].split("_")[1]
    assert token_id.encode() in db and sha256(live.secrets["robot_token"].encode()).encode() in db
