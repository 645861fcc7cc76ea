"""dois and pins

Revision ID: 0003_dois
Revises: 0002_provenance
Create Date: 2026-11-28 08:07:43.275698
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sciregistry.db.base

revision = "0003_dois"
down_revision = "0002_provenance"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "dois",
        sa.Column("doi", sa.String(length=255), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=True),
        sa.Column("result_digest", sa.String(length=200), nullable=True),
        sa.Column("crate_digest", sa.String(length=200), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("is_concept", sa.Boolean(), nullable=False),
        sa.Column("concept_doi", sa.String(length=255), nullable=True),
        sa.Column("previous_doi", sa.String(length=255), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", sciregistry.db.base.UTCDateTime(), nullable=False),
        sa.Column("published_at", sciregistry.db.base.UTCDateTime(), nullable=True),
        sa.Column("tombstone_reason", sa.Text(), nullable=True),
        sa.Column("reproductions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_dois_repository_id_repositories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("doi", name=op.f("pk_dois")),
    )
    with op.batch_alter_table("dois", schema=None) as batch_op:
        batch_op.create_index("ix_dois_concept", ["concept_doi"], unique=False)
        batch_op.create_index("ix_dois_result", ["repository_id", "result_digest"], unique=False)

    op.create_table(
        "doi_pins",
        sa.Column("doi", sa.String(length=255), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["doi"], ["dois.doi"], name=op.f("fk_doi_pins_doi_dois"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_doi_pins_repository_id_repositories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("doi", "repository_id", "digest", "kind", name=op.f("pk_doi_pins")),
    )
    with op.batch_alter_table("doi_pins", schema=None) as batch_op:
        batch_op.create_index("ix_doi_pins_digest", ["digest"], unique=False)
        batch_op.create_index("ix_doi_pins_target", ["repository_id", "digest"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("doi_pins", schema=None) as batch_op:
        batch_op.drop_index("ix_doi_pins_target")
        batch_op.drop_index("ix_doi_pins_digest")

    op.drop_table("doi_pins")
    with op.batch_alter_table("dois", schema=None) as batch_op:
        batch_op.drop_index("ix_dois_result")
        batch_op.drop_index("ix_dois_concept")

    op.drop_table("dois")
