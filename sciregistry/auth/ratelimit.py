"""Brute-force protection for password logins (``/token`` Basic credentials, web login).

Two independent counters are kept: one per client address and one per user name, so an attacker
spraying one password over many accounts hits the address limit, and one guessing a single
account's password from many addresses hits the user limit.

Per counter:

- every failure increments ``count``; after ``max_failures`` failures the key is locked for
  ``lockout`` seconds, and each further failure doubles it (``lockout * 2**(count - max_failures)``,
  capped at ``max_lockout``): exponential back-off;
- the count is forgotten once ``window`` seconds have passed since the later of the last failure
  and the end of the last lock-out (a lock-out longer than ``window`` therefore does not reset the
  back-off by itself);
- a successful login clears the *user* counter only. The address counter is left to decay, because
  an attacker who owns one valid account could otherwise reset it between guesses. Its threshold
  is higher (``addr_max_failures``, default ``4 * max_failures``) so a shared NAT address of a
  lab is not locked out by a few typos.

Usage at the login route::

    if (retry := throttle.check(addr, user)) is not None:
        raise TooManyRequests(headers={"Retry-After": str(retry)})
    if check_password(...): throttle.success(addr, user)
    else: throttle.failure(addr, user)

:class:`LoginThrottle` keeps its state in process memory (one worker). :class:`Throttle` is the
interface a shared (SQL or Redis) implementation follows so that every worker sees the same counts.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["LoginThrottle", "Throttle"]


@runtime_checkable
class Throttle(Protocol):
    """Login throttle interface. ``user`` may be None when the request carried no user name."""

    def check(self, addr: str, user: str | None) -> int | None:
        """Seconds to wait before another attempt is accepted (>= 1), or None when allowed now."""
        ...

    def failure(self, addr: str, user: str | None) -> None:
        """Record a failed attempt."""
        ...

    def success(self, addr: str, user: str | None) -> None:
        """Record a successful attempt."""
        ...


@dataclass(slots=True)
class _Entry:
    count: int = 0
    last_failure: float = 0.0
    locked_until: float = 0.0


class LoginThrottle:
    """In-memory :class:`Throttle`; thread-safe; bounded to ``max_entries`` keys (oldest evicted).

    ``clock`` returns seconds (monotonic by default) and is injectable for tests.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 300.0,
        lockout: float = 30.0,
        *,
        max_lockout: float = 3600.0,
        addr_max_failures: int | None = None,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        if window <= 0 or lockout <= 0 or max_lockout < lockout:
            raise ValueError("window and lockout must be positive and max_lockout >= lockout")
        self.max_failures = max_failures
        self.addr_max_failures = addr_max_failures if addr_max_failures is not None else 4 * max_failures
        if self.addr_max_failures < 1:
            raise ValueError("addr_max_failures must be at least 1")
        self.window = float(window)
        self.lockout = float(lockout)
        self.max_lockout = float(max_lockout)
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    # --- keys ---

    @staticmethod
    def _keys(addr: str, user: str | None) -> list[tuple[tuple[str, str], bool]]:
        """[(key, is_user_key)]; user names are case-folded so ``Alice`` and ``alice`` share a counter."""
        keys: list[tuple[tuple[str, str], bool]] = [(("addr", addr), False)]
        if user:
            keys.append((("user", user.casefold()), True))
        return keys

    def _threshold(self, is_user: bool) -> int:
        return self.max_failures if is_user else self.addr_max_failures

    def _expired(self, e: _Entry, now: float) -> bool:
        return now - max(e.last_failure, e.locked_until) >= self.window

    def _lock_duration(self, count: int, threshold: int) -> float:
        exponent = count - threshold
        if exponent >= 64:  # avoid huge floats; already far beyond max_lockout
            return self.max_lockout
        return min(math.ldexp(self.lockout, exponent), self.max_lockout)

    def _after_failure(self, e: _Entry | None, now: float, is_user: bool) -> _Entry:
        """The counter after one more failure at ``now`` (a decayed or missing one starts over)."""
        if e is None or self._expired(e, now):
            e = _Entry()
        e.count += 1
        e.last_failure = now
        threshold = self._threshold(is_user)
        if e.count >= threshold:
            e.locked_until = max(e.locked_until, now + self._lock_duration(e.count, threshold))
        return e

    def _prune(self, now: float) -> None:
        # Oldest-touched first; stop at the first live entry (entries move to the end when touched).
        while self._entries:
            key, e = next(iter(self._entries.items()))
            if len(self._entries) > self.max_entries or self._expired(e, now):
                del self._entries[key]
            else:
                break

    # --- interface ---

    def check(self, addr: str, user: str | None) -> int | None:
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key, _ in self._keys(addr, user):
                e = self._entries.get(key)
                if e is not None and e.locked_until > now:
                    wait = max(wait, e.locked_until - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failure(self, addr: str, user: str | None) -> None:
        now = self._clock()
        with self._lock:
            for key, is_user in self._keys(addr, user):
                e = self._after_failure(self._entries.get(key), now, is_user)
                self._entries[key] = e
                self._entries.move_to_end(key)
            self._prune(now)

    def success(self, addr: str, user: str | None) -> None:
        if not user:
            return
        with self._lock:
            self._entries.pop(("user", user.casefold()), None)

    # --- introspection (tests, metrics) ---

    def failures(self, addr: str | None = None, user: str | None = None) -> int:
        """Current failure count of the address or user counter (0 when unknown or decayed)."""
        if (addr is None) == (user is None):
            raise ValueError("give exactly one of addr or user")
        key = ("addr", addr) if addr is not None else ("user", (user or "").casefold())
        now = self._clock()
        with self._lock:
            e = self._entries.get(key)
            return 0 if e is None or self._expired(e, now) else e.count

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
