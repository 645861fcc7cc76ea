"""Fixtures for the example workflows in ``workflows/`` (gc-content pipeline and its image).

``build_image.py`` and ``data/make_data.py`` are loaded *by path*, the way ``sciregistry
demo`` imports them, not as packages.

Podman: on the CI host (Debian 12, root, no systemd) podman only runs with
``podman --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime runc
run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 ...`` (DESIGN.md
section 6), the flags ``sciregistry reproduce`` runs with (``sciregistry.client.runtimes``). The
fixtures add a private store (``podman_store_flags``) so tests never touch the host's image
store. :func:`probe_podman` tries a trivial run of the freshly built image; the ``podman``
fixture skips with the probe's stderr when it fails.
"""

import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

import pytest
from gc_content_support import (
    BUSYBOX,
    DATA_DIR,
    GC_DIR,
    SCRIPT,
    PipelineRunner,
    Podman,
    load_module,
)

from sciregistry.client.runtimes import PODMAN_GLOBAL_FLAGS, RUN_FLAGS, podman_store_flags


@pytest.fixture(scope="session")
def build_image_mod() -> ModuleType:
    return load_module("gc_content_build_image", GC_DIR / "build_image.py")


@pytest.fixture(scope="session")
def make_data_mod() -> ModuleType:
    return load_module("gc_content_make_data", DATA_DIR / "make_data.py")


@pytest.fixture(scope="session")
def require_busybox() -> Path:
    if not BUSYBOX.is_file():
        pytest.skip(f"{BUSYBOX} not installed (apt-get install busybox-static)")
    return BUSYBOX


@pytest.fixture
def run_pipeline() -> PipelineRunner:
    """Run ``gc-content.sh`` with the host's /bin/sh: ``run_pipeline(*args, shell=..., env=...)``."""

    def run(
        *args: str | Path,
        shell: Sequence[str] = ("/bin/sh",),
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*shell, str(SCRIPT), *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=60,
            check=False,
        )

    return run


def probe_podman(base: Sequence[str], layout: Path, tag: str) -> tuple[str | None, str]:
    """Load ``oci:layout:tag`` and run ``/bin/sh -c 'echo ok'`` in it.

    Returns ``(image_id, "")`` on success or ``(None, reason)`` with podman's stderr.
    """
    try:
        pull = subprocess.run(
            [*base, "pull", "--quiet", f"oci:{layout}:{tag}"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if pull.returncode != 0:
            return None, f"pull failed (rc={pull.returncode}): {pull.stderr.strip()}"
        image_id = pull.stdout.strip().splitlines()[-1] if pull.stdout.strip() else ""
        if not image_id:
            return None, "pull printed no image id"
        run = subprocess.run(
            [*base, "run", *RUN_FLAGS, image_id, "/bin/sh", "-c", "echo ok"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if run.returncode != 0 or run.stdout.strip() != "ok":
        return None, f"trivial run failed (rc={run.returncode}): {run.stderr.strip()}"
    return image_id, ""


@pytest.fixture(scope="session")
def image_layout(
    tmp_path_factory: pytest.TempPathFactory, build_image_mod: ModuleType, require_busybox: Path
) -> tuple[Path, str, str]:
    """One image layout built for the session: ``(layout_dir, tag, manifest_digest)``."""
    layout = tmp_path_factory.mktemp("oci") / "gc-content"
    tag = "test"
    digest = build_image_mod.build_image(layout, tag, require_busybox)
    return layout, tag, digest


@pytest.fixture(scope="session")
def podman(image_layout: tuple[Path, str, str]) -> Iterator[Podman]:
    exe = shutil.which("podman")
    if exe is None:
        pytest.skip("podman cannot run here: podman is not installed")
    # podman refuses a runroot longer than 50 characters (pytest's temporary directories can be
    # longer, under pytest-xdist always): a short directory of its own
    store = Path(tempfile.mkdtemp(prefix="srwf"))
    try:
        base = (exe, *podman_store_flags(store, store / "run"), *PODMAN_GLOBAL_FLAGS)
        layout, tag, digest = image_layout
        image_id, reason = probe_podman(base, layout, tag)
        if image_id is None:
            pytest.skip(f"podman cannot run here: {reason}")
        yield Podman(base=base, image_id=image_id, manifest_digest=digest)
    finally:
        shutil.rmtree(store, ignore_errors=True)
