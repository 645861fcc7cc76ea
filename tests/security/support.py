"""Helpers for tests/security: a live auth-enabled registry, an HTTP client per principal with the
Flask-test-client surface the closure helpers of ``tests/landing/closure.py`` expect, and run
crates that name whatever a test wants them to name."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from landing.closure import File, Pushed, _empty_config, _layer, push_artifact, push_image

from sciregistry.oci import artifacts
from sciregistry.provenance import Agent, FileRef, ImageRef, InputRef, Parameter, RunRecord, build_run_crate

ADMIN_PASSWORD = "Adm1n-security-secret-5c1d"
#: the server caches visibility for 2 s and principals for 5 s; changes made by another process
#: (these tests, like the admin CLI) are seen within that
SETTLE = 6.0


class Resp:
    """A requests response with the Flask test client's accessors."""

    def __init__(self, r: requests.Response) -> None:
        self.r = r
        self.status_code = r.status_code
        self.headers = r.headers
        self.data = r.content

    def get_json(self) -> Any:
        try:
            return self.r.json()
        except ValueError:
            return None

    def get_data(self, as_text: bool = False) -> Any:
        return self.r.text if as_text else self.r.content

    def __repr__(self) -> str:
        return f"<{self.status_code} {self.r.text[:300]!r}>"


class Http:
    """Requests against the live server as one principal (``token``: an API token, or a JWT)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kw: Any) -> Resp:
        url = path if path.startswith("http") else self.url + path
        return Resp(self.session.request(method, url, timeout=60, allow_redirects=False, **kw))

    def get(self, path: str, **kw: Any) -> Resp:
        return self.request("GET", path, **kw)

    def head(self, path: str, **kw: Any) -> Resp:
        return self.request("HEAD", path, **kw)

    def post(self, path: str, **kw: Any) -> Resp:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Resp:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Resp:
        return self.request("DELETE", path, **kw)


@dataclass
class World:
    server: Any
    data_dir: Path
    accounts: Any
    engine: Any
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return str(self.server.url)

    @property
    def host(self) -> str:
        return str(self.server.host)

    def as_(self, who: str | None) -> Http:
        return Http(self.url, self.tokens[who] if who else None)

    def close(self) -> None:
        self.server.stop()
        self.engine.dispose()


def start_world(data_dir: Path, database_url: str | None = None) -> World:
    from cli_commands import root_conftest

    from sciregistry.app import build_services
    from sciregistry.config import load_config

    env = {"SCIREGISTRY_AUTH_ENABLED": "true", "SCIREGISTRY_ADMIN_PASSWORD": ADMIN_PASSWORD}
    overrides = {"data_dir": str(data_dir)}
    if database_url:
        env["SCIREGISTRY_DATABASE_URL"] = overrides["database_url"] = database_url
    server = root_conftest().start_server(data_dir, env=env)
    svc = build_services(load_config(overrides=overrides, environ={}))
    acc = svc.accounts
    tokens = {"admin": acc.create_token(user="admin", expires_in=3600).secret}
    for name in ("alice", "bob"):
        acc.create_user(name, None)
        tokens[name] = acc.create_token(user=name, expires_in=3600).secret
    return World(server, data_dir, acc, svc.engine, tokens)


def wait_for(check: Callable[[], bool], timeout: float = 12.0, step: float = 0.25) -> bool:
    """Poll ``check`` until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


def error(resp: Resp) -> dict[str, Any]:
    body = resp.get_json() or {}
    return (body.get("errors") or [{}])[0]  # type: ignore[no-any-return]


# --- content -------------------------------------------------------------------------------------


def dataset(client: Http, repository: str, tag: str, seed: str) -> tuple[Pushed, list[File]]:
    files = [File("reads.fq", f"@r1 {seed}\nACGT\n+\nIIII\n".encode(), "text/plain")]
    return push_artifact(client, repository, tag, artifacts.DATASET, files), files


def result(client: Http, repository: str, tag: str, seed: str) -> tuple[Pushed, list[File]]:
    files = [
        File("counts.tsv", f"gene\tcount\nX\t{len(seed)}\n{seed}\n".encode(), "text/tab-separated-values")
    ]
    return push_artifact(client, repository, tag, artifacts.RESULT, files), files


