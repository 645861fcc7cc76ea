"""Registry metadata: repositories, blobs and their links, manifests, tags, uploads.

Blob *bytes* live in the BlobStore; manifest bytes live here (they are small, at most 4 MiB, and
served on the hot path with one indexed query).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from sciregistry.db.base import Base, UTCDateTime, utcnow

DIGEST_LEN = 200


class Repository(Base):
    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Blob(Base):
    """A blob the registry holds (global, content-addressed)."""

    __tablename__ = "blobs"

    digest: Mapped[str] = mapped_column(String(DIGEST_LEN), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Freshness for gc: set on every upload of the bytes, also of bytes the registry already had
    # (registry/gc.py: an unlinked blob is collected only when this is older than the grace period).
    pushed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=utcnow)


class RepositoryBlob(Base):
    """A blob is visible in a repository only through a link (pushed or mounted there)."""

    __tablename__ = "repository_blobs"

    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(ForeignKey("blobs.digest", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Freshness for gc: the last upload, mount or HEAD of the blob in this repository (refreshed
    # only when stale, see RegistryBase.touch_after): a push in progress keeps what it relies on.
    pushed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_repository_blobs_digest", "digest"),)


class Manifest(Base):
    __tablename__ = "manifests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(DIGEST_LEN))
    media_type: Mapped[str] = mapped_column(String(255))
    artifact_type: Mapped[str | None] = mapped_column(String(255))
    subject_digest: Mapped[str | None] = mapped_column(String(DIGEST_LEN))
    annotations: Mapped[str | None] = mapped_column(Text)  # JSON object, as pushed
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Freshness for gc: the last PUT or HEAD of this manifest (refreshed only when stale); an untagged
    # manifest is collected only when this is older than the grace period.
    pushed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("repository_id", "digest", name="uq_manifests_repository_digest"),
        Index("ix_manifests_subject", "repository_id", "subject_digest"),
        Index("ix_manifests_digest", "digest"),
    )


class ManifestRef(Base):
    """What a manifest points at: ``kind`` 'blob' (config, layers) or 'manifest' (index children)."""

    __tablename__ = "manifest_refs"

    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(DIGEST_LEN), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)

    __table_args__ = (Index("ix_manifest_refs_digest", "digest"),)


class Tag(Base):
    __tablename__ = "tags"

    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifests.id", ondelete="CASCADE"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_tags_manifest", "manifest_id"),)


class Upload(Base):
    """An upload session. Its bytes (and so its offset) live in the BlobStore."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: who opened it ("user:<name>", "addr:<address>"): open sessions are capped per owner
    owner: Mapped[str | None] = mapped_column(String(300), nullable=True)

    __table_args__ = (Index("ix_uploads_owner", "owner"),)


class TaskLock(Base):
    """One row per periodic task (``gc``, ...): who runs it now and when it last finished, so that
    one pass at a time runs across every worker and node (registry/tasks.py)."""

    __tablename__ = "task_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[float] = mapped_column(Float, default=0.0)
    last_run_at: Mapped[float] = mapped_column(Float, default=0.0)
