"""The search index: one row per thing a person may look for (repository, tag, dataset, run, DOI).

Kept current inside the push, delete and DOI transactions by ``sciregistry.registry.search``.
The full-text part is dialect-specific and lives in migration 0010:

    SQLite      search_fts    FTS5 external-content table over (title, body), kept in step by triggers
    PostgreSQL  search_entries.tsv  tsvector GENERATED from title and body, GIN-indexed

``namespace`` and ``repository`` let every query apply the reader's visibility without a join.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sciregistry.db.base import Base, UTCDateTime, utcnow
from sciregistry.db.models.oci import DIGEST_LEN


class SearchEntry(Base):
    __tablename__ = "search_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # repository | tag | dataset | image | result | run | doi
    key: Mapped[str] = mapped_column(String(700), unique=True)  # e.g. "tag:lab/x:v1", "run:17"
    namespace: Mapped[str] = mapped_column(String(255))
    repository: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    ref: Mapped[str] = mapped_column(String(255), default="")  # tag, run id or DOI: what the link needs
    digest: Mapped[str | None] = mapped_column(String(DIGEST_LEN))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_search_entries_kind_id", "kind", "id"),
        Index("ix_search_entries_kind_repository", "kind", "repository"),
        Index("ix_search_entries_kind_namespace", "kind", "namespace"),
        Index("ix_search_entries_digest", "digest"),
    )