def image(client: Http, repository: str, tag: str, seed: str) -> Pushed:
    return push_image(client, repository, tag, seed=seed)


@dataclass(frozen=True)
class Input:
    name: str
    repository: str
    digest: str
    files: list[File] = field(default_factory=list)


def crate_manifest(
    host: str,
    result_repo: str,
    result_: Pushed,
    outputs: list[File],
    *,
    image_repo: str,
    image_digest: str,
    inputs: list[Input],
    command: str = "count --k {k} /in/reads /out",
    parameters: list[Parameter] | None = None,
    name: str = "count",
    agent: str = "Bob Builder",
) -> tuple[dict[str, Any], list[File]]:
    """The manifest (and the layers to upload) of a run crate for ``result_`` naming what it is told."""
    started = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    run = RunRecord(
        name=name,
        image=ImageRef(host, image_repo, None, image_digest),
        command=command,
        parameters=parameters if parameters is not None else [Parameter("k", 3)],
        inputs=[
            InputRef(
                i.name,
                f"{host}/{i.repository}@{i.digest}",
                i.digest,
                i.repository,
                [FileRef(f.path, f.sha256, f.size, f.media_type) for f in i.files],
            )
            for i in inputs
        ],
        outputs=[FileRef(f.path, f.sha256, f.size, f.media_type) for f in outputs],
        started=started,
        ended=started + timedelta(minutes=2),
        agent=Agent(agent),
        result_reference=f"{host}/{result_repo}@{result_.digest}",
        license="CC-BY-4.0",
    )
    files = build_run_crate(run)
    layers = [
        File(artifacts.CRATE_METADATA_NAME, files.metadata, artifacts.CRATE_METADATA_MEDIA_TYPE),
        File(artifacts.RUN_DESCRIPTION_NAME, files.run_description, artifacts.RUN_DESCRIPTION_MEDIA_TYPE),
    ]
    return {"artifactType": artifacts.ROCRATE, "subject": result_.descriptor}, layers


def push_crate(
    client: Http, host: str, result_repo: str, result_: Pushed, outputs: list[File], **kw: Any
) -> Resp:
    """PUT a run crate for ``result_`` (see :func:`crate_manifest`); returns the raw response."""
    head, layers = crate_manifest(host, result_repo, result_, outputs, **kw)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": head["artifactType"],
        "config": _empty_config(client, result_repo),
        "layers": [_layer(client, result_repo, f) for f in layers],
        "subject": head["subject"],
    }
    data = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return client.put(
        f"/v2/{result_repo}/manifests/{digest}",
        data=data,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )


@dataclass
class Published:
    """A result with an admitted run crate in one owner's repositories (image, dataset, result)."""

    image: Pushed
    dataset: Pushed
    dataset_files: list[File]
    result: Pushed
    outputs: list[File]
    crate_digest: str


def publish(
    client: Http,
    host: str,
    prefix: str,
    seed: str,
    *,
    command: str = "count --k {k} /in/reads /out",
    parameters: list[Parameter] | None = None,
    inputs: list[Input] | None = None,
    agent: str = "Bob Builder",
) -> Published:
    """Image ``<prefix>-tools``, dataset ``<prefix>-reads``, result ``<prefix>-results`` and the crate."""
    img = image(client, f"{prefix}-tools", "v1", seed)
    ds, ds_files = dataset(client, f"{prefix}-reads", "v1", seed)
    res, outs = result(client, f"{prefix}-results", "v1", seed)
    named = inputs if inputs is not None else [Input("reads", f"{prefix}-reads", ds.digest, ds_files)]
    r = push_crate(
        client,
        host,
        f"{prefix}-results",
        res,
        outs,
        image_repo=f"{prefix}-tools",
        image_digest=img.digest,
        inputs=named,
        command=command,
        parameters=parameters,
        agent=agent,
    )
    assert r.status_code == 201, r
    return Published(img, ds, ds_files, res, outs, r.headers["Docker-Content-Digest"])
