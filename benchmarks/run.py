#!/usr/bin/env python3
"""``make bench``: sciregistry against the reference registry (CNCF distribution), interleaved.

For each round, each registry is started on 127.0.0.1 (a free port, a fresh temporary data
directory), measured with ``benchmarks/ocibench.py`` (the project's stdlib-only OCI benchmark, a
copy of ``/work/shared/bench/ocibench.py``), stopped, and its data deleted. The two registries
alternate (round 1: reference then ours, round 2: ours then reference, ...) so that slow drift of
the machine (page cache, the hypervisor reclaiming memory) hits both equally. Fresh servers and data
per round make every run independent: each starts from an empty registry and a cold server, the way
the reference figures in ``/work/shared/bench/README.md`` were taken.

Output: a table of medians over the rounds, the ratio ours/reference and the targets of the
performance issue with pass/fail; all raw JSON, logs and a Markdown summary go to
``benchmarks/results/<timestamp>/``. Exit status: 0 when every run of sciregistry passed
ocibench's correctness checks (speed never fails the run), 1 on correctness errors, 2 when a
server could not be started or ocibench failed fatally.

    .venv/bin/python benchmarks/run.py                 # 3 full rounds (about 10-15 minutes)
    .venv/bin/python benchmarks/run.py --quick --rounds 1
    .venv/bin/python benchmarks/run.py --env SCIREGISTRY_STORAGE_FSYNC=false --no-reference
    .venv/bin/python benchmarks/run.py --auth          # sciregistry with auth on (reference stays open)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
OCIBENCH = HERE / "ocibench.py"
REFERENCE_BIN = "/usr/bin/docker-registry"
RESULTS = HERE / "results"

OURS, REFERENCE = "sciregistry", "reference"


@dataclass(frozen=True)
class Target:
    """A goal of the performance issue: ours/reference (normalised so that > 1 is better) >= ratio."""

    workload: str
    ratio: float


TARGETS: dict[str, Target] = {
    t.workload: t
    for t in (
        Target("push_mono_large", 1.2),
        Target("push_chunked", 1.2),
        Target("push_single_patch", 1.2),
        Target("pull", 1.0),
        Target("manifest_get_c8", 1.2),
    )
}

# Rows of the summary table, in order (ocibench workload names); "peak_rss" is the server tree's peak RSS.
ROWS = [
    "push_mono_small",
    "push_mono_large",
    "push_chunked",
    "push_single_patch",
    "pull",
    "manifest_push",
    "manifest_get_c1",
    "manifest_get_c8",
    "manifest_get_c32",
    "head_blob_c8",
    "tags_list",
    "peak_rss",
]


# --------------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------------


@dataclass
class Server:
    """A registry process tree we started (its own process group) and what ocibench needs to reach it."""

    name: str
    url: str
    proc: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    user: str | None = None
    password: str | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the process group (graceful), SIGKILL after ``timeout`` seconds."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass


class StartError(RuntimeError):
    """A registry did not come up; the message carries the tail of its log."""


def _log_tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _wait_http_ok(url: str, proc: subprocess.Popen[bytes], deadline: float, log_path: Path) -> None:
    while True:
        if proc.poll() is not None:
            raise StartError(f"server exited with status {proc.returncode}:\n{_log_tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        if time.monotonic() > deadline:
            raise StartError(f"{url} did not answer 200 in time:\n{_log_tail(log_path)}")
        time.sleep(0.1)


def start_sciregistry(
    work: Path,
    *,
    workers: int,
    threads: int | None,
    env_overrides: dict[str, str],
    auth: bool,
    timeout: float = 90,
) -> Server:
    """``sciregistry serve --port 0``; wait for "Listening at", every "Booting worker" and /healthz.

    gunicorn answers as soon as one worker is up and keep-alive connections opened before the others
    boot stay on that worker (DESIGN.md section 4), so measuring before every worker has booted
    would measure one worker.
    """
    data_dir = work / "data"
    log_path = work / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIREGISTRY_")}
    env.update({"SCIREGISTRY_AUTH_ENABLED": "true" if auth else "false", "PYTHONUNBUFFERED": "1"})
    user = password = None
    if auth:
        # The admin user is created on first start with this password (Config.admin_password).
        user, password = "admin", secrets.token_urlsafe(18)
        env["SCIREGISTRY_ADMIN_PASSWORD"] = password
    env.update(env_overrides)
    exe = Path(sys.executable).parent / "sciregistry"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "sciregistry"]
    cmd += [
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        "--workers",
        str(workers),
    ]
    if threads:
        cmd += ["--threads", str(threads)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=REPO_ROOT,
        )
    deadline = time.monotonic() + timeout
    port, booted = None, 0
    while port is None or booted < workers:
        if proc.poll() is not None:
            raise StartError(f"sciregistry exited with status {proc.returncode}:\n{_log_tail(log_path)}")
        if time.monotonic() > deadline:
            proc.kill()
            raise StartError(
                f"sciregistry did not boot {workers} workers in {timeout} s:\n{_log_tail(log_path)}"
            )
        text = log_path.read_text(errors="replace")
        m = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
        port = int(m.group(1)) if m else None
        booted = text.count("Booting worker")
        time.sleep(0.1)
    url = f"http://127.0.0.1:{port}"
    server = Server(OURS, url, proc, data_dir, log_path, user, password)
    try:
        _wait_http_ok(url + "/healthz", proc, deadline, log_path)
    except StartError:
        server.stop(5)
        raise
    return server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


REFERENCE_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:{port}
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
"""


