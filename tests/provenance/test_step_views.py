"""A workflow run's step views are rendered once (``run_workflows.steps``): at admission, and by
migration 0015 for runs indexed before it. Both must give exactly the view built from the
``run_steps`` rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert, select

from sciregistry.db import make_engine, make_session_factory
from sciregistry.db.migrate import upgrade
from sciregistry.db.models import Manifest, Repository, Run, RunStep, RunWorkflow
from sciregistry.registry.runs import RunIndex, RunQueries, _steps_of


def d(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _seed(conn: Any, rid: int) -> None:
    conn.execute(insert(Repository), [{"id": rid, "name": f"lab/results{rid}", "created_at": T0}])
    conn.execute(
        insert(Manifest),
        [
            {
                "id": 100 + rid,
                "repository_id": rid,
                "digest": d(f"crate{rid}"),
                "media_type": "application/vnd.oci.image.manifest.v1+json",
                "size": 2,
                "content": b"{}",
                "created_at": T0,
            }
        ],
    )
    conn.execute(
        insert(Run),
        [
            {
                "id": rid,
                "repository_id": rid,
                "crate_manifest_id": 100 + rid,
                "crate_digest": d(f"crate{rid}"),
                "result_digest": d(f"result{rid}"),
                "name": f"run {rid}",
                "command": "cwltool packed.cwl job.json",
                "image_registry": "r",
                "image_repository": "lab/img",
                "image_tag": None,
                "image_digest": d("image0"),
                "image_index_digest": None,
                "agent_name": None,
                "agent_orcid": None,
                "started": T0,
                "ended": T0,
                "created_at": T0,
            }
        ],
    )


def test_migration_renders_the_steps_of_runs_indexed_before_it(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade(engine, "0010_search_index")
    with engine.begin() as conn:
        _seed(conn, 1)
        wf = RunWorkflow.__table__
        conn.execute(
            insert(wf).values(
                run_id=1, language="cwl", path="packed.cwl", sha256="ab", size=5, input_files="[]"
            )
        )
        conn.execute(
            insert(RunStep),
            [
                {
                    "run_id": 1,
                    "position": pos,
                    "name": f"main/step{pos}",
                    "image_registry": "127.0.0.1:5000",
                    "image_repository": "lab/img",
                    "image_tag": "1.0" if pos else None,
                    "image_digest": d(f"image{pos}"),
                    "command": f"packed.cwl#tool{pos}.cwl",
                    "parameters": json.dumps([{"name": "k", "value": pos, "type": "integer"}]),
                    "inputs": json.dumps([{"path": f"s{pos}.in", "sha256": "00" * 32, "size": 3}]),
                    "outputs": "[]",
                    "started": T0 + timedelta(seconds=pos) if pos else None,
                    "ended": T0 + timedelta(seconds=pos + 1) if pos else None,
                }
                for pos in range(3)
            ],
        )
    upgrade(engine)
    with engine.connect() as conn:
        stored = conn.execute(select(RunWorkflow.steps).where(RunWorkflow.run_id == 1)).scalar_one()
        expected = _steps_of(conn, [1])[1]
    assert stored is not None and json.loads(stored) == expected
    assert expected[1]["started"] == "2026-01-01T12:00:01.123456+00:00"
    assert expected[0]["started"] is None and expected[0]["image"]["tag"] is None
    assert RunQueries(make_session_factory(engine)).get(1)["steps"] == expected
    engine.dispose()


def test_admission_renders_the_view_the_rows_give_back(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        _seed(conn, 2)
    cet = timezone(timedelta(hours=1))  # a crate may give local times: the view is in UTC, as read back
    steps = [
        SimpleNamespace(
            name=f"main/step{pos}",
            image=SimpleNamespace(
                registry="127.0.0.1:5000", name="lab/img", tag=None, digest=d(f"image{pos}")
            ),
            command=f"packed.cwl#tool{pos}.cwl",
            parameters=[SimpleNamespace(name="mode", value={"fast": [1, 2.5]}, type="string")],
            inputs=[SimpleNamespace(path="in.txt", sha256="11" * 32, size=7)],
            outputs=[SimpleNamespace(path="out.txt", sha256="22" * 32, size=9)],
            started=datetime(2026, 1, 1, 13, 0, pos, 5, tzinfo=cet),
            ended=None,
        )
        for pos in range(2)
    ]
    run = SimpleNamespace(
        steps=steps,
        workflow=SimpleNamespace(path="packed.cwl", sha256="cd", size=10),
        language="cwl",
        input_files=[],
    )
    sessions = make_session_factory(engine)
    with sessions() as s:
        RunIndex(store=None)._index_workflow(s, 2, run)  # type: ignore[arg-type]
        s.commit()
    with sessions() as s:
        stored = json.loads(s.execute(select(RunWorkflow.steps).where(RunWorkflow.run_id == 2)).scalar_one())
        assert stored == _steps_of(s, [2])[2]
    assert stored[0]["started"] == "2026-01-01T12:00:00.000005+00:00"
    assert RunQueries(sessions).get(2)["steps"] == stored
    engine.dispose()
