"""Constants and helpers shared by the gc-content workflow tests and their conftest.

A uniquely named module (not ``conftest``) so that ``from gc_content_support import ...``
cannot pick up another directory's ``conftest`` from ``sys.modules``.
"""

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from cli_commands import load_by_path

from sciregistry.client.runtimes import RUN_FLAGS

REPO_ROOT = Path(__file__).resolve().parents[2]
GC_DIR = REPO_ROOT / "workflows" / "gc-content"
SCRIPT = GC_DIR / "pipeline" / "gc-content.sh"
DATA_DIR = GC_DIR / "data"
BUSYBOX = Path("/bin/busybox")


def load_module(name: str, path: Path) -> ModuleType:
    """Import a file by path, once, writing no bytecode beside it (:func:`cli_commands.load_by_path`)."""
    module: ModuleType = load_by_path(name, path)
    return module


PipelineRunner = Callable[..., subprocess.CompletedProcess[str]]


@dataclass(frozen=True)
class Podman:
    """A podman invocation bound to a private store, with the built image loaded."""

    base: tuple[str, ...]
    image_id: str
    manifest_digest: str

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.base, "run", *RUN_FLAGS, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def cmd(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.base, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
