"""workflow runs: the API view of their steps rendered once, in ``run_workflows.steps``

Revision ID: 0015_step_views
Revises: 0014_run_times_optional
Create Date: 2026-12-03 14:30:00

A page of runs that used a common image holds about one workflow run in ten, each with up to a
hundred steps: decoding three JSON documents and two timestamps per step was most of the time of
an impact query (issue 11). Admission now writes the steps' view as one JSON document beside the
workflow (``RunIndex._index_workflow``, same transaction as the ``run_steps`` rows); this
migration renders it for the workflow runs already indexed, from their ``run_steps`` rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_step_views"
down_revision = "0014_run_times_optional"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("run_workflows", sa.Column("steps", sa.Text(), nullable=True))
    from sciregistry.registry.runs import render_step_views

    render_step_views(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("run_workflows") as batch:
        batch.drop_column("steps")
