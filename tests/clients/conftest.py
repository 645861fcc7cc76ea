"""Fixtures for the real-client tests: a private environment for container tools.

Each container tool run by these tests gets ``HOME``, ``XDG_RUNTIME_DIR``, ``TMPDIR``, an empty
``registries.conf`` (``CONTAINERS_REGISTRIES_CONF``), an empty ``registries.d`` and an
accept-anything ``policy.json``, all under the test's temporary directory, so no machine-wide
configuration is read. The ``live_server`` fixture (tests/conftest.py) is module scoped: each
test module talks to its own fresh registry.

Not isolated: skopeo running as root keeps its blob-info cache in
``/var/lib/containers/cache/blob-info-cache-v1.boltdb`` (containers/image has no flag or variable
to move it); podman keeps it under its ``--root``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class ToolEnv:
    """Private configuration for containers/image based tools (skopeo, podman)."""

    root: Path
    env: dict[str, str]
    policy: Path
    registries_d: Path
    tmpdir: Path


def make_tool_env(root: Path) -> ToolEnv:
    for sub in ("home", "xdg", "tmp", "registries.d"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "xdg").chmod(0o700)
    policy = root / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    registries_conf = root / "registries.conf"
    registries_conf.write_text('unqualified-search-registries = []\nshort-name-mode = "enforcing"\n')
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REGISTRY_AUTH_FILE", "CONTAINERS_", "DOCKER_", "XDG_"))}
    env.update({
        "HOME": str(root / "home"),
        "XDG_RUNTIME_DIR": str(root / "xdg"),
        "XDG_CONFIG_HOME": str(root / "home" / ".config"),
        "XDG_DATA_HOME": str(root / "home" / ".local" / "share"),
        "TMPDIR": str(root / "tmp"),
        "CONTAINERS_REGISTRIES_CONF": str(registries_conf),
        "REGISTRY_AUTH_FILE": str(root / "xdg" / "auth.json"),
    })
    return ToolEnv(root, env, policy, root / "registries.d", root / "tmp")


@pytest.fixture(scope="module")
def tool_env(tmp_path_factory: pytest.TempPathFactory) -> ToolEnv:
    return make_tool_env(tmp_path_factory.mktemp("toolenv"))
