"""workflow runs: one row per step (image digest, command or tool, parameters, files) and the workflow
definition

Revision ID: 0009_workflows
Revises: 0006_login_failures
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sciregistry.db.base

revision = "0009_workflows"
down_revision = "0006_login_failures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_steps",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("image_registry", sa.String(length=255), nullable=False),
        sa.Column("image_repository", sa.String(length=255), nullable=False),
        sa.Column("image_tag", sa.String(length=128), nullable=True),
        sa.Column("image_digest", sa.String(length=200), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("outputs", sa.Text(), nullable=False),
        sa.Column("started", sciregistry.db.base.UTCDateTime(), nullable=True),
        sa.Column("ended", sciregistry.db.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_steps_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "position", name=op.f("pk_run_steps")),
    )
    with op.batch_alter_table("run_steps", schema=None) as batch_op:
        batch_op.create_index("ix_run_steps_image", ["image_digest"], unique=False)

    op.create_table(
        "run_workflows",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=64), nullable=True),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("input_files", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_workflows_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_workflows")),
    )


def downgrade() -> None:
    op.drop_table("run_workflows")
    with op.batch_alter_table("run_steps", schema=None) as batch_op:
        batch_op.drop_index("ix_run_steps_image")
    op.drop_table("run_steps")
