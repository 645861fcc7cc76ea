"""Impact totals come from run_ancestor_counts, kept by database triggers (migration 0013): they
must follow every insert and delete of run_ancestors, including the cascade from a deleted run
crate, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select

from sciregistry.db import make_engine, make_session_factory
from sciregistry.db.migrate import upgrade
from sciregistry.db.models import Manifest, Repository, Run, RunAncestor, RunAncestorCount, RunInput
from sciregistry.registry.runs import RunQueries


def d(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def _run(rid: int, image: str, t0: datetime) -> dict[str, Any]:
    return {
        "id": rid,
        "repository_id": 1,
        "crate_manifest_id": 100 + rid,
        "crate_digest": d(f"crate{rid}"),
        "result_digest": d(f"result{rid}"),
        "name": f"run {rid}",
        "command": "x",
        "image_registry": "r",
        "image_repository": "lab/img",
        "image_tag": None,
        "image_digest": image,
        "image_index_digest": None,
        "agent_name": None,
        "agent_orcid": None,
        "started": t0,
        "ended": t0,
        "created_at": t0,
    }


def test_impact_totals_follow_inserts_and_cascaded_deletes(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    image, other, dataset = d("image"), d("other"), d("dataset")
    with engine.begin() as conn:
        conn.execute(insert(Repository), [{"id": 1, "name": "lab/results", "created_at": t0}])
        conn.execute(
            insert(Manifest),
            [
                {
                    "id": 100 + i,
                    "repository_id": 1,
                    "digest": d(f"crate{i}"),
                    "media_type": "application/vnd.oci.image.manifest.v1+json",
                    "size": 2,
                    "content": b"{}",
                    "created_at": t0,
                }
                for i in range(1, 6)
            ],
        )
        conn.execute(insert(Run), [_run(i, image if i <= 4 else other, t0) for i in range(1, 6)])
        conn.execute(
            insert(RunInput),
            [{"run_id": i, "name": "reads", "repository": "lab/data", "digest": dataset} for i in (1, 2, 5)],
        )
        # one statement with several rows, then single rows (the admission path adds them one by one)
        conn.execute(insert(RunAncestor), [{"digest": image, "run_id": i} for i in (1, 2, 3)])
        conn.execute(insert(RunAncestor), [{"digest": image, "run_id": 4}])
        conn.execute(insert(RunAncestor), [{"digest": other, "run_id": 5}])
        conn.execute(insert(RunAncestor), [{"digest": dataset, "run_id": i} for i in (1, 2, 5)])
    q = RunQueries(make_session_factory(engine))
    assert q.impact(image)["total_runs"] == 4
    assert q.impact(image)["total_results"] == 4
    assert q.impact(dataset)["total_runs"] == 3
    assert q.impact(d("unknown"))["total_runs"] == 0
    with engine.begin() as conn:  # deleting a run crate's manifest cascades to the run and its ancestry
        conn.execute(delete(Manifest).where(Manifest.id.in_([101, 105])))
    assert q.impact(image)["total_runs"] == 3
    assert q.impact(dataset)["total_runs"] == 1
    assert q.impact(other)["total_runs"] == 0
    with engine.begin() as conn:
        conn.execute(delete(RunAncestor).where(RunAncestor.run_id == 2))
        counts = dict(conn.execute(select(RunAncestorCount.digest, RunAncestorCount.runs)).all())
        actual = dict(
            conn.execute(
                select(RunAncestor.digest, __import__("sqlalchemy").func.count()).group_by(RunAncestor.digest)
            ).all()
        )
    assert {k: v for k, v in counts.items() if v} == actual
    engine.dispose()
