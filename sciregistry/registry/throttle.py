"""The login throttle of a running server: :class:`~sciregistry.auth.ratelimit.LoginThrottle`'s rules
with its counters in the database, so every worker (and every host) counts the same failures.

Only failed logins write; ``check`` is one indexed read, made only when a credential is not in the
worker's cache of verified ones (so at most once per credential per few seconds, next to an
Argon2 verification that costs far more). Times are Unix seconds, comparable across processes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, select

from sciregistry.auth.ratelimit import LoginThrottle, _Entry
from sciregistry.db.models import LoginFailure
from sciregistry.registry.base import retry_conflicts

__all__ = ["SqlThrottle"]


def _key(parts: tuple[str, str]) -> str:
    return f"{parts[0]}:{parts[1]}"[:300]


class SqlThrottle(LoginThrottle):
    def __init__(self, sessions: Any, *, clock: Callable[[], float] = time.time, **kw: Any) -> None:
        super().__init__(clock=clock, **kw)
        self._sessions = sessions

    def check(self, addr: str, user: str | None) -> int | None:
        now = self._clock()
        keys = [_key(k) for k, _ in self._keys(addr, user)]
        with self._sessions() as s:
            until = s.execute(
                select(func.max(LoginFailure.locked_until)).where(LoginFailure.key.in_(keys))
            ).scalar()
        wait = (until or 0.0) - now
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failure(self, addr: str, user: str | None) -> None:
        # Two workers inserting the first failure of one key: the loser retries and updates.
        retry_conflicts(lambda: self._failure(addr, user, self._clock()))

    def _failure(self, addr: str, user: str | None, now: float) -> None:
        with self._sessions() as s, s.begin():
            # Writing first (pruning decayed counters) takes SQLite's write lock before the reads
            # below, so two workers cannot both read the old count; PostgreSQL locks the rows.
            cutoff = now - self.window
            s.execute(
                delete(LoginFailure).where(
                    LoginFailure.last_failure < cutoff, LoginFailure.locked_until < cutoff
                )
            )
            for parts, is_user in self._keys(addr, user):
                key = _key(parts)
                row = s.execute(
                    select(LoginFailure).where(LoginFailure.key == key).with_for_update()
                ).scalar()
                e = self._after_failure(
                    None if row is None else _Entry(row.count, row.last_failure, row.locked_until),
                    now,
                    is_user,
                )
                if row is None:
                    s.add(
                        LoginFailure(
                            key=key, count=e.count, last_failure=e.last_failure, locked_until=e.locked_until
                        )
                    )
                    s.flush()
                else:
                    row.count, row.last_failure, row.locked_until = e.count, e.last_failure, e.locked_until

    def success(self, addr: str, user: str | None) -> None:
        if not user:
            return
        with self._sessions() as s, s.begin():
            s.execute(delete(LoginFailure).where(LoginFailure.key == _key(("user", user.casefold()))))

    def failures(self, addr: str | None = None, user: str | None = None) -> int:
        if (addr is None) == (user is None):
            raise ValueError("give exactly one of addr or user")
        parts = ("addr", addr) if addr is not None else ("user", (user or "").casefold())
        with self._sessions() as s:
            row = s.get(LoginFailure, _key(parts))
            if row is None:
                return 0
            e = _Entry(row.count, row.last_failure, row.locked_until)
        return 0 if self._expired(e, self._clock()) else e.count

    def __len__(self) -> int:
        with self._sessions() as s:
            return int(s.execute(select(func.count()).select_from(LoginFailure)).scalar() or 0)