def start_reference(work: Path, binary: str, timeout: float = 30) -> Server:
    """distribution (``docker-registry serve``) with the configuration of
    ``/work/shared/bench/start_distribution.sh``: filesystem storage, delete enabled, no auth."""
    data_dir = work / "data"
    data_dir.mkdir(parents=True)
    log_path = work / "server.log"
    last_error: StartError | None = None
    for _attempt in range(3):  # the free port could be taken between probe and bind: retry
        port = _free_port()
        cfg = work / "config.yml"
        cfg.write_text(REFERENCE_CONFIG.format(root=data_dir, port=port))
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [binary, "serve", str(cfg)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        server = Server(REFERENCE, f"http://127.0.0.1:{port}", proc, data_dir, log_path)
        try:
            _wait_http_ok(server.url + "/v2/", proc, time.monotonic() + timeout, log_path)
            return server
        except StartError as exc:
            server.stop(5)
            last_error = exc
    raise last_error or StartError("reference registry did not start")


# --------------------------------------------------------------------------------------------------
# The machine: is anything else using the CPU?
# --------------------------------------------------------------------------------------------------


def machine_ticks() -> tuple[int, int]:
    """/proc/stat aggregate: (busy ticks, total ticks), steal counted as busy."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    v += [0] * (8 - len(v))
    idle = v[3] + v[4]
    total = sum(v[:8])
    return total - idle, total


def children_cpu() -> float:
    """CPU seconds of our reaped children (servers once stopped, ocibench runs)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def busy_fraction(seconds: float) -> float:
    """Fraction of the machine's CPU busy over the next ``seconds``."""
    b0, t0 = machine_ticks()
    time.sleep(seconds)
    b1, t1 = machine_ticks()
    return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


def wait_idle(max_wait: float, threshold: float = 0.15) -> float:
    """Wait (at most ``max_wait`` s) until the machine is less than ``threshold`` busy over 2 s,
    so another process's burst (a test suite on a shared machine) does not land in a measurement.
    Returns the last busy fraction seen."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = busy_fraction(2.0)
        if busy < threshold or time.monotonic() >= deadline:
            return busy
        time.sleep(1.0)


# --------------------------------------------------------------------------------------------------
# Running ocibench
# --------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One ocibench run against one server."""

    registry: str
    round: int
    exit_code: int
    json_path: Path
    doc: dict[str, Any] | None
    seconds: float
    idle_before: float = 0.0  # machine busy fraction just before the run
    background: float = 0.0  # share of the machine's CPU used by neither the server nor ocibench


def run_ocibench(server: Server, json_path: Path, log_path: Path, rnd: int, opts: argparse.Namespace) -> Run:
    cmd = [
        sys.executable,
        str(OCIBENCH),
        "--url",
        server.url,
        "--repo",
        opts.repo,
        "--server-pid",
        str(server.pid),
        "--label",
        f"{server.name}-r{rnd}",
        "--json",
        str(json_path),
    ]
    if opts.quick:
        cmd.append("--quick")
    if opts.only:
        cmd += ["--only", opts.only]
    if opts.duration:
        cmd += ["--duration", str(opts.duration)]
    env = dict(os.environ)
    if server.user is not None:
        cmd += ["--user", server.user]  # the password goes through the environment, not argv
        env["OCIBENCH_PASSWORD"] = server.password or ""
    t0 = time.monotonic()
    with open(log_path, "wb") as log:
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
    doc = None
    if json_path.exists():
        with open(json_path) as f:
            doc = json.load(f)
    return Run(server.name, rnd, code, json_path, doc, time.monotonic() - t0)


# --------------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------------


@dataclass
class Row:
    workload: str
    unit: str
    better: str  # "higher" or "lower"
    ref: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)

    @staticmethod
    def _med(v: list[float]) -> float | None:
        return statistics.median(v) if v else None

    @property
    def ref_median(self) -> float | None:
        return self._med(self.ref)

    @property
    def ours_median(self) -> float | None:
        return self._med(self.ours)

    @property
    def ratio(self) -> float | None:
        """ours / reference, raw."""
        r, o = self.ref_median, self.ours_median
        return o / r if r and o is not None else None

    @property
    def gain(self) -> float | None:
        """How many times better ours is (ratio for higher-is-better, its inverse otherwise)."""
        q = self.ratio
        if q is None:
            return None
        return q if self.better == "higher" else (1 / q if q else None)

    @property
    def target(self) -> Target | None:
        return TARGETS.get(self.workload)

    @property
    def verdict(self) -> str:
        t, g = self.target, self.gain
        if t is None:
            return ""
        if g is None:
            return "n/a"
        return "PASS" if g >= t.ratio else "FAIL"


