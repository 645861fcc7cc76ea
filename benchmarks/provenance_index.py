"""Lineage and impact on a large provenance index (issue: median under 50 ms with 100,000 runs).

Builds a registry database with N indexed runs (default 100,000) directly through the models, with
a realistic shape, then times the /api/v1 queries through ``RunQueries`` (the code the API calls):

    10 pipeline images (one of them an image index over two platform manifests)
    2,000 input datasets
    N runs, each: 1 image, 2 datasets, 3 parameters, 2 outputs -> 1 result
    every 10th run also takes an earlier result as input (chains of derived results)
    every 100th run is a workflow run of 100 steps, each step in one of the images with 3
    parameters and its files (run_steps rows; every step image is an ancestor of the run)

Queries timed (each 200 times, random subjects): lineage of a result; impact of a dataset;
impact (first page of 100 runs with their results, and the total count) of an image manifest digest
reached through its index (about 30,000 dependent runs); run search by parameter name and value;
lineage of a 100-step workflow result (issue 12: under 50 ms at 100,000 runs).

    .venv/bin/python benchmarks/provenance_index.py [--runs 100000] [--database-url URL]
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

from sqlalchemy import insert

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sciregistry.db import make_engine, make_session_factory
from sciregistry.db.migrate import upgrade
from sciregistry.db.models import (
    Manifest,
    ManifestRef,
    Repository,
    Run,
    RunAncestor,
    RunInput,
    RunOutput,
    RunParameter,
    RunStep,
    RunWorkflow,
)
from sciregistry.oci import artifacts
from sciregistry.registry.runs import RunQueries


def d(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def build(engine, n_runs: int) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    rnd = random.Random(42)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(Repository), [{"id": 1, "name": "lab/pipeline", "created_at": t0},
                                          {"id": 2, "name": "lab/data", "created_at": t0},
                                          {"id": 3, "name": "lab/results", "created_at": t0}])
        images = [d(f"image{i}") for i in range(10)]
        manifests = [{"id": i + 1, "repository_id": 1, "digest": img, "media_type": "application/vnd.oci.image.manifest.v1+json",
                      "artifact_type": None, "subject_digest": None, "annotations": None, "size": 2,
                      "content": b"{}", "created_at": t0} for i, img in enumerate(images)]
        index = d("index")
        manifests.append({"id": 11, "repository_id": 1, "digest": index,
                          "media_type": "application/vnd.oci.image.index.v1+json", "artifact_type": None,
                          "subject_digest": None, "annotations": None, "size": 2, "content": b"{}", "created_at": t0})
        datasets = [d(f"dataset{i}") for i in range(2000)]
        manifests += [{"id": 100 + i, "repository_id": 2, "digest": ds, "media_type": "application/vnd.oci.image.manifest.v1+json",
                       "artifact_type": artifacts.DATASET, "subject_digest": None, "annotations": None, "size": 2,
                       "content": b"{}", "created_at": t0} for i, ds in enumerate(datasets)]
        conn.execute(insert(Manifest), manifests)
        conn.execute(insert(ManifestRef), [{"manifest_id": 11, "digest": images[0], "kind": "manifest"},
                                           {"manifest_id": 11, "digest": images[1], "kind": "manifest"}])
        results: list[str] = []
        workflow_results: list[str] = []
        ancestry: dict[str, set[str]] = {}
        batch = 5000
        for start in range(0, n_runs, batch):
            runs, params, inputs, outputs, res_manifests, ancestors = [], [], [], [], [], []
            steps, workflows = [], []
            for i in range(start, min(start + batch, n_runs)):
                rid = i + 1
                result = d(f"result{i}")
                use_index = rnd.random() < 0.2
                img = rnd.randrange(10)
                runs.append({"id": rid, "repository_id": 3, "crate_manifest_id": 1_000_000 + rid,
                             "crate_digest": d(f"crate{i}"), "result_digest": result, "name": f"run {i}",
                             "command": "gc-content.sh --k {k} /in/reads /out", "image_registry": "127.0.0.1:5000",
                             "image_repository": "lab/pipeline", "image_tag": "1.0",
                             "image_digest": index if use_index else images[img],
                             "image_index_digest": index if use_index else None,
                             "agent_name": f"Researcher {i % 50}", "agent_orcid": None,
                             "started": t0 + timedelta(minutes=i), "ended": t0 + timedelta(minutes=i + 1),
                             "created_at": t0})
                res_manifests.append({"id": 1_000_000 + rid, "repository_id": 3, "digest": result,
                                      "media_type": "application/vnd.oci.image.manifest.v1+json",
                                      "artifact_type": artifacts.RESULT, "subject_digest": None, "annotations": None,
                                      "size": 2, "content": b"{}", "created_at": t0})
                k = rnd.randrange(3, 8)
                params += [{"run_id": rid, "name": "k", "type": "integer", "value": str(k), "number": float(k)},
                           {"run_id": rid, "name": "min_length", "type": "integer", "value": "100", "number": 100.0},
                           {"run_id": rid, "name": "label", "type": "string", "value": f"batch{i % 100}",
                            "number": None}]
                a, b = rnd.sample(range(2000), 2)
                inputs += [{"run_id": rid, "name": "reads", "repository": "lab/data", "digest": datasets[a]},
                           {"run_id": rid, "name": "reference", "repository": "lab/data", "digest": datasets[b]}]
                anc = {index, images[0], images[1]} if use_index else {images[img]}
                anc |= {datasets[a], datasets[b]}
                if i % 10 == 9 and results:
                    prev = results[rnd.randrange(max(0, len(results) - 1000), len(results))]
                    inputs.append({"run_id": rid, "name": "previous", "repository": "lab/results", "digest": prev})
                    anc |= {prev} | ancestry[prev]
                if i % 100 == 0:  # a 100-step workflow run
                    workflows.append({"run_id": rid, "language": "cwl", "path": "packed.cwl",
                                      "sha256": hashlib.sha256(f"wf{i}".encode()).hexdigest(), "size": 5000,
                                      "input_files": "[]"})
                    for pos in range(100):
                        step_image = images[rnd.randrange(10)]
                        anc.add(step_image)
                        f_in = {"path": f"s{pos}.in", "sha256": hashlib.sha256(f"{i}/{pos}i".encode()).hexdigest(),
                                "size": 10}
                        f_out = {"path": f"s{pos}.out", "sha256": hashlib.sha256(f"{i}/{pos}o".encode()).hexdigest(),
                                 "size": 10}
                        steps.append({"run_id": rid, "position": pos, "name": f"main/step{pos}",
                                      "image_registry": "127.0.0.1:5000", "image_repository": "lab/pipeline",
                                      "image_tag": None, "image_digest": step_image,
                                      "command": f"packed.cwl#tool{pos}.cwl",
                                      "parameters": '[{"name": "k", "value": "3", "type": "string"}, '
                                                    '{"name": "min_length", "value": "0", "type": "string"}, '
                                                    '{"name": "mode", "value": "fast", "type": "string"}]',
                                      "inputs": f"[{json.dumps(f_in)}]",
                                      "outputs": f"[{json.dumps(f_out)}]",
                                      "started": t0 + timedelta(minutes=i, seconds=pos),
                                      "ended": t0 + timedelta(minutes=i, seconds=pos + 1)})
                    workflow_results.append(result)
                ancestry[result] = anc
                ancestors += [{"digest": x, "run_id": rid} for x in anc]
                outputs += [{"run_id": rid, "path": "gc.tsv", "sha256": hashlib.sha256(f"o{i}a".encode()).hexdigest(),
                             "size": 1000},
                            {"run_id": rid, "path": "kmers.tsv", "sha256": hashlib.sha256(f"o{i}b".encode()).hexdigest(),
                             "size": 2000}]
                results.append(result)
            conn.execute(insert(Manifest), res_manifests)
            conn.execute(insert(Run), runs)
            conn.execute(insert(RunParameter), params)
            conn.execute(insert(RunInput), inputs)
            conn.execute(insert(RunOutput), outputs)
            conn.execute(insert(RunAncestor), ancestors)
            if steps:
                conn.execute(insert(RunWorkflow), workflows)
                conn.execute(insert(RunStep), steps)
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return {"images": images, "index": [index], "datasets": datasets, "results": results,
            "workflow_results": workflow_results}


def timed(fn, args_list) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for args in args_list:
        t = time.perf_counter()
        fn(*args)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--target-ms", type=float, default=50.0)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sciregistry-provbench-")
    url = args.database_url or f"sqlite:///{tmp}/registry.db"
    engine = make_engine(url)
    upgrade(engine)
    t = time.perf_counter()
    data = build(engine, args.runs)
    print(f"built {args.runs} runs in {time.perf_counter() - t:.1f} s ({engine.dialect.name})")
    q = RunQueries(make_session_factory(engine))
    rnd = random.Random(7)
    n = args.queries
    rows = [
        ("lineage(result)", timed(lambda r: q.lineage("lab/results", r),
                                  [(rnd.choice(data["results"]),) for _ in range(n)])),
        ("lineage(100-step workflow)", timed(lambda r: q.lineage("lab/results", r),
                                             [(rnd.choice(data["workflow_results"]),) for _ in range(n)])),
        ("impact(dataset)", timed(lambda x: q.impact(x), [(rnd.choice(data["datasets"]),) for _ in range(n)])),
        ("impact(image via index)", timed(lambda x: q.impact(x), [(data["images"][0],) for _ in range(max(n // 10, 5))])),
        ("search(parameter=k,value)", timed(lambda v: q.search(parameter="k", value=v, limit=50),
                                            [(str(rnd.randrange(3, 8)),) for _ in range(n)])),
    ]
    print(f"{'query':28} {'median ms':>10} {'p95 ms':>8}  target {args.target_ms:.0f} ms")
    ok = True
    for name, times in rows:
        med = statistics.median(times)
        p95 = sorted(times)[int(len(times) * 0.95) - 1]
        passed = med < args.target_ms
        ok &= passed
        print(f"{name:28} {med:10.1f} {p95:8.1f}  {'ok' if passed else 'SLOW'}")
    engine.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
