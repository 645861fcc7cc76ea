"""Container runtimes for ``sciregistry reproduce``: load an OCI image layout and run a command in it.

podman runs with a private store (``--root``/``--runroot`` in a temporary directory) and the flags
that work on a rootful Debian 12 host without systemd cgroups; docker loads the layout as a tar.
``select_runtime`` probes them with a trivial run and never requires one: when none works the
reproduction ends as NOT_RUN with the exact command a user can run by hand.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The tag of the image in the exported layout (``oci:<out>/image:reproduce``).
LAYOUT_TAG = "reproduce"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAIL_CHARS = 4000
PROBE_TIMEOUT = 120.0

PODMAN_GLOBAL_FLAGS: tuple[str, ...] = (
    "--storage-driver",
    "vfs",
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "file",
    "--runtime",
    "runc",
)
#: containers/storage refuses a ``--runroot`` path longer than this ("the specified runroot is longer
#: than 50 characters").
PODMAN_RUNROOT_MAX = 50


def podman_runroot(store: Path) -> Path:
    """Where a private podman store under ``store`` keeps its run state (``--runroot``).

    ``store/run`` when podman accepts that path. Under a long ``TMPDIR`` (a cluster job's scratch
    directory) it would not, and podman would refuse to start: the run state (locks and sockets, a
    few kilobytes) then goes to a new private directory under ``/tmp`` (or ``/var/tmp``,
    ``/dev/shm``), while the image store stays under ``store``. The caller removes it
    (:func:`remove_runroot`).
    """
    run = store / "run"
    if len(str(run)) <= PODMAN_RUNROOT_MAX:
        return run
    for parent in ("/tmp", "/var/tmp", "/dev/shm"):
        try:
            return Path(tempfile.mkdtemp(prefix="sciregistry-run-", dir=parent))
        except OSError:
            continue
    return run  # podman says why it refuses; the probe reports it


def podman_store_flags(store: Path, runroot: Path) -> list[str]:
    """The global flags of a private podman store: images under ``store/root``, run state under
    ``runroot`` and libpod's temporary state under ``runroot/libpod``. The default ``--tmpdir``
    (``/run/libpod``) is one directory per host. Two podman stores running at once would share it,
    and tearing one of them down (``podman system reset``) would empty it under the other."""
    return ["--root", str(store / "root"), "--runroot", str(runroot), "--tmpdir", str(runroot / "libpod")]


def remove_runroot(store: Path, runroot: Path) -> None:
    """Remove a run-state directory :func:`podman_runroot` made outside ``store``."""
    if not runroot.is_relative_to(store):
        shutil.rmtree(runroot, ignore_errors=True)


RUN_FLAGS: tuple[str, ...] = (
    "--rm",
    "--network",
    "none",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
)


def _tail(text: str | bytes | None, limit: int = TAIL_CHARS) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return text[-limit:]


@dataclass(frozen=True)
class Probe:
    """One container runtime tried: did it load the image and run ``echo ok``?"""

    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


class RuntimeUnavailable(Exception):
    """This runtime cannot run the image here (the reason is the message)."""


class LoadedDigestMismatch(Exception):
    """The runtime loaded the layout but reports another manifest digest."""


@dataclass
class Mount:
    source: Path
    target: str
    read_only: bool

    def arg(self) -> str:
        if ":" in str(self.source) or "," in str(self.source):
            raise ValueError(f"cannot bind-mount {self.source}: the path contains ':' or ','")
        return f"{self.source}:{self.target}" + (":ro" if self.read_only else "")


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
    )


class ContainerRuntime:
    """A container engine with the image loaded: :meth:`load`, :meth:`run_argv`, :meth:`close`."""

    name = ""

    def __init__(self, exe: str) -> None:
        self.exe = exe
        self.base: list[str] = [exe]
        self.version: str | None = None

    def load(self, layout: Path, tag: str, digest: str) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def run_argv(self, image: str, mounts: list[Mount], command: str, name: str | None = None) -> list[str]:
        argv = [*self.base, "run", *RUN_FLAGS]
        if name:
            argv += ["--name", name]
        for m in mounts:
            argv += ["-v", m.arg()]
        return [*argv, image, "/bin/sh", "-c", command]

    def remove(self, name: str) -> None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            _run([*self.base, "rm", "-f", name], 60)

    def _probe_run(self, image: str) -> None:
        try:
            proc = _run(self.run_argv(image, [], "echo ok"), PROBE_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeUnavailable(f"trivial run timed out after {exc.timeout:.0f} s") from exc
        if proc.returncode != 0 or proc.stdout.strip() != "ok":
            raise RuntimeUnavailable(
                f"trivial run failed (exit code {proc.returncode}): {_tail(proc.stderr, 500).strip()}"
            )

    def close(self) -> None:
        return None


class PodmanRuntime(ContainerRuntime):
    """podman with a private store in a temporary directory (removed by :meth:`close`)."""

    name = "podman"

    def __init__(self, exe: str) -> None:
        super().__init__(exe)
        # Short and hex only: podman refuses a --runroot longer than 50 characters, and the path
        # becomes an image name (see load), which mkdtemp's names (a leading "_") may not be.
        self.store = Path(tempfile.gettempdir()) / f"sciregistry-{uuid.uuid4().hex[:12]}"
        self.store.mkdir(mode=0o700)
        self.runroot = podman_runroot(self.store)
        self.base = [exe, *podman_store_flags(self.store, self.runroot), *PODMAN_GLOBAL_FLAGS]

    def load(self, layout: Path, tag: str, digest: str) -> str:
        # podman names an image loaded from oci:<path> after the path, so the path must be a valid
        # repository name (lower-case, components like "a-b.c"): load it through a link in the store.
        link = self.store / "layout"
        if not _REPOSITORY_PATH.fullmatch(str(link).strip("/")):
            raise RuntimeUnavailable(
                f"{link} cannot serve as an image name (podman needs lower-case "
                "letters, digits and separators): set TMPDIR to a simpler directory"
            )
        link.symlink_to(layout.resolve(), target_is_directory=True)
        try:
            ver = _run([self.exe, "--version"], 30)
            self.version = (
                ver.stdout.strip().split()[-1] if ver.returncode == 0 and ver.stdout.strip() else None
            )
            pull = _run([*self.base, "pull", "--quiet", f"oci:{link}:{tag}"], PROBE_TIMEOUT)
            if pull.returncode != 0:
                raise RuntimeUnavailable(
                    f"loading the image failed (exit code {pull.returncode}): "
                    f"{_tail(pull.stderr, 500).strip()}"
                )
            image = pull.stdout.strip().splitlines()[-1] if pull.stdout.strip() else ""
            if not image:
                raise RuntimeUnavailable("podman pull printed no image id")
            inspect = _run([*self.base, "image", "inspect", "--format", "{{.Digest}}", image], 60)
            loaded = inspect.stdout.strip()
            if inspect.returncode == 0 and loaded and loaded != digest:
                raise LoadedDigestMismatch(f"podman loaded manifest {loaded}, expected {digest}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeUnavailable(f"{exc.__class__.__name__}: {exc}") from exc
        self._probe_run(image)
        return image

    def close(self) -> None:
        shutil.rmtree(self.store, ignore_errors=True)
        remove_runroot(self.store, self.runroot)


class DockerRuntime(ContainerRuntime):
    """docker: the layout is loaded with ``docker load`` (an OCI layout tar, Docker >= 25)."""

    name = "docker"

    def load(self, layout: Path, tag: str, digest: str) -> str:
        import tarfile

        try:
            info = _run([self.exe, "version", "--format", "{{.Server.Version}}"], 30)
            if info.returncode != 0 or not info.stdout.strip():
                raise RuntimeUnavailable(f"no docker daemon: {_tail(info.stderr, 500).strip()}")
            self.version = info.stdout.strip()
            with tempfile.TemporaryDirectory(prefix="sciregistry-docker-") as tmp:
                archive = Path(tmp) / "image.tar"
                with tarfile.open(archive, "w") as tar:
                    for entry in sorted(layout.iterdir()):
                        tar.add(entry, arcname=entry.name)
                loaded = _run([self.exe, "load", "--quiet", "--input", str(archive)], PROBE_TIMEOUT)
            if loaded.returncode != 0:
                raise RuntimeUnavailable(
                    f"docker load failed (exit code {loaded.returncode}): {_tail(loaded.stderr, 500).strip()}"
                )
            m = re.search(r"Loaded image(?: ID)?: (\S+)", loaded.stdout)
            if not m:
                raise RuntimeUnavailable(f"docker load printed no image: {loaded.stdout.strip()[:200]}")
            image = m.group(1)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeUnavailable(f"{exc.__class__.__name__}: {exc}") from exc
        self._probe_run(image)
        return image


_RUNTIME_CLASSES: dict[str, type[ContainerRuntime]] = {"podman": PodmanRuntime, "docker": DockerRuntime}


def select_runtime(
    requested: str, layout: Path, tag: str, digest: str
) -> tuple[ContainerRuntime | None, str | None, list[Probe]]:
    """Try the runtimes ``requested`` allows (``auto``: podman, then docker); return the first that
    loads the image and runs ``echo ok`` in it, its image id, and every probe made."""
    names = {"auto": ["podman", "docker"], "podman": ["podman"], "docker": ["docker"], "none": []}[requested]
    probes: list[Probe] = []
    for name in names:
        exe = shutil.which(name)
        if exe is None:
            probes.append(Probe(name, False, "not installed"))
            continue
        rt = _RUNTIME_CLASSES[name](exe)
        try:
            image = rt.load(layout, tag, digest)
        except RuntimeUnavailable as exc:
            rt.close()
            probes.append(Probe(name, False, str(exc)))
            continue
        except BaseException:
            rt.close()
            raise
        probes.append(Probe(name, True, f"{name} {rt.version or ''}".strip()))
        return rt, image, probes
    return None, None, probes


def hand_argv(layout: Path, mounts: list[Mount], command: str) -> list[str]:
    """The podman command line that runs the exported image by hand with exactly the flags reproduce
    runs it with (:data:`PODMAN_GLOBAL_FLAGS`, :data:`RUN_FLAGS`, the same mounts and command); only
    the image is named by its layout (``oci:<layout>:reproduce``) instead of reproduce's private store."""
    argv = ["podman", *PODMAN_GLOBAL_FLAGS, "run", *RUN_FLAGS]
    for m in mounts:
        argv += ["-v", m.arg()]
    return [*argv, f"oci:{layout}:{LAYOUT_TAG}", "/bin/sh", "-c", command]


def suggested_command(layout: Path, mounts: list[Mount], command: str) -> str:
    """:func:`hand_argv` as one shell line."""
    return shlex.join(hand_argv(layout, mounts, command))
