"""search index: search_entries plus SQLite FTS5 or a PostgreSQL tsvector with a GIN index

Revision ID: 0010_search_index
Revises: 0009_workflows
Create Date: 2026-12-03 09:30:00

Existing content is indexed during the upgrade (``sciregistry.registry.search.rebuild``), so a
registry upgraded in place finds what it held before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_search_index"
down_revision = "0013_provenance_scale"
branch_labels = None
depends_on = None

_SQLITE = [
    (
        "CREATE VIRTUAL TABLE search_fts USING fts5(title, body, content='search_entries', "
        "content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')"
    ),
    (
        "CREATE TRIGGER search_entries_ai AFTER INSERT ON search_entries BEGIN "
        "INSERT INTO search_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END"
    ),
    (
        "CREATE TRIGGER search_entries_ad AFTER DELETE ON search_entries BEGIN "
        "INSERT INTO search_fts(search_fts, rowid, title, body) "
        "VALUES ('delete', old.id, old.title, old.body); END"
    ),
    (
        "CREATE TRIGGER search_entries_au AFTER UPDATE ON search_entries BEGIN "
        "INSERT INTO search_fts(search_fts, rowid, title, body) "
        "VALUES ('delete', old.id, old.title, old.body); "
        "INSERT INTO search_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END"
    ),
]
_POSTGRES = [
    # words are runs of letters and digits on both backends (FTS5's unicode61 splits the same way):
    # "r1.fq" is r1 + fq, "min_length" is min + length, whatever PostgreSQL's parser would make of them
    (
        "ALTER TABLE search_entries ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
        "(setweight(to_tsvector('simple', regexp_replace(title, '[^[:alnum:]]+', ' ', 'g')), 'A') || "
        "to_tsvector('simple', regexp_replace(body, '[^[:alnum:]]+', ' ', 'g'))) STORED"
    ),
    "CREATE INDEX ix_search_entries_tsv ON search_entries USING gin (tsv)",
]


def upgrade() -> None:
    op.create_table(
        "search_entries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(700), nullable=False),
        sa.Column("namespace", sa.String(255), nullable=False),
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("ref", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(200)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("key", name="uq_search_entries_key"),
    )
    op.create_index("ix_search_entries_kind_id", "search_entries", ["kind", "id"])
    op.create_index("ix_search_entries_kind_repository", "search_entries", ["kind", "repository"])
    op.create_index("ix_search_entries_kind_namespace", "search_entries", ["kind", "namespace"])
    op.create_index("ix_search_entries_digest", "search_entries", ["digest"])
    bind = op.get_bind()
    for stmt in (
        _SQLITE if bind.dialect.name == "sqlite" else _POSTGRES if bind.dialect.name == "postgresql" else []
    ):
        op.execute(stmt)

    from sqlalchemy.orm import Session

    from sciregistry.registry.search import rebuild

    with Session(bind=bind) as session:
        rebuild(session)
        session.flush()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("search_entries_ai", "search_entries_ad", "search_entries_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_table("search_entries")
