"""A 1 GiB dataset pushes and pulls with flat memory on both sides, verified by digest (slow)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest


def tree_rss(root: int) -> int:
    """Sum of VmRSS (bytes) over ``root`` and its descendants."""
    pids, total = [root], 0
    i = 0
    while i < len(pids):
        try:
            children = Path(f"/proc/{pids[i]}/task/{pids[i]}/children").read_text().split()
        except OSError:
            children = []
        pids += [int(c) for c in children]
        i += 1
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


class Sampler(threading.Thread):
    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.samples, self._halt = root, [0], threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append(tree_rss(self.root))
            self._halt.wait(0.05)

    def stop(self) -> None:
        self._halt.set()
        self.join()


MiB = 1 << 20
SIZE = 1024 * MiB
LIMIT_MIB = 30

SCRIPT = textwrap.dedent("""
    import json, sys
    from sciregistry.client import Registry

    def kib(field):
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])

    def reset_peak():
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")

    url, src_dir, dest = sys.argv[1:4]
    reg = Registry(url, progress=False, use_stored_credentials=False)
    host = url.split("://", 1)[1]
    reg.push_dataset(f"{host}/lab/warmup:v1", [sys.argv[4]])          # warm every code path
    reset_peak(); base = kib("VmRSS")
    digest = reg.push_dataset(f"{host}/lab/big:v1", [src_dir])
    push_growth = kib("VmHWM") - base
    reset_peak(); base = kib("VmRSS")
    reg.pull(f"{host}/lab/big@{digest}", dest)
    pull_growth = kib("VmHWM") - base
    print(json.dumps({"digest": digest, "push_growth_kib": push_growth, "pull_growth_kib": pull_growth}))
""")


@pytest.mark.slow
def test_1gib_dataset_push_pull_flat_memory(live_server: Any, tmp_path: Path, record_property: Any) -> None:
    src = tmp_path / "src"
    src.mkdir()
    h = hashlib.sha256()
    with open(src / "reads.fastq", "wb") as f:
        block = hashlib.sha256(b"seed").digest() * (MiB // 32)
        for i in range(SIZE // MiB):
            chunk = block[i % 32 :] + block[: i % 32]
            f.write(chunk)
            h.update(chunk)
    warm = tmp_path / "warm.txt"
    warm.write_text("warm-up\n")
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    idle = tree_rss(live_server.pid)
    sampler = Sampler(live_server.pid)
    sampler.start()
    try:
        proc = subprocess.run(
            [sys.executable, str(script), live_server.url, str(src), str(tmp_path / "dest"), str(warm)],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        sampler.stop()
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    pulled = tmp_path / "dest" / "reads.fastq"
    g = hashlib.sha256()
    with open(pulled, "rb") as f:
        while b := f.read(MiB):
            g.update(b)
    assert g.hexdigest() == h.hexdigest()
    server_growth = (max(sampler.samples) - idle) / MiB
    push, pull = out["push_growth_kib"] / 1024, out["pull_growth_kib"] / 1024
    record_property("server_rss_idle_mib", idle / MiB)
    record_property("server_rss_growth_mib", server_growth)
    record_property("client_push_growth_mib", push)
    record_property("client_pull_growth_mib", pull)
    print(
        f"1 GiB dataset: server RSS idle {idle / MiB:.1f} MiB, growth {server_growth:.1f} MiB; "
        f"client growth push {push:.1f} MiB, pull {pull:.1f} MiB",
        file=sys.stderr,
    )
    assert server_growth <= LIMIT_MIB
    assert push <= LIMIT_MIB and pull <= LIMIT_MIB
