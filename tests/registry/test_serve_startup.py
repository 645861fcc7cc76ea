"""``sciregistry serve`` startup: migrations run in a short-lived child, the gunicorn master stays small,
and a database that cannot be reached stops the server with one clear message, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def _children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(x) for x in out.split()]


def test_master_does_not_hold_the_application(shared_server: Any) -> None:
    """On the session's shared server (2 workers): this test only reads its process tree."""
    server = shared_server
    workers = _children(server.pid)
    assert len(workers) == 2, workers  # the migration child has exited; only the workers remain
    master = _rss_kib(server.pid)
    biggest_worker = max(_rss_kib(w) for w in workers)
    # The master imports the CLI and gunicorn only (about 35 MiB); a worker imports the application.
    assert master < 0.75 * biggest_worker, (master, biggest_worker)
    assert server.data_dir.is_dir()


def test_unreachable_database_is_one_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIREGISTRY_")}
    # port 1 on loopback: nothing listens there, the connection is refused at once
    env["SCIREGISTRY_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sciregistry",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "could not prepare the database" in proc.stderr
    assert "Connection refused" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Listening at" not in proc.stdout + proc.stderr
