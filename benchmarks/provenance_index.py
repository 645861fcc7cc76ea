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

    .venv/bin/python benchmarks/provenance_index.py [--runs 100000] [--database-url URL] [--reuse]

    # PostgreSQL at 10^6 runs (docs/performance.md), in a schema of its own:
    .venv/bin/python benchmarks/provenance_index.py --runs 1000000 \
        --database-url 'postgresql+psycopg://postgres@127.0.0.1:5432/DB?options=-csearch_path%3Dbench'
"""

from __future__ import annotations

import argparse
import gc
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
from sciregistry.registry.runs import RunQueries, render_step_views


def d(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def build(engine, n_runs: int) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    rnd = random.Random(42)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(Repository),
            [
                {"id": 1, "name": "lab/pipeline", "created_at": t0},
                {"id": 2, "name": "lab/data", "created_at": t0},
                {"id": 3, "name": "lab/results", "created_at": t0},
            ],
        )
        images = [d(f"image{i}") for i in range(10)]
        manifests = [
            {
                "id": i + 1,
                "repository_id": 1,
                "digest": img,
                "media_type": "application/vnd.oci.image.manifest.v1+json",
                "artifact_type": None,
                "subject_digest": None,
                "annotations": None,
                "size": 2,
                "content": b"{}",
                "created_at": t0,
            }
            for i, img in enumerate(images)
        ]
        index = d("index")
        manifests.append(
            {
                "id": 11,
                "repository_id": 1,
                "digest": index,
                "media_type": "application/vnd.oci.image.index.v1+json",
                "artifact_type": None,
                "subject_digest": None,
                "annotations": None,
                "size": 2,
                "content": b"{}",
                "created_at": t0,
            }
        )
        datasets = [d(f"dataset{i}") for i in range(2000)]
        manifests += [
            {
                "id": 100 + i,
                "repository_id": 2,
                "digest": ds,
                "media_type": "application/vnd.oci.image.manifest.v1+json",
                "artifact_type": artifacts.DATASET,
                "subject_digest": None,
                "annotations": None,
                "size": 2,
                "content": b"{}",
                "created_at": t0,
            }
            for i, ds in enumerate(datasets)
        ]
        conn.execute(insert(Manifest), manifests)
        conn.execute(
            insert(ManifestRef),
            [
                {"manifest_id": 11, "digest": images[0], "kind": "manifest"},
                {"manifest_id": 11, "digest": images[1], "kind": "manifest"},
            ],
        )
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
                runs.append(
                    {
                        "id": rid,
                        "repository_id": 3,
                        "crate_manifest_id": 1_000_000 + rid,
                        "crate_digest": d(f"crate{i}"),
                        "result_digest": result,
                        "name": f"run {i}",
                        "command": "gc-content.sh --k {k} /in/reads /out",
                        "image_registry": "127.0.0.1:5000",
                        "image_repository": "lab/pipeline",
                        "image_tag": "1.0",
                        "image_digest": index if use_index else images[img],
                        "image_index_digest": index if use_index else None,
                        "agent_name": f"Researcher {i % 50}",
                        "agent_orcid": None,
                        "started": t0 + timedelta(minutes=i),
                        "ended": t0 + timedelta(minutes=i + 1),
                        "created_at": t0,
                    }
                )
                res_manifests.append(
                    {
                        "id": 1_000_000 + rid,
                        "repository_id": 3,
                        "digest": result,
                        "media_type": "application/vnd.oci.image.manifest.v1+json",
                        "artifact_type": artifacts.RESULT,
                        "subject_digest": None,
                        "annotations": None,
                        "size": 2,
                        "content": b"{}",
                        "created_at": t0,
                    }
                )
                k = rnd.randrange(3, 8)
                params += [
                    {"run_id": rid, "name": "k", "type": "integer", "value": str(k), "number": float(k)},
                    {"run_id": rid, "name": "min_length", "type": "integer", "value": "100", "number": 100.0},
                    {
                        "run_id": rid,
                        "name": "label",
                        "type": "string",
                        "value": f"batch{i % 100}",
                        "number": None,
                    },
                ]
                a, b = rnd.sample(range(2000), 2)
                inputs += [
                    {"run_id": rid, "name": "reads", "repository": "lab/data", "digest": datasets[a]},
                    {"run_id": rid, "name": "reference", "repository": "lab/data", "digest": datasets[b]},
                ]
                anc = {index, images[0], images[1]} if use_index else {images[img]}
                anc |= {datasets[a], datasets[b]}
                if i % 10 == 9 and results:
                    prev = results[rnd.randrange(max(0, len(results) - 1000), len(results))]
                    inputs.append(
                        {"run_id": rid, "name": "previous", "repository": "lab/results", "digest": prev}
                    )
                    anc |= {prev} | ancestry[prev]
                if i % 100 == 0:  # a 100-step workflow run
                    workflows.append(
                        {
                            "run_id": rid,
                            "language": "cwl",
                            "path": "packed.cwl",
                            "sha256": hashlib.sha256(f"wf{i}".encode()).hexdigest(),
                            "size": 5000,
                            "input_files": "[]",
                        }
                    )
                    for pos in range(100):
                        step_image = images[rnd.randrange(10)]
                        anc.add(step_image)
                        f_in = {
                            "path": f"s{pos}.in",
                            "sha256": hashlib.sha256(f"{i}/{pos}i".encode()).hexdigest(),
                            "size": 10,
                        }
                        f_out = {
                            "path": f"s{pos}.out",
                            "sha256": hashlib.sha256(f"{i}/{pos}o".encode()).hexdigest(),
                            "size": 10,
                        }
                        steps.append(
                            {
                                "run_id": rid,
                                "position": pos,
                                "name": f"main/step{pos}",
                                "image_registry": "127.0.0.1:5000",
                                "image_repository": "lab/pipeline",
                                "image_tag": None,
                                "image_digest": step_image,
                                "command": f"packed.cwl#tool{pos}.cwl",
                                "parameters": '[{"name": "k", "value": "3", "type": "string"}, '
                                '{"name": "min_length", "value": "0", "type": "string"}, '
                                '{"name": "mode", "value": "fast", "type": "string"}]',
                                "inputs": f"[{json.dumps(f_in)}]",
                                "outputs": f"[{json.dumps(f_out)}]",
                                "started": t0 + timedelta(minutes=i, seconds=pos),
                                "ended": t0 + timedelta(minutes=i, seconds=pos + 1),
                            }
                        )
                    workflow_results.append(result)
                ancestry[result] = anc
                ancestors += [{"digest": x, "run_id": rid} for x in anc]
                outputs += [
                    {
                        "run_id": rid,
                        "path": "gc.tsv",
                        "sha256": hashlib.sha256(f"o{i}a".encode()).hexdigest(),
                        "size": 1000,
                    },
                    {
                        "run_id": rid,
                        "path": "kmers.tsv",
                        "sha256": hashlib.sha256(f"o{i}b".encode()).hexdigest(),
                        "size": 2000,
                    },
                ]
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
        render_step_views(conn)  # the steps' views, as admission writes them (migration 0015)
    analyze(engine)
    return {
        "images": images,
        "index": [index],
        "datasets": datasets,
        "results": results,
        "workflow_results": workflow_results,
    }


def analyze(engine) -> None:  # type: ignore[no-untyped-def]
    """Statistics (and, on PostgreSQL, the visibility map index-only scans need), as autovacuum
    would have them on a registry that grew over months rather than in one bulk load."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


