"""upload sessions record who opened them (per-principal cap on open sessions)

Revision ID: 0012_upload_owner
Revises: 0009_workflows
Create Date: 2026-12-03 09:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_upload_owner"
down_revision = "0011_vulnerabilities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("owner", sa.String(300), nullable=True))
        batch.create_index("ix_uploads_owner", ["owner"])


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.drop_index("ix_uploads_owner")
        batch.drop_column("owner")
