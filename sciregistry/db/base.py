"""Declarative base, engine and session factory.

SQLite (the embedded default) is opened in WAL mode with a busy timeout and foreign keys on, so
several gunicorn workers can share one file; PostgreSQL is used as is (``postgresql+psycopg://``).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import CursorResult, DateTime, Engine, MetaData, Result, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        return value.replace(tzinfo=dt.UTC) if value is not None else None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def normalize_database_url(url: str) -> str:
    """Accept the URL forms operators copy from elsewhere: ``postgres://`` (Heroku, libpq tools) and
    a driverless ``postgresql://`` both mean PostgreSQL through psycopg 3, the driver sciregistry
    installs (``pip install 'sciregistry[postgres]'``); SQLAlchemy itself knows neither."""
    for alias in ("postgres://", "postgresql://"):
        if url.startswith(alias):
            return "postgresql+psycopg://" + url[len(alias) :]
    return url


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalize_database_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=20,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)


def watch_pool(
    engine: Engine, *, checkout: Callable[[], None], checkin: Callable[[], None], connect: Callable[[], None]
) -> int:
    """Call ``checkout``/``checkin``/``connect`` on the pool's events (the metrics of its use);
    returns how many connections the pool may hold (size + overflow)."""
    event.listen(engine, "checkout", lambda *_: checkout())
    event.listen(engine, "checkin", lambda *_: checkin())
    event.listen(engine, "connect", lambda *_: connect())
    pool = engine.pool
    size = getattr(pool, "size", None)
    return (size() if callable(size) else 1) + max(0, getattr(pool, "_max_overflow", 0))


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def rowcount(result: Result[Any]) -> int:
    """Rows matched by an INSERT, UPDATE or DELETE that ``Session.execute`` ran (typed as a plain
    Result, it is a CursorResult, which has the count)."""
    return cast("CursorResult[Any]", result).rowcount


def _dialect_insert(session: Session) -> Any:
    """The dialect's ``insert`` (with ``on_conflict_*``) for the session's database."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def insert_ignore(session: Session, model: type, **values: object) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the two supported databases (SQLite, PostgreSQL):
    concurrent inserts of one row all succeed, inside any transaction."""
    insert = _dialect_insert(session)
    # the Table, not the mapped class: a Core statement, whose rowcount says whether it inserted
    return insert(getattr(model, "__table__", model)).values(**values).on_conflict_do_nothing()


def insert_or_touch(
    session: Session, model: Any, values: dict[str, Any], now: dt.datetime, stale_before: dt.datetime
) -> Any:
    """``INSERT ... ON CONFLICT (primary key) DO UPDATE SET pushed_at = now WHERE pushed_at < stale_before``:
    insert the row, or refresh the freshness of an existing one only when it is stale (one statement
    either way, no write when fresh). The conflicting row is locked either way on PostgreSQL until the
    transaction ends, which is what gc's deletion of that row waits for (registry/gc.py)."""
    insert = _dialect_insert(session)
    from sqlalchemy import or_

    table = model.__table__
    keys = [c.name for c in table.primary_key.columns]
    return (
        insert(table)
        .values(**values, pushed_at=now)
        .on_conflict_do_update(
            index_elements=keys,
            set_={"pushed_at": now},
            where=or_(table.c.pushed_at.is_(None), table.c.pushed_at < stale_before),
        )
    )
