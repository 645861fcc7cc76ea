"""a run's start and end times may be absent: the registry records "not recorded", never the time of
recording in their place

Revision ID: 0014_run_times_optional
Revises: 0010_search_index
Create Date: 2026-12-03 14:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_run_times_optional"
down_revision = "0010_search_index"
branch_labels = None
depends_on = None

_NOT_NULL = ("started DATETIME NOT NULL", "ended DATETIME NOT NULL")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        for column in ("started", "ended"):
            op.alter_column("runs", column, existing_type=sa.DateTime(), nullable=True)
        return
    # SQLite cannot drop NOT NULL in place, and rebuilding `runs` (batch mode) would cascade-delete
    # every row that references it (foreign_keys=ON). SQLite documents an in-place edit of the stored
    # schema for exactly this change (removing a NOT NULL constraint; "ALTER TABLE", section 7):
    # the table's rows are unchanged, the schema version is bumped so every connection re-reads it.
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'runs'"
    ).scalar()
    if sql is None or not all(c in sql for c in _NOT_NULL):
        return
    new = sql
    for c in _NOT_NULL:
        new = new.replace(c, c.removesuffix(" NOT NULL"))
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar() or 0)
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'runs'", (new,)
        )
        bind.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems: list[str] = list(bind.exec_driver_sql("PRAGMA integrity_check").scalars())
    if problems != ["ok"]:
        raise RuntimeError(f"SQLite integrity check failed after the schema change: {problems}")


def downgrade() -> None:
    bind = op.get_bind()
    op.execute("UPDATE runs SET ended = created_at WHERE ended IS NULL")
    op.execute("UPDATE runs SET started = ended WHERE started IS NULL")
    if bind.dialect.name != "sqlite":
        for column in ("started", "ended"):
            op.alter_column("runs", column, existing_type=sa.DateTime(), nullable=False)
