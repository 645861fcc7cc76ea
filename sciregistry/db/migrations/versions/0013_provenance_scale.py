"""provenance index at scale: impact totals kept by the database, index-only lookups

Revision ID: 0013_provenance_scale
Revises: 0009_workflows
Create Date: 2026-12-03 09:20:00

- ``run_ancestor_counts``: how many runs depend on each digest, maintained by triggers on
  ``run_ancestors`` (every insert and delete, including the cascades from deleted runs), so the
  total of an impact query is one primary-key lookup instead of counting up to every run of the
  registry (an image used by 30 % of 10^6 runs: 300,000 index entries, about 0.5 s).
  PostgreSQL: statement-level triggers over the transition tables, one upsert per statement taking
  the row locks in digest order (two admissions never deadlock on them). SQLite: row triggers.
- ``ix_run_inputs_digest`` becomes ``(digest, run_id)``: the runs that took a dataset come from the
  index alone (it was one random heap page per run).
- ``ix_runs_id_result`` ``(id, result_digest)``: the distinct results of an impact come from the
  index alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_provenance_scale"
down_revision = "0012_upload_owner"
branch_labels = None
depends_on = None

PG_TRIGGERS = [
    """CREATE FUNCTION run_ancestor_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO run_ancestor_counts (digest, runs)
    SELECT digest, count(*) FROM run_ancestors_added GROUP BY digest ORDER BY digest
    ON CONFLICT (digest) DO UPDATE SET runs = run_ancestor_counts.runs + EXCLUDED.runs;
    RETURN NULL;
END $$""",
    """CREATE FUNCTION run_ancestor_counts_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO run_ancestor_counts (digest, runs)
    SELECT digest, -count(*) FROM run_ancestors_removed GROUP BY digest ORDER BY digest
    ON CONFLICT (digest) DO UPDATE SET runs = run_ancestor_counts.runs + EXCLUDED.runs;
    RETURN NULL;
END $$""",
    (
        "CREATE TRIGGER run_ancestors_counted_add AFTER INSERT ON run_ancestors\n"
        "    REFERENCING NEW TABLE AS run_ancestors_added FOR EACH STATEMENT "
        "EXECUTE FUNCTION run_ancestor_counts_add()"
    ),
    (
        "CREATE TRIGGER run_ancestors_counted_remove AFTER DELETE ON run_ancestors\n"
        "    REFERENCING OLD TABLE AS run_ancestors_removed FOR EACH STATEMENT "
        "EXECUTE FUNCTION run_ancestor_counts_remove()"
    ),
]
SQLITE_TRIGGERS = [
    """CREATE TRIGGER run_ancestors_counted_add AFTER INSERT ON run_ancestors BEGIN
    INSERT INTO run_ancestor_counts (digest, runs) VALUES (NEW.digest, 1)
    ON CONFLICT (digest) DO UPDATE SET runs = runs + 1;
END""",
    """CREATE TRIGGER run_ancestors_counted_remove AFTER DELETE ON run_ancestors BEGIN
    UPDATE run_ancestor_counts SET runs = runs - 1 WHERE digest = OLD.digest;
END""",
]


def upgrade() -> None:
    op.create_table(
        "run_ancestor_counts",
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("runs", sa.BigInteger(), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            "LOCK TABLE run_ancestors IN SHARE MODE"
        )  # no admission between the backfill and the triggers
    op.execute(
        "INSERT INTO run_ancestor_counts (digest, runs) "
        "SELECT digest, count(*) FROM run_ancestors GROUP BY digest"
    )
    for stmt in PG_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS:
        op.execute(stmt)
    op.drop_index("ix_run_inputs_digest", table_name="run_inputs")
    op.create_index("ix_run_inputs_digest", "run_inputs", ["digest", "run_id"])
    op.create_index("ix_runs_id_result", "runs", ["id", "result_digest"])


def downgrade() -> None:
    op.drop_index("ix_runs_id_result", table_name="runs")
    op.drop_index("ix_run_inputs_digest", table_name="run_inputs")
    op.create_index("ix_run_inputs_digest", "run_inputs", ["digest"])
    op.execute(
        "DROP TRIGGER run_ancestors_counted_add"
        + (" ON run_ancestors" if op.get_bind().dialect.name == "postgresql" else "")
    )
    op.execute(
        "DROP TRIGGER run_ancestors_counted_remove"
        + (" ON run_ancestors" if op.get_bind().dialect.name == "postgresql" else "")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION run_ancestor_counts_add()")
        op.execute("DROP FUNCTION run_ancestor_counts_remove()")
    op.drop_table("run_ancestor_counts")
