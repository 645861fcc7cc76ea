"""Fixtures for the real-client tests: a private environment for container tools.

Each container tool run by these tests gets ``HOME``, ``XDG_RUNTIME_DIR``, ``TMPDIR``, an empty
``registries.conf`` (``CONTAINERS_REGISTRIES_CONF`` for podman; skopeo 1.9 ignores that variable
and gets its hidden ``--registries-conf`` flag), an empty ``registries.d`` and an
accept-anything ``policy.json``, all under the test's temporary directory, so no machine-wide
configuration is read. ``live_server`` is here the session's ``shared_server`` (tests/conftest.py):
each module pushes to repositories no other test uses (``lab/img``, ``lab/podman``, ``lab/data``, ...),
so they do not need a registry of their own (a start-up costs 2-6 s, far more on a loaded machine).

As root, skopeo 1.9 and podman 4.3 keep their blob-info cache in
``/var/lib/containers/cache/blob-info-cache-v1.boltdb`` whatever ``--root`` says (containers/image
has no flag or variable to move it). When that directory exists and ``unshare`` works, every tool
runs as ``unshare --mount --propagation private -- sh -c 'mount --bind <private cache> ...'``
(:attr:`ToolEnv.prefix`), so the machine's cache is neither read nor written; otherwise the tools
run unwrapped and that one file is shared with the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest


class LiveRegistry(Protocol):
    """What these tests use of ``tests/conftest.py``'s ``LiveServer``."""

    url: str

    @property
    def host(self) -> str: ...


@dataclass(frozen=True)
class ToolEnv:
    """Private configuration for containers/image based tools (skopeo, podman)."""

    root: Path
    env: dict[str, str]
    policy: Path
    registries_d: Path
    tmpdir: Path
    prefix: tuple[str, ...] = ()


SYSTEM_BLOB_CACHE = Path("/var/lib/containers/cache")


def isolation_prefix(cache_dir: Path) -> tuple[str, ...]:
    """A command prefix that runs a tool with ``cache_dir`` bind-mounted over the machine's
    blob-info cache in a private mount namespace, or ``()`` when that is not possible here."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None or not SYSTEM_BLOB_CACHE.is_dir():
        return ()
    cache_dir.mkdir(parents=True, exist_ok=True)
    prefix = (
        unshare,
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        f'mount --bind "$1" {SYSTEM_BLOB_CACHE} && shift && exec "$@"',
        "sh",
        str(cache_dir),
    )
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return prefix if probe.returncode == 0 else ()


def make_tool_env(root: Path) -> ToolEnv:
    for sub in ("home", "xdg", "tmp", "registries.d"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "xdg").chmod(0o700)
    policy = root / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    registries_conf = root / "registries.conf"
    registries_conf.write_text('unqualified-search-registries = []\nshort-name-mode = "enforcing"\n')
    auth = root / "xdg" / "auth.json"
    auth.write_text('{"auths": {}}')
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REGISTRY_AUTH_FILE", "CONTAINERS_", "DOCKER_", "XDG_"))
    }
    env.update(
        {
            "HOME": str(root / "home"),
            "XDG_RUNTIME_DIR": str(root / "xdg"),
            "XDG_CONFIG_HOME": str(root / "home" / ".config"),
            "XDG_DATA_HOME": str(root / "home" / ".local" / "share"),
            "TMPDIR": str(root / "tmp"),
            "CONTAINERS_REGISTRIES_CONF": str(registries_conf),
            "REGISTRY_AUTH_FILE": str(auth),
        }
    )
    return ToolEnv(
        root, env, policy, root / "registries.d", root / "tmp", isolation_prefix(root / "blob-cache")
    )


@pytest.fixture(scope="module")
def live_server(shared_server: LiveRegistry) -> LiveRegistry:
    """The session's shared server (see the module docstring)."""
    return shared_server


@pytest.fixture(scope="module")
def tool_env(tmp_path_factory: pytest.TempPathFactory) -> ToolEnv:
    return make_tool_env(tmp_path_factory.mktemp("toolenv"))
