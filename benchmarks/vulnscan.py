"""Vulnerability scanning speed (issue #14 targets), measured on synthetic but realistic data.

    .venv/bin/python benchmarks/vulnscan.py                 # all three, about 1-2 minutes
    .venv/bin/python benchmarks/vulnscan.py --only match --size-mib 256

1. ``catalogue``: an image of ``--size-mib`` (default 1024) MiB uncompressed in two gzip layers
   (files of pseudo-random, partly compressible bytes, plus a dpkg status of 400 packages, 300
   Python dist-infos, 200 conda-meta records, 100 R and 200 npm packages, and whiteouts), written
   to a temporary directory in a child process and catalogued from disk. Target: < 30 s, peak RSS
   within 30 MiB of the process before cataloguing.
2. ``match``: 10^5 packages against 10^5 OSV records (PyPI, Debian and npm, ECOSYSTEM ranges with
   several events each): parsing, indexing and matching. Target: < 10 s.
3. ``affected``: ``VulnService.affected`` on a SQLite database holding 10^5 runs that used one
   image with a finding, through the impact use case (one page of 100 runs, the API default).
   Target: < 100 ms.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Noise:
    """``size`` bytes, half random and half zeros per 64 KiB (compresses about 2:1), read in chunks."""

    def __init__(self, size: int, seed: int) -> None:
        self.left = size
        self.rng = random.Random(seed)

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        out = bytearray()
        while len(out) < n:
            k = min(65536, n - len(out))
            half = k // 2
            out += self.rng.randbytes(half) + bytes(k - half)
        self.left -= n
        return bytes(out)


def _add(tf: tarfile.TarFile, path: str, data: bytes) -> None:
    info = tarfile.TarInfo(path)
    info.size = len(data)
    import io

    tf.addfile(info, io.BytesIO(data))


def write_image(directory: str, size_mib: int) -> list[str]:
    """Two layers (gzip level 1) totalling ``size_mib`` MiB of file content; returns their paths."""
    paths = []
    per_layer = size_mib // 2
    status = "".join(
        f"Package: pkg{i}\nStatus: install ok installed\nArchitecture: amd64\nSource: src{i % 97}\n"
        f"Version: 1.{i}.0-1\nDescription: package {i}\n\n"
        for i in range(400)
    )
    for layer in range(2):
        path = os.path.join(directory, f"layer{layer}.tar.gz")
        with (
            gzip.open(path, "wb", compresslevel=1) as gz,
            tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tf,
        ):
            if layer == 0:
                _add(tf, "etc/os-release", b"ID=debian\nVERSION_ID=12\n")
                _add(tf, "var/lib/dpkg/status", status.encode())
                for i in range(300):
                    _add(
                        tf,
                        f"usr/lib/python3/dist-packages/py{i}-2.{i}.dist-info/METADATA",
                        f"Metadata-Version: 2.1\nName: py{i}\nVersion: 2.{i}\n\n".encode(),
                    )
                for i in range(100):
                    _add(
                        tf,
                        f"usr/lib/R/site-library/R{i}/DESCRIPTION",
                        f"Package: R{i}\nVersion: 1.{i}.0\n".encode(),
                    )
            else:
                _add(tf, "usr/lib/python3/dist-packages/.wh.py0-2.0.dist-info", b"")
                for i in range(200):
                    _add(
                        tf,
                        f"opt/conda/conda-meta/c{i}-3.{i}-h0_0.json",
                        json.dumps({"name": f"c{i}", "version": f"3.{i}", "build": "h0_0"}).encode(),
                    )
                    _add(
                        tf,
                        f"srv/app/node_modules/n{i}/package.json",
                        json.dumps({"name": f"n{i}", "version": f"4.{i}.0"}).encode(),
                    )
            chunk = 4 << 20
            for i in range(per_layer * (1 << 20) // chunk):
                info = tarfile.TarInfo(f"data/l{layer}/f{i:05d}.bin")
                info.size = chunk
                tf.addfile(info, _Noise(chunk, layer * 100000 + i))  # type: ignore[arg-type]
        paths.append(path)
    return paths


def bench_catalogue(size_mib: int) -> dict[str, object]:
    from sciregistry.sbom import inventory

    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--write-image", d, "--size-mib", str(size_mib)], check=True
        )
        written = time.perf_counter() - t
        paths = [os.path.join(d, f"layer{i}.tar.gz") for i in range(2)]
        compressed = sum(os.path.getsize(p) for p in paths)
        before_rss, before_peak = rss_mib(), peak_mib()
        t = time.perf_counter()
        inv = inventory([(p, (lambda p=p: open(p, "rb"))) for p in paths])  # noqa: SIM115 - closed by collect
        elapsed = time.perf_counter() - t
        growth = max(0.0, peak_mib() - max(before_peak, before_rss))
    return {
        "what": f"catalogue a {size_mib} MiB image ({compressed / 2**20:.0f} MiB gzip)",
        "seconds": round(elapsed, 2),
        "target_seconds": 30,
        "packages": len(inv.packages),
        "peak_rss_growth_mib": round(growth, 1),
        "target_rss_growth_mib": 30,
        "rss_before_mib": round(before_rss, 1),
        "image_written_in_seconds": round(written, 1),
        "ok": elapsed < 30 and growth < 30 and len(inv.packages) == 400 + 299 + 100 + 200 + 200,
    }


def _records(n: int) -> list[dict[str, object]]:
    out = []
    for i in range(n):
        eco, name = [("PyPI", f"py{i % 40000}"), ("Debian:12", f"src{i % 30000}"), ("npm", f"n{i % 30000}")][
            i % 3
        ]
        major = i % 7
        out.append(
            {
                "id": f"BENCH-{i}",
                "modified": "2026-01-01T00:00:00Z",
                "summary": "x",
                "affected": [
                    {
                        "package": {"ecosystem": eco, "name": name},
                        "ranges": [
                            {
                                "type": "ECOSYSTEM",
                                "events": [
                                    {"introduced": "0"},
                                    {"fixed": f"{major}.1.0" + ("-1" if eco.startswith("Deb") else "")},
                                    {
                                        "introduced": f"{major + 1}.0.0"
                                        + ("-1" if eco.startswith("Deb") else "")
                                    },
                                    {"fixed": f"{major + 1}.5.0" + ("-1" if eco.startswith("Deb") else "")},
                                ],
                            }
                        ],
                    }
                ],
            }
        )
    return out


def bench_match(n: int) -> dict[str, object]:
    from sciregistry.sbom.catalogue import Package
    from sciregistry.sbom.osv import Matcher, parse_record

    recs = _records(n)
    pkgs = []
    for i in range(n):
        kind = i % 3
        v = f"{i % 9}.{i % 13}.{i % 5}"
        if kind == 0:
            pkgs.append(Package("pypi", f"py{i % 50000}", v, "x", "p"))
        elif kind == 1:
            pkgs.append(
                Package(
                    "deb",
                    f"bin{i}",
                    v + "-1",
                    "x",
                    "p",
                    source=f"src{i % 40000}",
                    namespace="debian",
                    distro="12",
                )
            )
        else:
            pkgs.append(Package("npm", f"n{i % 40000}", v, "x", "p"))
    t = time.perf_counter()
    advisories = [parse_record(r) for r in recs]
    parsed = time.perf_counter() - t
    m = Matcher(advisories)
    indexed = time.perf_counter() - t
    findings = m.match(pkgs)
    elapsed = time.perf_counter() - t
    return {
        "what": f"match {n} packages against {n} advisories",
        "seconds": round(elapsed, 2),
        "parse_seconds": round(parsed, 2),
        "index_seconds": round(indexed - parsed, 2),
        "match_seconds": round(elapsed - indexed, 2),
        "findings": len(findings),
        "target_seconds": 10,
        "ok": elapsed < 10,
    }


def bench_affected(runs: int) -> dict[str, object]:
    from sqlalchemy import insert

    from sciregistry.app import build_services
    from sciregistry.config import load_config
    from sciregistry.db.base import utcnow
    from sciregistry.db.models import ImageFinding, Repository, Run, RunAncestor, ScanJob
    from sciregistry.registry.vulns import VulnService

    with tempfile.TemporaryDirectory() as d:
        svc = build_services(
            load_config(
                overrides={"data_dir": d, "auth_enabled": False, "testing": True, "storage_fsync": False},
                environ={},
            )
        )
        vulns: VulnService = svc.vulns
        svc.vulns.import_records([("r.json", json.dumps(_records(1)[0]).encode())])
        image = "sha256:" + "ab" * 32
        now = utcnow()
        with svc.engine.connect() as conn:
            conn.exec_driver_sql(
                "PRAGMA foreign_keys=OFF"
            )  # runs without crate manifests: only the index matters
            conn.execute(
                insert(Repository),
                [
                    {"id": 1, "name": "lab/tool", "created_at": now},
                    {"id": 2, "name": "lab/results", "created_at": now},
                ],
            )
            conn.execute(
                insert(ScanJob),
                [
                    {
                        "id": 1,
                        "repository_id": 1,
                        "digest": image,
                        "state": "done",
                        "again": False,
                        "catalogued": True,
                        "generation": 1,
                        "attempts": 1,
                        "packages": 1,
                        "created_at": now,
                    }
                ],
            )
            conn.execute(
                insert(ImageFinding),
                [
                    {
                        "job_id": 1,
                        "record_id": "BENCH-0",
                        "kind": "security",
                        "finding_json": json.dumps({"package": "py0", "version": "0.0.1"}),
                    }
                ],
            )
            batch = 10000
            for start in range(0, runs, batch):
                rows = [
                    {
                        "id": i + 1,
                        "repository_id": 2,
                        "crate_manifest_id": i + 1,
                        "crate_digest": f"sha256:{i:064x}",
                        "result_digest": f"sha256:{i:064x}",
                        "name": "r",
                        "command": "c",
                        "image_registry": "h",
                        "image_repository": "lab/tool",
                        "image_tag": None,
                        "image_digest": image,
                        "image_index_digest": None,
                        "agent_name": None,
                        "agent_orcid": None,
                        "started": now,
                        "ended": now,
                        "created_at": now,
                    }
                    for i in range(start, min(runs, start + batch))
                ]
                conn.execute(insert(Run), rows)
                conn.execute(insert(RunAncestor), [{"digest": image, "run_id": r["id"]} for r in rows])
            conn.commit()
        vulns.affected("BENCH-0")  # warm the connection pool and statement caches
        times = []
        for _ in range(5):
            t = time.perf_counter()
            doc = vulns.affected("BENCH-0")
            times.append(time.perf_counter() - t)
        svc.engine.dispose()
    best = min(times)
    return {
        "what": f"affected at {runs} runs (SQLite)",
        "seconds": round(best, 4),
        "median_seconds": round(sorted(times)[2], 4),
        "runs_listed": len(doc["runs"]),
        "truncated": doc["truncated"],
        "target_seconds": 0.1,
        "ok": best < 0.1,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["catalogue", "match", "affected"])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--n", type=int, default=100_000, help="packages and advisories (match), runs (affected)")
    ap.add_argument("--write-image", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write_image:
        write_image(args.write_image, args.size_mib)
        return
    results = []
    if args.only in (None, "catalogue"):
        results.append(bench_catalogue(args.size_mib))
    if args.only in (None, "match"):
        results.append(bench_match(args.n))
    if args.only in (None, "affected"):
        results.append(bench_affected(args.n))
    print(json.dumps(results, indent=2))
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
