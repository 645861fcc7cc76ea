"""at most one live DOI per result

Revision ID: 0005_doi_unique
Revises: 0004_auth
Create Date: 2026-11-28 09:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_doi_unique"
down_revision = "0004_auth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "uq_dois_live_result",
        "dois",
        ["repository_id", "result_digest"],
        unique=True,
        sqlite_where=sa.text("state != 'tombstone'"),
        postgresql_where=sa.text("state != 'tombstone'"),
    )


def downgrade() -> None:
    op.drop_index("uq_dois_live_result", table_name="dois")
