"""Alembic environment: runs against the connection handed in by ``sciregistry.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import sciregistry.db.models  # noqa: F401  (registers every table)
from sciregistry.db.base import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise SystemExit("alembic: no sqlalchemy.url configured")
        engine = create_engine(url)
        with engine.begin() as connection:
            _run(connection)
    else:
        _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
