"""vulnerability database, scan queue, image inventories and findings

Revision ID: 0011_vulnerabilities
Revises: 0009_workflows
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sciregistry.db.base

revision = "0011_vulnerabilities"
down_revision = "0007_gc_freshness"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vuln_records",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("modified", sa.String(64), nullable=False),
        sa.Column("published", sa.String(64), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("record_json", sa.Text(), nullable=False),
        sa.Column("imported_at", sciregistry.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vuln_records")),
    )
    op.create_index("ix_vuln_records_kind", "vuln_records", ["kind"])
    op.create_table(
        "vuln_packages",
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["vuln_records.id"],
            name=op.f("fk_vuln_packages_record_id_vuln_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", "type", "name", name=op.f("pk_vuln_packages")),
    )
    op.create_index("ix_vuln_packages_name", "vuln_packages", ["name", "type"])
    op.create_table(
        "vuln_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_vuln_meta")),
    )
    op.create_table(
        "scan_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("again", sa.Boolean(), nullable=False),
        sa.Column("catalogued", sa.Boolean(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("claimed_at", sciregistry.db.base.UTCDateTime(), nullable=True),
        sa.Column("finished_at", sciregistry.db.base.UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sbom_source", sa.String(255), nullable=True),
        sa.Column("sbom_digest", sa.String(200), nullable=True),
        sa.Column("report_digest", sa.String(200), nullable=True),
        sa.Column("packages", sa.Integer(), nullable=False),
        sa.Column("created_at", sciregistry.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_scan_jobs_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_jobs")),
        sa.UniqueConstraint("repository_id", "digest", name="uq_scan_jobs_repository_digest"),
    )
    op.create_index("ix_scan_jobs_state", "scan_jobs", ["state", "id"])
    op.create_index("ix_scan_jobs_digest", "scan_jobs", ["digest"])
    op.create_table(
        "image_packages",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("package_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["scan_jobs.id"], name=op.f("fk_image_packages_job_id_scan_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "idx", name=op.f("pk_image_packages")),
    )
    op.create_table(
        "image_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("finding_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["scan_jobs.id"], name=op.f("fk_image_findings_job_id_scan_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_findings")),
    )
    op.create_index("ix_image_findings_record", "image_findings", ["record_id"])
    op.create_index("ix_image_findings_job", "image_findings", ["job_id"])
    op.create_table(
        "vuln_policies",
        sa.Column("namespace", sa.String(255), nullable=False),
        sa.Column("block_critical", sa.Boolean(), nullable=False),
        sa.Column("block_correctness", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sciregistry.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("namespace", name=op.f("pk_vuln_policies")),
    )


def downgrade() -> None:
    for t in (
        "vuln_policies",
        "image_findings",
        "image_packages",
        "scan_jobs",
        "vuln_meta",
        "vuln_packages",
        "vuln_records",
    ):
        op.drop_table(t)