# The same shape as build(), generated inside PostgreSQL with generate_series (10^6 runs in about
# a minute rather than the better part of an hour through the ORM). Per-run choices come from a
# hash of the run number, so the digests Python computes below name the same rows.
PG_BUILD = """
CREATE TEMP TABLE plan AS
SELECT i,
       (hashtext(i || ':idx') & 2147483647) % 100 < 20 AS use_index,
       (hashtext(i || ':img') & 2147483647) % 10 AS img,
       (hashtext(i || ':a') & 2147483647) % 2000 AS a,
       ((hashtext(i || ':a') & 2147483647) % 2000 + 1
        + (hashtext(i || ':b') & 2147483647) % 1999) % 2000 AS b,
       3 + (hashtext(i || ':k') & 2147483647) % 5 AS k,
       CASE WHEN i % 10 = 9 AND i > 0
            THEN i - 1 - (hashtext(i || ':p') & 2147483647) % least(1000, i) END AS prev
FROM generate_series(0, __N__ - 1) AS i;
ALTER TABLE plan ADD PRIMARY KEY (i);
CREATE TEMP TABLE d (kind text, n int, digest text, PRIMARY KEY (kind, n));
INSERT INTO d SELECT 'image', g, 'sha256:' || encode(sha256(('image' || g)::bytea), 'hex')
  FROM generate_series(0, 9) g;
INSERT INTO d SELECT 'dataset', g, 'sha256:' || encode(sha256(('dataset' || g)::bytea), 'hex')
  FROM generate_series(0, 1999) g;
INSERT INTO d VALUES ('index', 0, 'sha256:' || encode(sha256('index'::bytea), 'hex'));
INSERT INTO manifests (id, repository_id, digest, media_type, artifact_type, size, content, created_at)
SELECT 1000001 + i, 3, 'sha256:' || encode(sha256(('result' || i)::bytea), 'hex'),
       'application/vnd.oci.image.manifest.v1+json', __RESULT_TYPE__, 2, '\\x7b7d'::bytea, __T0__
FROM plan;
INSERT INTO runs (id, repository_id, crate_manifest_id, crate_digest, result_digest, name, command,
                  image_registry, image_repository, image_tag, image_digest, image_index_digest, agent_name,
                  started, ended, created_at)
SELECT i + 1, 3, 1000001 + i, 'sha256:' || encode(sha256(('crate' || i)::bytea), 'hex'),
       'sha256:' || encode(sha256(('result' || i)::bytea), 'hex'), 'run ' || i,
       'gc-content.sh --k {k} /in/reads /out', '127.0.0.1:5000', 'lab/pipeline', '1.0',
       CASE WHEN use_index THEN (SELECT digest FROM d WHERE kind = 'index')
            ELSE (SELECT digest FROM d WHERE kind = 'image' AND n = img) END,
       CASE WHEN use_index THEN (SELECT digest FROM d WHERE kind = 'index') END,
       'Researcher ' || (i % 50), __T0__ + make_interval(mins => i), __T0__ + make_interval(mins => i + 1),
       __T0__
FROM plan;
-- each child table in run order, as admissions write them (a run's rows share a page)
INSERT INTO run_parameters (run_id, name, type, value, number)
SELECT * FROM (SELECT i + 1 AS run_id, 'k', 'integer', k::text, k FROM plan
UNION ALL SELECT i + 1, 'min_length', 'integer', '100', 100 FROM plan
UNION ALL SELECT i + 1, 'label', 'string', 'batch' || (i % 100), NULL FROM plan) x ORDER BY run_id;
INSERT INTO run_inputs (run_id, name, repository, digest)
SELECT * FROM (SELECT i + 1 AS run_id, 'reads', 'lab/data',
                      (SELECT digest FROM d WHERE kind = 'dataset' AND n = a) FROM plan
UNION ALL SELECT i + 1, 'reference', 'lab/data', (SELECT digest FROM d WHERE kind = 'dataset' AND n = b)
  FROM plan
UNION ALL SELECT i + 1, 'previous', 'lab/results',
                 'sha256:' || encode(sha256(('result' || prev)::bytea), 'hex')
  FROM plan WHERE prev IS NOT NULL) x ORDER BY run_id;
INSERT INTO run_outputs (run_id, path, sha256, size)
SELECT * FROM (SELECT i + 1 AS run_id, 'gc.tsv', encode(sha256(('o' || i || 'a')::bytea), 'hex'), 1000
  FROM plan
UNION ALL SELECT i + 1, 'kmers.tsv', encode(sha256(('o' || i || 'b')::bytea), 'hex'), 2000 FROM plan) x
ORDER BY run_id;
-- every 100th run is a 100-step workflow run (as build() makes them)
INSERT INTO run_workflows (run_id, language, path, sha256, size, input_files)
SELECT i + 1, 'cwl', 'packed.cwl', encode(sha256(('wf' || i)::bytea), 'hex'), 5000, '[]'
  FROM plan WHERE i % 100 = 0;
CREATE TEMP TABLE steps AS
SELECT p.i, pos, (hashtext(p.i || '/' || pos || ':s') & 2147483647) % 10 AS img
FROM plan p CROSS JOIN generate_series(0, 99) AS pos WHERE p.i % 100 = 0;
CREATE INDEX ON steps (i);
INSERT INTO run_steps (run_id, position, name, image_registry, image_repository, image_tag, image_digest,
                       command, parameters, inputs, outputs, started, ended)
SELECT s.i + 1, s.pos, 'main/step' || s.pos, '127.0.0.1:5000', 'lab/pipeline', NULL,
       (SELECT digest FROM d WHERE kind = 'image' AND n = s.img), 'packed.cwl#tool' || s.pos || '.cwl',
       '[{"name": "k", "value": "3", "type": "string"}, '
       || '{"name": "min_length", "value": "0", "type": "string"}, '
       || '{"name": "mode", "value": "fast", "type": "string"}]',
       '[{"path": "s' || s.pos || '.in", "sha256": "'
       || encode(sha256((s.i || '/' || s.pos || 'i')::bytea), 'hex')
       || '", "size": 10}]',
       '[{"path": "s' || s.pos || '.out", "sha256": "'
       || encode(sha256((s.i || '/' || s.pos || 'o')::bytea), 'hex')
       || '", "size": 10}]',
       __T0__ + make_interval(mins => s.i, secs => s.pos),
       __T0__ + make_interval(mins => s.i, secs => s.pos + 1)
FROM steps s ORDER BY s.i, s.pos;
-- ancestry: a run's own image (and index), datasets, step images, and transitively every earlier
-- result it took (with that result's ancestry)
CREATE TEMP TABLE chain AS
WITH RECURSIVE c(i, j) AS (SELECT i, i FROM plan
                           UNION ALL SELECT c.i, p.prev FROM c JOIN plan p ON p.i = c.j
                           WHERE p.prev IS NOT NULL)
SELECT i, j FROM c;
INSERT INTO run_ancestors (digest, run_id)
SELECT DISTINCT ON (c.i, x.digest) x.digest, c.i + 1
FROM chain c JOIN plan p ON p.i = c.j
CROSS JOIN LATERAL (
  SELECT digest FROM d WHERE (kind = 'dataset' AND n IN (p.a, p.b))
     OR (p.use_index AND ((kind = 'index') OR (kind = 'image' AND n IN (0, 1))))
     OR (NOT p.use_index AND kind = 'image' AND n = p.img)
  UNION ALL SELECT 'sha256:' || encode(sha256(('result' || c.j)::bytea), 'hex') WHERE c.j <> c.i
  UNION ALL SELECT d.digest FROM steps st JOIN d ON d.kind = 'image' AND d.n = st.img WHERE st.i = c.j
) x;
"""


