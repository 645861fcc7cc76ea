"""Vulnerability database, scan queue, image inventories and findings (migration 0011).

vuln_records    one OSV record or scientific advisory (JSON as imported), its kind and severity
vuln_packages   (purl type, name) each record is about: matching loads only the records about
                names an image contains
vuln_meta       'generation': bumped by every import; an image scanned at an older one is rescanned
scan_jobs       one per (repository, image manifest): the queue (queued | running | done | error)
image_packages  the inventory of a scanned image (kept, so a database update re-matches without
                reading layers again)
image_findings  advisories that match a package of the image
vuln_policies   per namespace: refuse DOIs for results whose images carry a critical
                vulnerability or a correctness advisory (an administrator may override)
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sciregistry.db.base import Base, UTCDateTime, utcnow
from sciregistry.db.models.oci import DIGEST_LEN


class VulnRecord(Base):
    __tablename__ = "vuln_records"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # security | correctness
    source: Mapped[str] = mapped_column(String(16))  # osv (vulndb import) | advisory (advisory publish)
    modified: Mapped[str] = mapped_column(String(64))
    published: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    severity: Mapped[str | None] = mapped_column(String(16))
    record_json: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_vuln_records_kind", "kind"),)


class VulnPackage(Base):
    __tablename__ = "vuln_packages"

    record_id: Mapped[str] = mapped_column(
        ForeignKey("vuln_records.id", ondelete="CASCADE"), primary_key=True
    )
    type: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)

    __table_args__ = (Index("ix_vuln_packages_name", "name", "type"),)


class VulnMeta(Base):
    __tablename__ = "vuln_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class ScanJob(Base):
    __tablename__ = "scan_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(DIGEST_LEN))
    state: Mapped[str] = mapped_column(String(16))  # queued | running | done | error
    again: Mapped[bool] = mapped_column(Boolean, default=False)  # re-queue when the running scan ends
    catalogued: Mapped[bool] = mapped_column(Boolean, default=False)  # image_packages are current
    generation: Mapped[int] = mapped_column(Integer, default=0)  # vuln_meta generation last matched
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    sbom_source: Mapped[str | None] = mapped_column(String(255))  # catalogue | referrer <digest>
    sbom_digest: Mapped[str | None] = mapped_column(String(DIGEST_LEN))
    report_digest: Mapped[str | None] = mapped_column(String(DIGEST_LEN))
    packages: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("repository_id", "digest", name="uq_scan_jobs_repository_digest"),
        Index("ix_scan_jobs_state", "state", "id"),
        Index("ix_scan_jobs_digest", "digest"),
    )


class ImagePackage(Base):
    __tablename__ = "image_packages"

    job_id: Mapped[int] = mapped_column(ForeignKey("scan_jobs.id", ondelete="CASCADE"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    package_json: Mapped[str] = mapped_column(Text)


class ImageFinding(Base):
    __tablename__ = "image_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("scan_jobs.id", ondelete="CASCADE"))
    record_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str | None] = mapped_column(String(16))
    finding_json: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_image_findings_record", "record_id"),
        Index("ix_image_findings_job", "job_id"),
    )


class VulnPolicy(Base):
    __tablename__ = "vuln_policies"

    namespace: Mapped[str] = mapped_column(String(255), primary_key=True)
    block_critical: Mapped[bool] = mapped_column(Boolean, default=False)
    block_correctness: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
