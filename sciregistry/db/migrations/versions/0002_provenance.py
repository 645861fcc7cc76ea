"""provenance index

Revision ID: 0002_provenance
Revises: 0001_core
Create Date: 2026-11-28 08:06:15.798464
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sciregistry.db.base

revision = "0002_provenance"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("crate_manifest_id", sa.Integer(), nullable=False),
        sa.Column("crate_digest", sa.String(length=200), nullable=False),
        sa.Column("result_digest", sa.String(length=200), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("image_registry", sa.String(length=255), nullable=False),
        sa.Column("image_repository", sa.String(length=255), nullable=False),
        sa.Column("image_tag", sa.String(length=128), nullable=True),
        sa.Column("image_digest", sa.String(length=200), nullable=False),
        sa.Column("image_index_digest", sa.String(length=200), nullable=True),
        sa.Column("agent_name", sa.String(length=255), nullable=True),
        sa.Column("agent_orcid", sa.String(length=255), nullable=True),
        sa.Column("started", sciregistry.db.base.UTCDateTime(), nullable=False),
        sa.Column("ended", sciregistry.db.base.UTCDateTime(), nullable=False),
        sa.Column("created_at", sciregistry.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["crate_manifest_id"],
            ["manifests.id"],
            name=op.f("fk_runs_crate_manifest_id_manifests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_runs_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("crate_manifest_id", name=op.f("uq_runs_crate_manifest_id")),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index("ix_runs_agent", ["agent_name"], unique=False)
        batch_op.create_index("ix_runs_image", ["image_digest"], unique=False)
        batch_op.create_index("ix_runs_image_index", ["image_index_digest"], unique=False)
        batch_op.create_index("ix_runs_repository", ["repository_id", "id"], unique=False)
        batch_op.create_index("ix_runs_result", ["result_digest"], unique=False)
        batch_op.create_index("ix_runs_crate", ["crate_digest"], unique=False)
        batch_op.create_index("ix_runs_started", ["started"], unique=False)

    op.create_table(
        "run_ancestors",
        sa.Column("digest", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_ancestors_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("digest", "run_id", name=op.f("pk_run_ancestors")),
    )
    with op.batch_alter_table("run_ancestors", schema=None) as batch_op:
        batch_op.create_index("ix_run_ancestors_run", ["run_id"], unique=False)

    op.create_table(
        "run_inputs",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_inputs_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "name", name=op.f("pk_run_inputs")),
    )
    with op.batch_alter_table("run_inputs", schema=None) as batch_op:
        batch_op.create_index("ix_run_inputs_digest", ["digest"], unique=False)

    op.create_table(
        "run_outputs",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_outputs_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "path", name=op.f("pk_run_outputs")),
    )
    with op.batch_alter_table("run_outputs", schema=None) as batch_op:
        batch_op.create_index("ix_run_outputs_sha256", ["sha256"], unique=False)

    op.create_table(
        "run_parameters",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("number", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_parameters_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "name", name=op.f("pk_run_parameters")),
    )
    with op.batch_alter_table("run_parameters", schema=None) as batch_op:
        batch_op.create_index("ix_run_parameters_name_value", ["name", "value"], unique=False)


def downgrade() -> None:
    op.drop_table("run_ancestors")

    with op.batch_alter_table("run_parameters", schema=None) as batch_op:
        batch_op.drop_index("ix_run_parameters_name_value")

    op.drop_table("run_parameters")
    with op.batch_alter_table("run_outputs", schema=None) as batch_op:
        batch_op.drop_index("ix_run_outputs_sha256")

    op.drop_table("run_outputs")
    with op.batch_alter_table("run_inputs", schema=None) as batch_op:
        batch_op.drop_index("ix_run_inputs_digest")

    op.drop_table("run_inputs")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_started")
        batch_op.drop_index("ix_runs_result")
        batch_op.drop_index("ix_runs_crate")
        batch_op.drop_index("ix_runs_repository")
        batch_op.drop_index("ix_runs_image_index")
        batch_op.drop_index("ix_runs_image")
        batch_op.drop_index("ix_runs_agent")

    op.drop_table("runs")
