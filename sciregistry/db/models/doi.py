"""DOIs and the pins that keep their closures alive."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from sciregistry.db.base import Base, UTCDateTime, utcnow
from sciregistry.db.models.oci import DIGEST_LEN


class Doi(Base):
    __tablename__ = "dois"

    doi: Mapped[str] = mapped_column(String(255), primary_key=True)  # lower-case
    repository_id: Mapped[int | None] = mapped_column(ForeignKey("repositories.id", ondelete="RESTRICT"))
    result_digest: Mapped[str | None] = mapped_column(String(DIGEST_LEN))
    crate_digest: Mapped[str | None] = mapped_column(String(DIGEST_LEN))
    run_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # draft | findable | tombstone
    is_concept: Mapped[bool] = mapped_column(Boolean, default=False)
    concept_doi: Mapped[str | None] = mapped_column(String(255))
    previous_doi: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer, default=1)
    metadata_json: Mapped[str] = mapped_column(Text)  # DataCite attributes as registered
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    tombstone_reason: Mapped[str | None] = mapped_column(Text)
    reproductions: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_dois_result", "repository_id", "result_digest"),
        Index("ix_dois_concept", "concept_doi"),
        # at most one live DOI per result: concurrent mints of the same result cannot both succeed
        Index(
            "uq_dois_live_result",
            "repository_id",
            "result_digest",
            unique=True,
            sqlite_where=text("state != 'tombstone'"),
            postgresql_where=text("state != 'tombstone'"),
        ),
    )


class DoiPin(Base):
    """One object of a DOI's closure: a manifest or blob in a repository that must never go away."""

    __tablename__ = "doi_pins"

    doi: Mapped[str] = mapped_column(ForeignKey("dois.doi", ondelete="RESTRICT"), primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="RESTRICT"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(DIGEST_LEN), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # manifest | blob
    role: Mapped[str] = mapped_column(String(32))  # result, crate, image, index, dataset, referrer, blob

    __table_args__ = (
        Index("ix_doi_pins_target", "repository_id", "digest"),
        Index("ix_doi_pins_digest", "digest"),
    )