def _value(doc: dict[str, Any], workload: str) -> tuple[float | None, str, str]:
    if workload == "peak_rss":
        srv = doc.get("server") or {}
        return srv.get("peak_rss_mib"), "MiB", "lower"
    w = (doc.get("workloads") or {}).get(workload)
    if not w or w.get("aborted") or not isinstance(w.get("value"), (int, float)):
        return None, (w or {}).get("unit", ""), (w or {}).get("better", "higher")
    return float(w["value"]), w.get("unit", ""), w.get("better", "higher")


def build_rows(runs: list[Run]) -> list[Row]:
    rows: dict[str, Row] = {}
    for name in ROWS:
        for run in runs:
            if run.doc is None:
                continue
            v, unit, better = _value(run.doc, name)
            row = rows.setdefault(name, Row(name, unit, better))
            if v is not None:
                (row.ours if run.registry == OURS else row.ref).append(v)
    return [rows[n] for n in ROWS if n in rows and (rows[n].ours or rows[n].ref)]


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


def _spread(v: list[float]) -> str:
    if not v:
        return "-"
    if len(v) == 1:
        return _fmt(v[0])
    return f"{_fmt(statistics.median(v))} ({_fmt(min(v))}-{_fmt(max(v))})"


def table_lines(rows: list[Row], markdown: bool) -> list[str]:
    head = [
        "workload",
        "unit",
        "reference median (min-max)",
        "sciregistry median (min-max)",
        "ours/ref",
        "gain",
        "target",
        "result",
    ]
    body = []
    for r in rows:
        t = r.target
        body.append(
            [
                r.workload,
                r.unit + ("" if r.better == "higher" else " (lower=better)"),
                _spread(r.ref),
                _spread(r.ours),
                f"{r.ratio:.2f}" if r.ratio is not None else "-",
                f"{r.gain:.2f}x" if r.gain is not None else "-",
                f">= {t.ratio}x" if t else "",
                r.verdict,
            ]
        )
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(c if c else " " for c in b) + " |" for b in body]
        return out
    w = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    return [
        "  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(x)) for x in [head, *body]
    ]


def cpu_lines(runs: list[Run], markdown: bool) -> list[str]:
    """Server CPU seconds per workload (median over rounds): where the cores went."""
    names: list[str] = []
    per: dict[tuple[str, str], list[float]] = {}
    for run in runs:
        for name, w in ((run.doc or {}).get("workloads") or {}).items():
            if isinstance(w.get("server_cpu_s"), (int, float)):
                if name not in names:
                    names.append(name)
                per.setdefault((run.registry, name), []).append(w["server_cpu_s"])
    head = ["workload", "reference server CPU s", "sciregistry server CPU s", "ours/ref"]
    body = []
    for n in names:
        r, o = per.get((REFERENCE, n)), per.get((OURS, n))
        rm = statistics.median(r) if r else None
        om = statistics.median(o) if o else None
        body.append([n, _fmt(rm), _fmt(om), f"{om / rm:.2f}" if rm and om is not None else "-"])
    if markdown:
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + [
            "| " + " | ".join(b) + " |" for b in body
        ]
    w = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    return [
        "  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(x)) for x in [head, *body]
    ]


