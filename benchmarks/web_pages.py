"""Server-side render time of the web pages at 100,000 runs and 10,000 repositories (issue #13:
home, a repository page, a run page with its provenance graph and a search, each < 100 ms).

Builds a registry database in bulk (SQLAlchemy Core inserts, not HTTP), with authentication on
and half of the namespaces public, so every query applies an anonymous visitor's visibility:

    100 namespaces x 100 repositories = 10,000 repositories, each with an image manifest and 5 tags
    1,000 datasets (in the dataset repositories), 100,000 runs (3 parameters, 1 input, 1 output,
    a result and a run crate each; every 10th run also takes an earlier result as input),
    1,000 DOIs; the search index filled in bulk with the same rows the registry hooks write

then renders each page through the Flask test client (the whole server-side path: routing, auth
gate, queries, templates, SVG layout) and reports the median and 95th percentile.

    .venv/bin/python benchmarks/web_pages.py [--runs 100000] [--repos 10000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sciregistry.db.models import (
    Doi,
    Manifest,
    Namespace,
    Repository,
    Run,
    RunAncestor,
    RunInput,
    RunOutput,
    RunParameter,
    SearchEntry,
    Tag,
)
from sciregistry.oci import OCI_CONFIG, OCI_MANIFEST, artifacts

TARGET_MS = 100.0
CHUNK = 5000


def d(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def chunked(conn: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(model), rows[i : i + CHUNK])


def build(engine: Any, n_runs: int, n_repos: int) -> dict[str, Any]:
    rnd = random.Random(13)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    n_ns = 100
    repos, namespaces, manifests, tags, entries = [], [], [], [], []
    mid = 0
    image_of: dict[int, tuple[int, str]] = {}
    for n in range(n_ns):
        namespaces.append(
            {"id": n + 1, "name": f"ns{n}", "public": n % 2 == 0, "personal": False, "created_at": t0}
        )
    for r in range(n_repos):
        ns = r % n_ns
        name = f"ns{ns}/repo{r}"
        rid = r + 1
        repos.append({"id": rid, "name": name, "created_at": t0})
        entries.append(
            {
                "kind": "repository",
                "key": f"repository:{name}",
                "namespace": f"ns{ns}",
                "repository": name,
                "title": name,
                "body": name.replace("/", " "),
                "ref": name,
                "digest": None,
                "created_at": t0,
            }
        )
        mid += 1
        digest = d(f"image{r}")
        config = {"mediaType": OCI_CONFIG, "digest": d(f"config{r}"), "size": 200}
        content = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": config,
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": d(f"layer{r}-{i}"),
                        "size": 1000 * (i + 1),
                    }
                    for i in range(3)
                ],
            }
        )
        manifests.append(
            {
                "id": mid,
                "repository_id": rid,
                "digest": digest,
                "media_type": OCI_MANIFEST,
                "artifact_type": OCI_CONFIG,
                "subject_digest": None,
                "annotations": None,
                "size": len(content),
                "content": content.encode(),
                "created_at": t0,
            }
        )
        image_of[rid] = (mid, digest)
        for t in range(5):
            tags.append(
                {
                    "repository_id": rid,
                    "name": f"v{t}",
                    "manifest_id": mid,
                    "updated_at": t0 + timedelta(minutes=t),
                }
            )
            entries.append(
                {
                    "kind": "tag",
                    "key": f"tag:{name}:v{t}",
                    "namespace": f"ns{ns}",
                    "repository": name,
                    "title": f"{name}:v{t}",
                    "body": f"{name.replace('/', ' ')} v{t}",
                    "ref": f"v{t}",
                    "digest": digest,
                    "created_at": t0,
                }
            )
    datasets = []
    for k in range(1000):
        rid = rnd.randrange(n_repos) + 1
        name = repos[rid - 1]["name"]
        mid += 1
        digest = d(f"dataset{k}")
        content = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": artifacts.DATASET,
                "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": d("{}"), "size": 2},
                "layers": [
                    {
                        "mediaType": "text/plain",
                        "digest": d(f"f{k}-{i}"),
                        "size": 100,
                        "annotations": {artifacts.TITLE: f"sample_{i}.fa"},
                    }
                    for i in range(3)
                ],
            }
        )
        manifests.append(
            {
                "id": mid,
                "repository_id": rid,
                "digest": digest,
                "media_type": OCI_MANIFEST,
                "artifact_type": artifacts.DATASET,
                "subject_digest": None,
                "annotations": None,
                "size": len(content),
                "content": content.encode(),
                "created_at": t0,
            }
        )
        datasets.append((rid, name, digest))
        entries.append(
            {
                "kind": "dataset",
                "key": f"dataset:{name}@{digest}",
                "namespace": name.split("/")[0],
                "repository": name,
                "title": f"reads batch {k}",
                "body": "sample_0.fa sample_1.fa sample_2.fa",
                "ref": digest,
                "digest": digest,
                "created_at": t0,
            }
        )
    runs, params, inputs, outputs, ancestors, dois = [], [], [], [], [], []
    results: list[tuple[str, str]] = []
    for i in range(n_runs):
        rid = rnd.randrange(n_repos) + 1
        name = repos[rid - 1]["name"]
        img_rid = rnd.randrange(n_repos) + 1
        _, img_digest = image_of[img_rid]
        result, crate = d(f"result{i}"), d(f"crate{i}")
        mid += 1
        manifests.append(
            {
                "id": mid,
                "repository_id": rid,
                "digest": result,
                "media_type": OCI_MANIFEST,
                "artifact_type": artifacts.RESULT,
                "subject_digest": None,
                "annotations": None,
                "size": 100,
                "content": b"{}",
                "created_at": t0,
            }
        )
        mid += 1
        manifests.append(
            {
                "id": mid,
                "repository_id": rid,
                "digest": crate,
                "media_type": OCI_MANIFEST,
                "artifact_type": artifacts.ROCRATE,
                "subject_digest": result,
                "annotations": None,
                "size": 100,
                "content": b"{}",
                "created_at": t0,
            }
        )
        run_id = i + 1
        started = t0 + timedelta(minutes=i)
        runs.append(
            {
                "id": run_id,
                "repository_id": rid,
                "crate_manifest_id": mid,
                "crate_digest": crate,
                "result_digest": result,
                "name": f"analysis {i}",
                "command": "count --k {k} --window {window}",
                "image_registry": "registry.example",
                "image_repository": repos[img_rid - 1]["name"],
                "image_tag": "v1",
                "image_digest": img_digest,
                "image_index_digest": None,
                "agent_name": f"Researcher {i % 300}",
                "agent_orcid": None,
                "started": started,
                "ended": started + timedelta(minutes=3),
                "created_at": started,
            }
        )
        k, window = rnd.randrange(2, 9), rnd.randrange(10, 1000)
        for pname, value in (("k", k), ("window", window), ("mode", rnd.choice(["fast", "exact"]))):
            params.append(
                {
                    "run_id": run_id,
                    "name": pname,
                    "type": "integer" if pname != "mode" else "string",
                    "value": str(value),
                    "number": float(value) if pname != "mode" else None,
                }
            )
        _, ds_name, ds_digest = datasets[rnd.randrange(len(datasets))]
        inputs.append({"run_id": run_id, "name": "reads", "repository": ds_name, "digest": ds_digest})
        ancestors += [{"digest": img_digest, "run_id": run_id}, {"digest": ds_digest, "run_id": run_id}]
        if i % 10 == 9 and results:
            up_repo, up_digest = results[rnd.randrange(len(results))]
            inputs.append({"run_id": run_id, "name": "upstream", "repository": up_repo, "digest": up_digest})
            ancestors.append({"digest": up_digest, "run_id": run_id})
        outputs.append({"run_id": run_id, "path": "out.tsv", "sha256": d(f"o{i}")[7:], "size": 123})
        results.append((name, result))
        entries.append(
            {
                "kind": "run",
                "key": f"run:{run_id}",
                "namespace": name.split("/")[0],
                "repository": name,
                "title": f"analysis {i}",
                "ref": str(run_id),
                "digest": result,
                "created_at": started,
                "body": f"k {k} window {window} mode count --k {{k}} --window {{window}} "
                f"Researcher {i % 300} "
                f"reads {name}",
            }
        )
        if i % 100 == 0:
            doi = f"10.5072/b{i:07d}"
            dois.append(
                {
                    "doi": doi,
                    "repository_id": rid,
                    "result_digest": result,
                    "crate_digest": crate,
                    "run_id": run_id,
                    "state": "findable",
                    "is_concept": False,
                    "version": 1,
                    "metadata_json": json.dumps({"titles": [{"title": f"Result {i}"}]}),
                    "created_at": started,
                    "reproductions": 0,
                }
            )
            entries.append(
                {
                    "kind": "doi",
                    "key": f"doi:{doi}",
                    "namespace": name.split("/")[0],
                    "repository": name,
                    "title": f"Result {i}",
                    "body": f"{doi} Researcher {i % 300}",
                    "ref": doi,
                    "digest": result,
                    "created_at": started,
                }
            )
    with engine.begin() as conn:
        chunked(conn, Namespace, namespaces)
        chunked(conn, Repository, repos)
        chunked(conn, Manifest, manifests)
        chunked(conn, Tag, tags)
        chunked(conn, Run, runs)
        chunked(conn, RunParameter, params)
        chunked(conn, RunInput, inputs)
        chunked(conn, RunOutput, outputs)
        chunked(conn, RunAncestor, ancestors)
        chunked(conn, Doi, dois)
        chunked(conn, SearchEntry, entries)
    # a public repository with a deep enough run: the run page is one whose inputs include an upstream result
    public_runs = [r for r in runs if int(repos[r["repository_id"] - 1]["name"].split("/")[0][2:]) % 2 == 0]
    chained = [r for r in public_runs if r["id"] % 10 == 0]
    public_repo = repos[0]["name"]
    return {
        "repo": public_repo,
        "image": image_of[1][1],
        "run": chained[len(chained) // 2]["id"],
        "any_run": public_runs[-1]["id"],
    }


def time_page(client: Any, url: str, n: int) -> tuple[float, float, int]:
    client.get(url)  # warm: template compilation, caches
    samples = []
    status = 0
    for _ in range(n):
        t = time.perf_counter()
        resp = client.get(url)
        resp.get_data()
        samples.append((time.perf_counter() - t) * 1000)
        status = resp.status_code
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1], status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--repos", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    args = ap.parse_args()
    from sciregistry.app import create_app

    with tempfile.TemporaryDirectory(prefix="sciregistry-webbench-") as tmp:
        config: dict[str, Any] = {
            "data_dir": tmp,
            "auth_enabled": True,
            "testing": True,
            "storage_fsync": False,
        }
        if args.database_url:
            config["database_url"] = args.database_url
        app = create_app(config)
        svc = app.extensions["sciregistry"]
        t = time.perf_counter()
        ids = build(svc.engine, args.runs, args.repos)
        if (
            svc.engine.dialect.name == "postgresql"
        ):  # the steady state autovacuum keeps: index-only scans work
            with svc.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            with svc.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        print(
            f"built {args.runs} runs, {args.repos} repositories on {svc.engine.dialect.name} "
            f"in {time.perf_counter() - t:.0f} s"
        )
        client = app.test_client()
        pages = [
            ("home", "/"),
            ("repository page (tags)", f"/r/{ids['repo']}"),
            ("image manifest page", f"/r/{ids['repo']}/-/manifest/{ids['image']}"),
            ("run page with graph", f"/runs/{ids['run']}"),
            ("search: a parameter", "/search?q=window+517"),
            ("search: a word, many hits", "/search?q=analysis"),
            ("search: digest prefix", f"/search?q={ids['image'][7:19]}"),
            ("runs list", "/runs"),
            ("runs filtered by parameter", "/runs?parameter=k&value=5"),
            ("GET /api/v1/search", "/api/v1/search?q=researcher+42"),
        ]
        print(
            f"{'page (anonymous visitor, 50 of 100 namespaces public)':58} {'median':>8} {'p95':>8}  target"
        )
        worst = 0.0
        for label, url in pages:
            med, p95, status = time_page(client, url, args.repeat)
            assert status == 200, (url, status)
            target = label in ("home", "repository page (tags)", "run page with graph", "search: a parameter")
            worst = max(worst, med) if target else worst
            mark = ("ok" if med < TARGET_MS else "SLOW") if target else ""
            print(f"{label:58} {med:7.1f}ms {p95:7.1f}ms  {mark}")
        svc.engine.dispose()
        print(f"\nslowest targeted page: {worst:.1f} ms (target < {TARGET_MS:.0f} ms)")


if __name__ == "__main__":
    main()
