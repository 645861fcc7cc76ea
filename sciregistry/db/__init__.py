"""Persistence: typed models, engine/session factory, migrations."""

from sciregistry.db.base import (
    Base,
    insert_ignore,
    insert_or_touch,
    make_engine,
    make_session_factory,
    utcnow,
    watch_pool,
)

__all__ = [
    "Base",
    "insert_ignore",
    "insert_or_touch",
    "make_engine",
    "make_session_factory",
    "utcnow",
    "watch_pool",
]
