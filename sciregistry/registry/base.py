"""Shared state of the registry use cases: the session factory, the blob store, the hooks."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine, bindparam, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from sciregistry.db.base import rowcount, utcnow
from sciregistry.db.models import Blob, Repository
from sciregistry.errors import NameUnknown, ServerFault
from sciregistry.registry.hooks import HookChain
from sciregistry.storage import BlobStore

_REPO_ID = select(Repository.id).where(Repository.name == bindparam("name"))
_LOCK_REPO = text(f"UPDATE {Repository.__tablename__} SET id = id WHERE id = :rid")
# gc's lock on one blob row (SQLite: the database write lock): uploads and mounts take the same row's
# lock with their INSERT ... ON CONFLICT DO UPDATE before they look at the store (registry/gc.py).
_LOCK_BLOB = text(f"SELECT 1 FROM {Blob.__tablename__} WHERE digest = :digest FOR UPDATE")
_LOCK_BLOB_SQLITE = text(f"UPDATE {Blob.__tablename__} SET size = size WHERE digest = :digest")

T = TypeVar("T")
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # PostgreSQL deadlock_detected, serialization_failure


def retry_conflicts(fn: Callable[[], T], *, attempts: int = 6) -> T:
    """Run a check-then-write transaction again when a concurrent one changed the same rows: a
    unique or foreign-key violation (another push or delete won the race; the next attempt sees
    its result) or a PostgreSQL deadlock. Short randomised back-off; after ``attempts`` the
    conflict is reported as a 503 the client can retry, never as a 500."""
    for attempt in range(attempts):
        try:
            return fn()
        except IntegrityError:
            pass
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) not in _RETRYABLE_SQLSTATES:
                raise
        time.sleep(random.uniform(0, 0.002 * 2**attempt))
    raise ServerFault("conflicting concurrent changes, retry", headers={"Retry-After": "1"})


def lock_repositories(session: Session, repository_ids: Iterable[int]) -> None:
    """:meth:`RegistryBase.lock_repository` for several repositories, in id order (no deadlock)."""
    for rid in sorted(set(repository_ids)):
        session.execute(_LOCK_REPO, {"rid": rid})


# Decides whether the caller may read a repository (used by cross-repository mount);
# the default (no auth configured) allows everything.
ReadCheck = Callable[[str], bool]


class RegistryBase:
    #: Seconds after which the freshness (``pushed_at``) of a blob link or manifest is refreshed when a
    #: push re-uploads, mounts or HEADs it; fresher objects are not written to again (app.py derives it
    #: from ``gc_grace_seconds``: a quarter of the grace, at most a minute).
    touch_after: float = 60.0

    def __init__(
        self, engine: Engine, sessions: sessionmaker, store: BlobStore, hooks: HookChain | None = None
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.store = store
        self.hooks = hooks or HookChain()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    def freshness(self) -> tuple[dt.datetime, dt.datetime]:
        """(now, stale_before): the value a push writes to ``pushed_at``, and the age below which it
        does not bother to."""
        now = utcnow()
        return now, now - dt.timedelta(seconds=self.touch_after)

    def lock_blob(self, session: Session, digest: str) -> bool:
        """Lock the row of blob ``digest`` for the rest of the transaction; False when there is none."""
        if session.get_bind().dialect.name == "postgresql":
            return session.execute(_LOCK_BLOB, {"digest": digest}).first() is not None
        return rowcount(session.execute(_LOCK_BLOB_SQLITE, {"digest": digest})) > 0

    # --- repositories ---
    def repository_id(self, session: Session, name: str) -> int | None:
        return session.execute(_REPO_ID, {"name": name}).scalar()

    def lock_repository(self, session: Session, repository_id: int) -> None:
        """Take the repository's write lock first thing in a transaction that checks, then writes its
        manifests and tags: PostgreSQL locks the row (concurrent pushes and deletes in one repository
        queue instead of deadlocking), SQLite starts the write transaction before the checks read
        (pysqlite would otherwise begin it only at the first write)."""
        session.execute(_LOCK_REPO, {"rid": repository_id})

    def require_repository(self, session: Session, name: str) -> int:
        rid = self.repository_id(session, name)
        if rid is None:
            raise NameUnknown(detail={"name": name})
        return rid

    def ensure_repository(self, name: str) -> int:
        """The id of repository ``name``, created if needed (safe under concurrent creation)."""
        with self.sessions() as session:
            rid = self.repository_id(session, name)
            if rid is not None:
                return rid
            repo = Repository(name=name)
            session.add(repo)
            try:
                session.commit()
                return repo.id
            except IntegrityError:
                session.rollback()
            return self.require_repository(session, name)
