"""Fixtures for ``sciregistry reproduce`` and ``Registry.resolve``: a live registry with a real,
runnable published result.

``published`` (module scope) starts a registry on 127.0.0.1:<free port> (the app from
``create_app`` served by a werkzeug thread, so the test can add the ``ReproductionCounter`` hook
when the composition root does not yet), then does what a researcher's CI does:

1. builds the gc-content image from Debian's busybox-static (``workflows/gc-content/build_image.py``)
   and pushes the layout (``Registry.push_layout``);
2. pushes the three FASTA files as the dataset ``lab/reads:v1``;
3. runs the pipeline on the host (``sh gc-content.sh --k 3 --min-length 100 <data> <out>``);
4. records the run (``record_run``, command template
   ``gc-content.sh --k {k} --min-length {min_length} /in/reads /out``);
5. mints a DOI (``POST /api/v1/dois``).

``podman_reason`` probes podman the way the CI host needs it (private store, vfs, cgroupfs,
runc, ulimits): None when a trivial container runs, else the reason (tests then skip or expect
NOT_RUN).
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cli_commands import load_by_path

from sciregistry.client import Registry
from sciregistry.client.runtimes import PODMAN_GLOBAL_FLAGS, RUN_FLAGS, podman_store_flags

ROOT = Path(__file__).resolve().parents[2]
GC_DIR = ROOT / "workflows" / "gc-content"
BUSYBOX = Path("/bin/busybox")
FASTA = ("sample_a.fa", "sample_b.fasta", "sample_c.fna")
TEMPLATE = "gc-content.sh --k {k} --min-length {min_length} /in/reads /out"
RENDERED = "gc-content.sh --k 3 --min-length 100 /in/reads /out"
PARAMS = {"k": 3, "min_length": 100}


def load_build_image() -> ModuleType:
    module: ModuleType = load_by_path("gc_content_build_image_for_reproduce", GC_DIR / "build_image.py")
    return module


def make_app(data_dir: Path) -> Any:
    from sciregistry.app import create_app
    from sciregistry.registry.reproductions import ReproductionCounter

    app = create_app(
        {"data_dir": str(data_dir), "auth_enabled": False, "storage_fsync": False, "testing": True}
    )
    services = app.extensions["sciregistry"]
    if not any(isinstance(h, ReproductionCounter) for h in services.hooks.hooks):
        services.hooks.add(ReproductionCounter(services.store))
    return app


@dataclass
class Server:
    app: Any
    url: str
    host: str
    data_dir: Path

    def blob_file(self, digest: str) -> Path:
        """The stored file of a blob (filesystem store), found by its hex name."""
        hexd = digest.split(":", 1)[1]
        found = [p for p in self.data_dir.rglob(hexd) if p.is_file()]
        assert len(found) == 1, found
        return found[0]


@dataclass
class Recorded:
    """One recorded run with a DOI."""

    doi: str
    result: str
    crate: str
    dataset: str
    outputs: dict[str, bytes]


@dataclass
class Published:
    server: Server
    image_digest: str
    layout: Path
    dataset: str
    data_dir: Path
    host_outputs: dict[str, bytes]
    main: Recorded
    extra: dict[str, Recorded] = field(default_factory=dict)

    def registry(self) -> Registry:
        return Registry(self.server.url, progress=False, use_stored_credentials=False)


def mint(reg: Registry, repo: str, digest: str, title: str) -> str:
    resp = reg.transport.request(
        "POST", "/api/v1/dois", json={"reference": f"{repo}@{digest}", "title": title}, ok={201}
    )
    return str(resp.json()["doi"])


_RECORDED = itertools.count()


def record(
    reg: Registry,
    pub_image: str,
    dataset_ref: str,
    outputs: list[Path],
    to_ref: str,
    title: str,
    command: str = TEMPLATE,
) -> Recorded:
    """Record a run and mint its DOI. Each call gets its own end time, so identical outputs still
    make a new result manifest (its ``org.opencontainers.image.created`` differs)."""
    ended = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=next(_RECORDED))
    run = reg.record_run(
        pub_image,
        inputs={"reads": dataset_ref},
        params=PARAMS,
        command=command,
        outputs=outputs,
        to_ref=to_ref,
        agent="Ada Lovelace",
        name=title,
        started=ended - timedelta(seconds=30),
        ended=ended,
    )
    repo = reg.parse(to_ref).repository
    doi = mint(reg, repo, run.result_digest, title)
    return Recorded(
        doi, run.result_digest, run.crate_digest, dataset_ref, {p.name: p.read_bytes() for p in outputs}
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from werkzeug.serving import make_server

    data_dir = tmp_path_factory.mktemp("reproduce-registry") / "data"
    app = make_app(data_dir)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, name="reproduce-test-server", daemon=True)
    thread.start()
    try:
        yield Server(app, f"http://127.0.0.1:{srv.server_port}", f"127.0.0.1:{srv.server_port}", data_dir)
    finally:
        srv.shutdown()
        thread.join(timeout=10)
        app.extensions["sciregistry"].engine.dispose()


@pytest.fixture(scope="module")
def published(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    if not BUSYBOX.is_file():
        pytest.skip(f"{BUSYBOX} not installed (apt-get install busybox-static)")
    work = tmp_path_factory.mktemp("reproduce-work")
    layout = work / "layout"
    digest = load_build_image().build_image(layout, "1.0.0", BUSYBOX)
    data = work / "reads"
    data.mkdir()
    for name in FASTA:
        shutil.copyfile(GC_DIR / "data" / name, data / name)
    host_out = work / "host-out"
    proc = subprocess.run(
        [
            "sh",
            str(GC_DIR / "pipeline" / "gc-content.sh"),
            "--k",
            "3",
            "--min-length",
            "100",
            str(data),
            str(host_out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    outputs = sorted(host_out.iterdir())
    assert [p.name for p in outputs] == ["gc.tsv", "kmers.tsv"]
    with Registry(server.url, progress=False, use_stored_credentials=False) as reg:
        assert reg.push_layout(layout, f"{server.host}/lab/gc-content:1.0.0") == digest
        dataset = reg.push_dataset(f"{server.host}/lab/reads:v1", sorted(data.iterdir()))
        image_ref = f"{server.host}/lab/gc-content@{digest}"
        dataset_ref = f"{server.host}/lab/reads@{dataset}"
        main = record(
            reg, image_ref, dataset_ref, outputs, f"{server.host}/lab/gc-results:run1", "GC content"
        )
        yield Published(
            server, digest, layout, dataset, data, {p.name: p.read_bytes() for p in outputs}, main
        )


def _probe_podman(layout: Path) -> str | None:
    exe = shutil.which("podman")
    if exe is None:
        return "podman is not installed"
    tmp = (
        Path(tempfile.gettempdir()) / f"probe-{uuid.uuid4().hex[:12]}"
    )  # short (runroot), a valid image name
    tmp.mkdir()
    try:
        base = [exe, *podman_store_flags(tmp, tmp / "run"), *PODMAN_GLOBAL_FLAGS]
        link = tmp / "layout"
        link.symlink_to(layout)
        run = subprocess.run(
            [*base, "run", *RUN_FLAGS, f"oci:{link}:1.0.0", "/bin/sh", "-c", "echo ok"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if run.returncode != 0 or run.stdout.strip() != "ok":
        return f"podman cannot run containers here (exit code {run.returncode}): {run.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="module")
def podman_reason(published: Published) -> str | None:
    return _probe_podman(published.layout)


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SCIREGISTRY_* from the environment; credentials file in a temporary config home."""
    import os

    for key in list(os.environ):
        if key.startswith("SCIREGISTRY_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SCIREGISTRY_CONFIG_HOME", str(tmp_path / "client-config"))
    return tmp_path