def build_postgres(engine, n_runs: int) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """:func:`build` for PostgreSQL, in bulk."""
    build(engine, 0)  # repositories, images, the index and datasets (small), through the models
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        sql = (
            PG_BUILD.replace("__N__", str(int(n_runs)))
            .replace("__T0__", "timestamp '2026-01-01 00:00:00'")
            .replace("__RESULT_TYPE__", "'" + artifacts.RESULT.replace("'", "''") + "'")
        )
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # no placeholders: % is modulo
        for stmt in sql.split(";\n"):
            if stmt.strip():
                cur.execute(stmt)
    t = time.perf_counter()
    with engine.begin() as conn:
        n = render_step_views(conn)  # the steps' views, as admission writes them (migration 0015)
    print(f"rendered the steps of {n} workflow runs in {time.perf_counter() - t:.1f} s")
    analyze(engine)
    return {
        "images": [d(f"image{i}") for i in range(10)],
        "index": [d("index")],
        "datasets": [d(f"dataset{i}") for i in range(2000)],
        "results": [d(f"result{i}") for i in range(n_runs)],
        "workflow_results": [d(f"result{i}") for i in range(0, n_runs, 100)],
    }


def explain(engine, q: RunQueries, data: dict[str, list[str]], out) -> None:  # type: ignore[no-untyped-def]
    """Every statement one query of each kind sends, with its plan: EXPLAIN (ANALYZE, BUFFERS) on
    PostgreSQL, EXPLAIN QUERY PLAN on SQLite (``--explain FILE``)."""
    from sqlalchemy import event

    pg = engine.dialect.name == "postgresql"
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        captured.append((statement, parameters))

    cases = [
        ("lineage(result)", lambda: q.lineage("lab/results", data["results"][len(data["results"]) // 2 + 9])),
        ("lineage(100-step workflow)", lambda: q.lineage("lab/results", data["workflow_results"][-1])),
        ("impact(dataset)", lambda: q.impact(data["datasets"][7])),
        ("impact(result)", lambda: q.impact(data["results"][len(data["results"]) // 3])),
        ("impact(image)", lambda: q.impact(data["images"][5])),
        ("impact(image via index)", lambda: q.impact(data["images"][0])),
        ("impact(index)", lambda: q.impact(data["index"][0])),
        ("search(parameter=k,value)", lambda: q.search(parameter="k", value="5", limit=50)),
        ("search(dataset)", lambda: q.search(dataset=data["datasets"][7], limit=50)),
        ("search(image via index)", lambda: q.search(image=data["images"][0], limit=50)),
    ]
    for name, fn in cases:
        fn()  # warm
        captured.clear()
        event.listen(engine, "before_cursor_execute", capture)
        t = time.perf_counter()
        try:
            fn()
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        ms = (time.perf_counter() - t) * 1000
        print(f"=== {name}: {len(captured)} statements, {ms:.1f} ms in all", file=out)
        with engine.connect() as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            for stmt, params in captured:
                print("\n-- " + " ".join(stmt.split())[:400], file=out)
                cur.execute(("EXPLAIN (ANALYZE, BUFFERS) " if pg else "EXPLAIN QUERY PLAN ") + stmt, params)
                for row in cur.fetchall():
                    print("   " + " ".join(str(c) for c in row), file=out)
            conn.rollback()
        print(file=out)


class Times(list[float]):
    """Wall-clock milliseconds per query, and in ``cpu`` this process's CPU milliseconds per query
    (Python and driver time, whatever else the machine is doing: on a shared host the wall clock
    mostly measures waiting for a core)."""

    cpu: list[float]


def timed(fn, args_list) -> Times:  # type: ignore[no-untyped-def]
    out = Times()
    out.cpu = []
    for args in args_list:
        t, c = time.perf_counter(), time.process_time()
        fn(*args)
        out.append((time.perf_counter() - t) * 1000)
        out.cpu.append((time.process_time() - c) * 1000)
    return out


def percentile(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL: a database (or schema: ?options=-csearch_path%%3Dbench) of its own: its "
        "current schema is dropped and rebuilt",
    )
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="query an index built by an earlier run (after migrating it to the newest schema)",
    )
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--target-ms", type=float, default=50.0)
    ap.add_argument(
        "--explain",
        metavar="FILE",
        help="also write every statement of one query of each kind with its plan (EXPLAIN (ANALYZE, "
        "BUFFERS) on PostgreSQL) to FILE",
    )
    ap.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="measure without gc.freeze() (the server freezes what start-up left alive, cli/server.py)",
    )
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sciregistry-provbench-")
    url = args.database_url or f"sqlite:///{tmp}/registry.db"
    engine = make_engine(url)
    pg = engine.dialect.name == "postgresql"
    if pg and not args.reuse:
        with engine.begin() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    t = time.perf_counter()
    upgrade(engine)
    if args.reuse:
        print(f"migrated to the newest schema in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    if args.reuse:
        with engine.connect() as conn:
            n_runs = conn.exec_driver_sql("SELECT count(*) FROM runs").scalar_one()
        analyze(engine)
        data = {
            "images": [d(f"image{i}") for i in range(10)],
            "index": [d("index")],
            "datasets": [d(f"dataset{i}") for i in range(2000)],
            "results": [d(f"result{i}") for i in range(n_runs)],
            "workflow_results": [d(f"result{i}") for i in range(0, n_runs, 100)],
        }
        print(f"reusing {n_runs} runs ({engine.dialect.name})")
    else:
        data = (build_postgres if pg else build)(engine, args.runs)
        print(f"built {args.runs} runs in {time.perf_counter() - t:.1f} s ({engine.dialect.name})")
    q = RunQueries(make_session_factory(engine))
    if args.explain:
        with open(args.explain, "w") as out:
            explain(engine, q, data, out)
        print(f"plans written to {args.explain}")
    rnd = random.Random(7)
    n = args.queries
    if not args.no_gc_freeze:
        gc.collect()
        gc.freeze()  # as each server worker does once its app is built
    load_before = os.getloadavg()
    # (name, target median ms, target p99 ms, times)
    rows = [
        (
            "lineage(result)",
            20.0,
            None,
            timed(lambda r: q.lineage("lab/results", r), [(rnd.choice(data["results"]),) for _ in range(n)]),
        ),
        (
            "lineage(100-step workflow)",
            args.target_ms,
            None,
            timed(
                lambda r: q.lineage("lab/results", r),
                [(rnd.choice(data["workflow_results"]),) for _ in range(n)],
            ),
        ),
        (
            "impact(dataset)",
            args.target_ms,
            150.0,
            timed(lambda x: q.impact(x), [(rnd.choice(data["datasets"]),) for _ in range(n)]),
        ),
        (
            "impact(result)",
            args.target_ms,
            150.0,
            timed(lambda x: q.impact(x), [(rnd.choice(data["results"]),) for _ in range(n)]),
        ),
        (
            "impact(image)",
            args.target_ms,
            150.0,
            timed(lambda x: q.impact(x), [(rnd.choice(data["images"][2:]),) for _ in range(max(n // 4, 5))]),
        ),
        (
            "impact(image via index)",
            args.target_ms,
            150.0,
            timed(lambda x: q.impact(x), [(data["images"][0],) for _ in range(max(n // 4, 5))]),
        ),
        (
            "impact(index)",
            args.target_ms,
            150.0,
            timed(lambda x: q.impact(x), [(data["index"][0],) for _ in range(max(n // 4, 5))]),
        ),
        (
            "search(parameter=k,value)",
            args.target_ms,
            None,
            timed(
                lambda v: q.search(parameter="k", value=v, limit=50),
                [(str(rnd.randrange(3, 8)),) for _ in range(n)],
            ),
        ),
        (
            "search(dataset)",
            args.target_ms,
            None,
            timed(
                lambda x: q.search(dataset=x, limit=50), [(rnd.choice(data["datasets"]),) for _ in range(n)]
            ),
        ),
        (
            "search(image via index)",
            args.target_ms,
            None,
            timed(
                lambda x: q.search(image=x, limit=50), [(data["images"][0],) for _ in range(max(n // 4, 5))]
            ),
        ),
    ]
    load = [f"{x:.1f}" for x in load_before + os.getloadavg()]
    print(f"load average (1/5/15 min) before the queries {'/'.join(load[:3])}, after {'/'.join(load[3:])}")
    print(f"{'query':28} {'median ms':>10} {'p95 ms':>8} {'p99 ms':>8} {'cpu ms':>7}  targets (median / p99)")
    ok = True
    for name, target, target_p99, times in rows:
        med, p95, p99 = statistics.median(times), percentile(times, 0.95), percentile(times, 0.99)
        cpu = statistics.median(times.cpu)
        passed = med < target and (target_p99 is None or p99 < target_p99)
        ok &= passed
        goal = f"< {target:.0f}" + (f" / < {target_p99:.0f}" if target_p99 else "")
        print(
            f"{name:28} {med:10.1f} {p95:8.1f} {p99:8.1f} {cpu:7.1f}  {goal:14} {'ok' if passed else 'SLOW'}"
        )
    engine.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
