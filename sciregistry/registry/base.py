"""Shared state of the registry use cases: the session factory, the blob store, the hooks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sciregistry.db.models import Repository
from sciregistry.errors import NameUnknown
from sciregistry.registry.hooks import HookChain
from sciregistry.storage import BlobStore

_REPO_ID = select(Repository.id).where(Repository.name == bindparam("name"))

# Decides whether the caller may read a repository (used by cross-repository mount);
# the default (no auth configured) allows everything.
ReadCheck = Callable[[str], bool]


class RegistryBase:
    def __init__(self, engine: Engine, sessions: sessionmaker, store: BlobStore,
                 hooks: HookChain | None = None) -> None:
        self.engine = engine
        self.sessions = sessions
        self.store = store
        self.hooks = hooks or HookChain()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    # --- repositories ---
    def repository_id(self, session: Session, name: str) -> int | None:
        return session.execute(_REPO_ID, {"name": name}).scalar()

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
