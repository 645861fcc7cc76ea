"""Periodic server-side tasks (online gc, ...): one pass at a time across every worker and node.

:class:`TaskLock` is the mutual exclusion: on PostgreSQL a session-level advisory lock held by one
connection for the whole pass (released by the server if the process dies), on SQLite a lease in the
``task_locks`` row (a conditional UPDATE; a crashed holder's lease expires). The same row records
when the task last finished, so that N workers each waking every ``interval`` run it once per
interval, not N times. :class:`PeriodicTask` is the daemon thread ``serve`` starts in each worker.

The exclusion is for efficiency and clear reports only: gc is correct with several passes at once
(registry/gc.py), so an expired lease on a pass that overruns costs work, never data.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, or_, text, update
from sqlalchemy.orm import sessionmaker

from sciregistry.db import insert_ignore
from sciregistry.db.models import TaskLock as TaskLockRow

log = logging.getLogger(__name__)


class TaskBusy(Exception):
    """Another worker or node runs the task now."""


class TaskLock:
    def __init__(self, engine: Engine, sessions: sessionmaker, name: str) -> None:
        self.engine = engine
        self.sessions = sessions
        self.name = name
        self.key = int.from_bytes(
            hashlib.sha256(f"sciregistry:{name}".encode()).digest()[:8], "big", signed=True
        )
        self.me = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"

    @contextmanager
    def held(self, *, lease: float = 3600.0, min_interval: float = 0.0) -> Iterator[bool]:
        """Yields True while this process holds the task (then records the pass as finished), False
        when another holds it or it ran less than ``min_interval`` seconds ago."""
        with self.sessions() as s, s.begin():
            s.execute(insert_ignore(s, TaskLockRow, name=self.name, expires_at=0.0, last_run_at=0.0))
        if self.engine.dialect.name == "postgresql":
            with self._advisory() as got:
                if not (got and self._due(min_interval)):
                    yield False
                    return
                try:
                    yield True
                finally:
                    self._finish()
            return
        if not self._take_lease(lease, min_interval):
            yield False
            return
        try:
            yield True
        finally:
            self._finish()

    @contextmanager
    def _advisory(self) -> Iterator[bool]:
        with self.engine.connect() as conn:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
            conn.commit()  # the lock is the session's, not the transaction's: no idle transaction
            try:
                yield got
            finally:
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                    conn.commit()

    def _due(self, min_interval: float) -> bool:
        with self.sessions() as s:
            last = s.get(TaskLockRow, self.name)
            return last is None or time.time() - last.last_run_at >= min_interval

    def _take_lease(self, lease: float, min_interval: float) -> bool:
        now = time.time()
        with self.sessions() as s, s.begin():
            res = s.execute(
                update(TaskLockRow)
                .where(
                    TaskLockRow.name == self.name,
                    or_(TaskLockRow.holder.is_(None), TaskLockRow.expires_at < now),
                    TaskLockRow.last_run_at <= now - min_interval,
                )
                .values(holder=self.me, expires_at=now + lease)
            )
            return res.rowcount == 1

    def _finish(self) -> None:
        with self.sessions() as s, s.begin():
            q = update(TaskLockRow).where(TaskLockRow.name == self.name)
            if self.engine.dialect.name != "postgresql":
                q = q.where(TaskLockRow.holder == self.me)
            s.execute(q.values(holder=None, expires_at=0.0, last_run_at=time.time()))


class PeriodicTask:
    """Run ``fn`` about every ``interval`` seconds in a daemon thread, once across all holders of
    the same :class:`TaskLock` name. Failures are logged and the next interval tries again."""

    def __init__(
        self, lock: TaskLock, interval: float, fn: Callable[[], Any], *, lease: float | None = None
    ) -> None:
        self.lock = lock
        self.interval = interval
        self.fn = fn
        self.lease = lease if lease is not None else max(3600.0, 2 * interval)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PeriodicTask:
        self._thread = threading.Thread(target=self._loop, name=f"sciregistry-{self.lock.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> bool:
        """One attempt: True when this call ran the task."""
        with self.lock.held(lease=self.lease, min_interval=self.interval * 0.9) as mine:
            if mine:
                self.fn()
            return mine

    def _loop(self) -> None:
        # a random first delay spreads the workers of all nodes over the interval
        delay = random.uniform(0.1, 1.0) * self.interval
        while not self._stop.wait(delay):
            try:
                self.run_once()
            except Exception:
                log.exception("periodic task %s failed", self.lock.name)
            delay = self.interval * random.uniform(0.9, 1.1)
