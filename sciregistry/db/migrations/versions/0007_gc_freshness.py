"""gc: freshness of blobs, links and manifests (pushed_at), and the lock row of periodic tasks

Revision ID: 0007_gc_freshness
Revises: 0009_workflows
Create Date: 2026-12-03 09:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sciregistry.db.base import UTCDateTime

revision = "0007_gc_freshness"
down_revision = "0009_workflows"
branch_labels = None
depends_on = None

_TABLES = ("blobs", "repository_blobs", "manifests")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("pushed_at", UTCDateTime(), nullable=True))
        op.execute(f"UPDATE {table} SET pushed_at = created_at")
    op.create_table(
        "task_locks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=False, server_default="0"),
        sa.Column("last_run_at", sa.Float(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("task_locks")
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("pushed_at")