def error_lines(runs: list[Run]) -> list[str]:
    out = []
    for run in runs:
        if run.doc is None:
            out.append(f"{run.registry} round {run.round}: ocibench exit {run.exit_code}, no JSON written")
            continue
        for name, w in run.doc.get("workloads", {}).items():
            if w.get("errors"):
                out.append(
                    f"{run.registry} round {run.round}: {name}: {w['errors']} errors, e.g. "
                    f"{'; '.join(w.get('error_samples', [])[:2])}"
                )
    return out


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.+)", f.read())
            info["cpu_model"] = m.group(1).strip() if m else None
        with open("/proc/meminfo") as f:
            m = re.search(r"MemTotal:\s+(\d+)", f.read())
            info["mem_total_mib"] = int(m.group(1)) // 1024 if m else None
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for pkg in ("gunicorn", "flask", "werkzeug", "sqlalchemy"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    info["versions"] = versions
    with contextlib.suppress(OSError):
        info["git"] = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    if os.path.exists(REFERENCE_BIN):
        with contextlib.suppress(OSError):
            info["reference"] = subprocess.run(
                [REFERENCE_BIN, "--version"], capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
    return info


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3, help="measurements of each registry (default 3)")
    p.add_argument("--quick", action="store_true", help="ocibench --quick (every workload shrunk)")
    p.add_argument("--only", help="ocibench --only (push_mono,push_chunked,pull,manifests,head,tags,sanity)")
    p.add_argument("--duration", type=float, help="ocibench --duration: seconds per timed concurrency level")
    p.add_argument("--repo", default="bench/x", help="repository name to push into")
    p.add_argument("--workers", type=int, default=2, help="sciregistry gunicorn workers (default 2)")
    p.add_argument("--threads", type=int, help="sciregistry threads per worker (default: its own, 8)")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for sciregistry, e.g. SCIREGISTRY_STORAGE_FSYNC=false (repeatable)",
    )
    p.add_argument(
        "--auth",
        action="store_true",
        help="run sciregistry with authentication (admin user, random password passed to ocibench); "
        "the reference stays without auth",
    )
    p.add_argument("--no-reference", action="store_true", help="measure sciregistry only")
    p.add_argument("--reference-bin", default=REFERENCE_BIN, help="distribution binary (docker-registry)")
    p.add_argument("--settle", type=float, default=2.0, help="seconds to pause (after sync) between runs")
    p.add_argument(
        "--wait-idle",
        type=float,
        default=60.0,
        help="before each run, wait up to this many seconds for the machine to be < 15%% busy "
        "(0: do not wait; default 60)",
    )
    p.add_argument("--out", type=Path, help="results directory (default benchmarks/results/<timestamp>)")
    a = p.parse_args(argv)
    if a.rounds < 1:
        p.error("--rounds must be >= 1")
    for kv in a.env:
        if "=" not in kv:
            p.error(f"--env expects KEY=VALUE, got {kv!r}")
    return a


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    with_ref = not opts.no_reference and os.access(opts.reference_bin, os.X_OK)
    if not opts.no_reference and not with_ref:
        print(f"note: {opts.reference_bin} not found: measuring sciregistry only", file=sys.stderr)
    env_overrides = dict(kv.split("=", 1) for kv in opts.env)
    out = opts.out or RESULTS / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="sciregistry-bench-"))
    meta = {
        "argv": sys.argv,
        "machine": machine_info(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rounds": opts.rounds,
        "quick": opts.quick,
        "auth": opts.auth,
        "sciregistry_env": env_overrides,
        "workers": opts.workers,
        "threads": opts.threads,
        "reference": with_ref,
    }
    print(f"results: {out}", flush=True)
    runs: list[Run] = []
    fatal = False
    try:
        for rnd in range(1, opts.rounds + 1):
            order = [OURS] if not with_ref else ([REFERENCE, OURS] if rnd % 2 else [OURS, REFERENCE])
            for name in order:
                work = scratch / f"r{rnd}-{name}"
                work.mkdir()
                idle_before = wait_idle(opts.wait_idle) if opts.wait_idle > 0 else busy_fraction(1.0)
                cpu0, (busy0, total0) = children_cpu(), machine_ticks()
                try:
                    if name == OURS:
                        server = start_sciregistry(
                            work,
                            workers=opts.workers,
                            threads=opts.threads,
                            env_overrides=env_overrides,
                            auth=opts.auth,
                        )
                    else:
                        server = start_reference(work, opts.reference_bin)
                except StartError as exc:
                    print(f"fatal: {name} did not start: {exc}", file=sys.stderr)
                    fatal = True
                    break
                try:
                    print(
                        f"round {rnd}/{opts.rounds}: {name} at {server.url} (pid {server.pid}) ...",
                        end=" ",
                        flush=True,
                    )
                    run = run_ocibench(
                        server, out / f"r{rnd}-{name}.json", out / f"r{rnd}-{name}.ocibench.log", rnd, opts
                    )
                finally:
                    server.stop()
                    shutil.copy(server.log_path, out / f"r{rnd}-{name}.server.log")
                    shutil.rmtree(work, ignore_errors=True)
                busy1, total1 = machine_ticks()
                ours_ticks = (children_cpu() - cpu0) * os.sysconf("SC_CLK_TCK")
                run.idle_before = idle_before
                run.background = max(0.0, (busy1 - busy0 - ours_ticks) / max(total1 - total0, 1))
                runs.append(run)
                errs = run.doc["errors_total"] if run.doc else "?"
                print(
                    f"{run.seconds:.0f} s, exit {run.exit_code}, errors {errs}, machine busy before "
                    f"{idle_before:.0%}, CPU used by others during the run {run.background:.0%}",
                    flush=True,
                )
                if run.exit_code == 2 or run.doc is None:
                    print(
                        f"fatal: ocibench failed, see {out / f'r{rnd}-{name}.ocibench.log'}", file=sys.stderr
                    )
                    fatal = True
                os.sync()  # flush the previous run's dirty pages so they are not written during the next
                time.sleep(opts.settle)
            if fatal:
                break
    except KeyboardInterrupt:
        print("\ninterrupted: summarising the runs so far", file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    rows = build_rows(runs)
    errors = error_lines(runs)
    bg = [f"{r.registry} r{r.round}: {r.background:.0%}" for r in runs]
    bg_line = (
        "CPU used by other processes and the kernel during each run (share of the machine): " + ", ".join(bg)
    )
    noisy = [r for r in runs if r.background > 0.10]
    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    title = (
        f"sciregistry vs {meta['machine'].get('reference', 'reference') if with_ref else '(no reference)'}: "
        f"{len(runs)} runs, {'quick' if opts.quick else 'full'} workloads"
        + (f", sciregistry env {env_overrides}" if env_overrides else "")
        + (", auth on" if opts.auth else "")
    )
    print("\n" + title)
    print("\n".join(table_lines(rows, markdown=False)))
    print("\n" + bg_line)
    if noisy:
        print(f"warning: {len(noisy)} run(s) shared the machine with > 10% foreign CPU: figures are noisy")
    print("\nserver CPU seconds per workload (median):")
    print("\n".join(cpu_lines(runs, markdown=False)))
    if errors:
        print("\ncorrectness errors:\n  " + "\n  ".join(errors))
    m = meta["machine"]
    md = [
        f"# Benchmark {out.name}",
        "",
        title,
        "",
        (
            f"Machine: {m.get('cpus')} x {m.get('cpu_model')}, {m.get('mem_total_mib')} MiB RAM, "
            f"{m.get('platform')}; Python {m.get('python')}, {m.get('versions')}; sciregistry {m.get('git')}."
        ),
        "",
        f"Command: `{' '.join(sys.argv)}`",
        "",
        *table_lines(rows, markdown=True),
        "",
        bg_line + ".",
        "",
        "`gain` is how many times better sciregistry is (the ratio, inverted when lower is better).",
        "",
        "## Server CPU seconds per workload (median)",
        "",
        *cpu_lines(runs, markdown=True),
        "",
    ]
    if errors:
        md += ["## Correctness errors", "", *[f"- {e}" for e in errors], ""]
    (out / "summary.md").write_text("\n".join(md))
    summary = {
        "meta": meta,
        "runs": [
            {
                "registry": r.registry,
                "round": r.round,
                "exit_code": r.exit_code,
                "json": r.json_path.name,
                "seconds": round(r.seconds, 1),
                "busy_before": round(r.idle_before, 3),
                "background": round(r.background, 3),
            }
            for r in runs
        ],
        "rows": [
            {
                "workload": r.workload,
                "unit": r.unit,
                "better": r.better,
                "reference": r.ref,
                "sciregistry": r.ours,
                "reference_median": r.ref_median,
                "sciregistry_median": r.ours_median,
                "ratio": r.ratio,
                "gain": r.gain,
                "target": r.target.ratio if r.target else None,
                "result": r.verdict,
            }
            for r in rows
        ],
        "errors": errors,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"\nwritten: {out / 'summary.md'}")
    if fatal:
        return 2
    ours_errors = any(r.registry == OURS and (r.exit_code != 0 or not r.doc) for r in runs)
    return 1 if ours_errors else 0


if __name__ == "__main__":
    sys.exit(main())
