"""Run a CWL workflow with cwltool and podman, the way it works on a rootful host, and convert its provenance.

cwltool (``pip install 'sciregistry[cwl]'``) runs each step's ``DockerRequirement`` image with
podman when given ``--podman``. On a rootful Debian host without systemd cgroups (the CI host,
see :mod:`sciregistry.client.runtimes`) podman needs help, which :class:`CwlEnvironment` gives
in a private directory, touching nothing of the host's:

- a ``podman`` wrapper first on ``PATH`` that drops cwltool's ``--userns=keep-id`` (rootful
  podman refuses it) and adds the global flags that work here (vfs storage in a private
  ``--root``, cgroupfs, file events, runc);
- ``CONTAINERS_CONF`` with ``default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]``;
- ``CONTAINERS_REGISTRIES_CONF`` marking a loopback registry insecure (plain HTTP), so steps
  pull ``127.0.0.1:PORT/repo@sha256:...`` from a local sciregistry;
- ``REGISTRY_AUTH_FILE`` with the registry credentials (a token), when given.

``runcrate`` (which turns cwltool's CWLProv bundle into a Provenance Run Crate) pins
``cwl-utils`` to a version older than cwltool's; it may therefore live in its own environment:
:func:`runcrate_command` finds it on ``PATH``, beside this interpreter or in
``SCIREGISTRY_RUNCRATE`` (a path to its ``runcrate`` executable).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from sciregistry.client.runtimes import (
    PODMAN_GLOBAL_FLAGS,
    podman_runroot,
    podman_store_flags,
    remove_runroot,
)

__all__ = ["CwlEnvironment", "CwlRun", "cwltool_command", "runcrate_command"]

_WRAPPER = """#!/bin/sh
# sciregistry: podman for cwltool on a rootful host (drop --userns=keep-id, private vfs store).
for a in "$@"; do
  shift
  case "$a" in
    --userns=keep-id) ;;
    *) set -- "$@" "$a" ;;
  esac
done
exec {podman} {flags} "$@"
"""


def _beside_interpreter(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def cwltool_command() -> str | None:
    """The ``cwltool`` executable (beside this interpreter first), or ``None``."""
    return _beside_interpreter("cwltool") or shutil.which("cwltool")


def runcrate_command() -> str | None:
    """The ``runcrate`` executable: ``SCIREGISTRY_RUNCRATE``, beside this interpreter, or on PATH."""
    configured = os.environ.get("SCIREGISTRY_RUNCRATE")
    if configured and Path(configured).is_file():
        return configured
    return _beside_interpreter("runcrate") or shutil.which("runcrate")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


@dataclass
class CwlRun:
    """What one cwltool run did: its exit status, output directory, CWLProv bundle and log."""

    returncode: int
    outdir: Path
    provenance: Path | None
    outputs: dict[str, object]
    log: str
    argv: list[str] = field(default_factory=list)


class CwlEnvironment:
    """A private directory with the podman wrapper and container configuration (see the module doc)."""

    def __init__(
        self,
        registries: Sequence[str] = (),
        auth: dict[str, tuple[str, str]] | None = None,
        base: Path | None = None,
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sciregistry-cwl-", dir=base))
        podman = shutil.which("podman")
        if podman is None:
            raise FileNotFoundError("podman is not installed")
        store = self.dir / "store"
        self.runroot = podman_runroot(store)
        flags = [*PODMAN_GLOBAL_FLAGS, *podman_store_flags(store, self.runroot)]
        bin_dir = self.dir / "bin"
        bin_dir.mkdir()
        wrapper = bin_dir / "podman"
        wrapper.write_text(_WRAPPER.format(podman=_quote(podman), flags=" ".join(_quote(f) for f in flags)))
        wrapper.chmod(0o755)
        (self.dir / "containers.conf").write_text(
            '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
            '[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n'
        )
        lines = ["unqualified-search-registries = []\n"]
        for host in registries:
            lines.append(f'[[registry]]\nlocation = "{host}"\ninsecure = {str(_loopback(host)).lower()}\n')
        (self.dir / "registries.conf").write_text("\n".join(lines))
        auths = {
            host: {"auth": base64.b64encode(f"{user}:{secret}".encode()).decode()}
            for host, (user, secret) in (auth or {}).items()
        }
        (self.dir / "auth.json").write_text(json.dumps({"auths": auths}))
        (self.dir / "auth.json").chmod(0o600)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{self.dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["CONTAINERS_CONF"] = str(self.dir / "containers.conf")
        env["CONTAINERS_REGISTRIES_CONF"] = str(self.dir / "registries.conf")
        env["REGISTRY_AUTH_FILE"] = str(self.dir / "auth.json")
        return env

    def run(
        self, workflow: Path, job: Path, outdir: Path, *, provenance: Path | None = None, timeout: float = 600
    ) -> CwlRun:
        """``cwltool --podman [--provenance DIR] --outdir OUTDIR WORKFLOW JOB``."""
        cwltool = cwltool_command()
        if cwltool is None:
            raise FileNotFoundError("cwltool is not installed (pip install 'sciregistry[cwl]')")
        work = self.dir / "work"
        work.mkdir(exist_ok=True)
        argv = [
            cwltool,
            "--podman",
            "--disable-color",
            "--tmpdir-prefix",
            f"{work}/tmp",
            "--tmp-outdir-prefix",
            f"{work}/out",
            "--outdir",
            str(outdir),
        ]
        if provenance is not None:
            argv += ["--provenance", str(provenance)]
        argv += [str(workflow), str(job)]
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            check=False,
        )
        try:
            outputs = json.loads(proc.stdout) if proc.returncode == 0 else {}
        except json.JSONDecodeError:
            outputs = {}
        return CwlRun(proc.returncode, outdir, provenance, outputs, proc.stderr[-8000:], argv)

    def close(self) -> None:
        store = self.dir / "store"
        if store.exists():  # vfs layers may hold files only podman may remove cleanly
            subprocess.run(
                [str(self.dir / "bin" / "podman"), "system", "reset", "--force"],
                capture_output=True,
                timeout=120,
                check=False,
                env=self.env(),
            )
        shutil.rmtree(self.dir, ignore_errors=True)
        remove_runroot(store, self.runroot)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in ("localhost", "127.0.0.1", "::1", "[::1]") or name.startswith("127.")


def convert_provenance(
    provenance: Path, crate_dir: Path, *, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``runcrate convert PROVENANCE -o CRATE_DIR`` (a Provenance Run Crate from a CWLProv bundle)."""
    runcrate = runcrate_command()
    if runcrate is None:
        raise FileNotFoundError(
            "runcrate is not installed (see sciregistry.client.cwl: it needs its own "
            "environment with cwl-utils<0.41; set SCIREGISTRY_RUNCRATE)"
        )
    return subprocess.run(
        [runcrate, "convert", str(provenance), "-o", str(crate_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
