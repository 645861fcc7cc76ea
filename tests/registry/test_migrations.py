"""Migrations that change existing tables keep every row (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import text

from sciregistry.db.base import make_engine
from sciregistry.db.migrate import upgrade

NOW = "2026-01-01 00:00:00"


def test_run_times_become_optional_and_nothing_referencing_runs_is_lost(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade(engine, "0010_search_index")
    with engine.begin() as c:
        c.execute(text(f"INSERT INTO repositories (id, name, created_at) VALUES (1, 'lab/results', '{NOW}')"))
        c.execute(
            text(
                "INSERT INTO manifests (id, repository_id, digest, media_type, size, content, created_at) "
                f"VALUES (1, 1, 'sha256:{'a' * 64}', 'application/vnd.oci.image.manifest.v1+json', 2, "
                f":content, '{NOW}')"
            ),
            {"content": b"{}"},
        )
        c.execute(
            text(
                "INSERT INTO runs (id, repository_id, crate_manifest_id, crate_digest, result_digest, name, "
                "command, image_registry, image_repository, image_digest, started, ended, created_at) "
                f"VALUES (1, 1, 1, 'sha256:{'a' * 64}', 'sha256:{'b' * 64}', 'run', 'gc', 'r', 'lab/gc', "
                f"'sha256:{'c' * 64}', '{NOW}', '{NOW}', '{NOW}')"
            )
        )
        c.execute(
            text(
                "INSERT INTO run_steps (run_id, position, name, image_registry, image_repository, "
                "image_digest, command, parameters, inputs, outputs) "
                f"VALUES (1, 0, 'gc', 'r', 'lab/gc', 'sha256:{'c' * 64}', 'gc', '[]', '[]', '[]')"
            )
        )
    upgrade(engine)
    with engine.begin() as c:
        assert c.execute(text("SELECT count(*) FROM run_steps")).scalar() == 1
        assert c.execute(text("SELECT name FROM runs")).scalar() == "run"
        c.execute(text("UPDATE runs SET started = NULL, ended = NULL"))
        assert c.execute(text("SELECT count(*) FROM runs WHERE started IS NULL")).scalar() == 1
    engine.dispose()


def test_a_database_at_head_is_not_migrated_again_and_alembic_is_not_loaded(database_url: str) -> None:
    """Every start (server, worker, administrator command) against an up-to-date database asks one
    question and leaves alembic unimported; one revision behind, ``upgrade`` still migrates."""
    import subprocess
    import sys

    from sciregistry.db.revision import head_revisions

    probe = (
        "import sys\n"
        "from sciregistry.db.base import make_engine\n"
        "from sciregistry.db.migrate import upgrade\n"
        f"engine = make_engine({database_url!r})\n"
        "upgrade(engine)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout.strip() == "[]", run.stdout + run.stderr
    engine = make_engine(database_url)
    with engine.begin() as c:  # one revision behind: the next start must migrate
        c.execute(text("UPDATE alembic_version SET version_num = '0014_run_times_optional'"))
        c.execute(text("ALTER TABLE run_workflows DROP COLUMN steps"))  # what 0015 adds
    upgrade(engine)
    with engine.begin() as c:
        assert set(c.execute(text("SELECT version_num FROM alembic_version")).scalars()) == head_revisions()
        assert c.execute(text("SELECT count(steps) FROM run_workflows")).scalar() == 0  # the column is back
    engine.dispose()
