"""Login throttle with an injected clock: the in-memory one and the database one of a running server
(``SqlThrottle``, on SQLite and PostgreSQL) obey the same rules."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sciregistry.auth.ratelimit import LoginThrottle, Throttle


def _defaults(kw: dict[str, Any]) -> dict[str, Any]:
    kw.setdefault("max_failures", 5)
    kw.setdefault("window", 300)
    kw.setdefault("lockout", 30)
    kw.setdefault("max_lockout", 3600)
    return kw


@pytest.fixture(params=["memory", "sql"])
def make(request: pytest.FixtureRequest) -> Iterator[Callable[..., LoginThrottle]]:
    if request.param == "memory":
        yield lambda clock, **kw: LoginThrottle(clock=clock, **_defaults(kw))
        return
    from sciregistry.db import make_engine, make_session_factory
    from sciregistry.db.migrate import upgrade
    from sciregistry.registry.throttle import SqlThrottle

    # the rules on SQLite here; test_workers_share_the_database_counters covers PostgreSQL too
    engine = make_engine(f"sqlite:///{request.getfixturevalue('tmp_path')}/throttle.db")
    upgrade(engine)
    sessions = make_session_factory(engine)

    def build(clock: Any, **kw: Any) -> LoginThrottle:
        kw = _defaults(kw)
        kw.pop("max_entries", None)  # the database keeps every live counter; decayed ones are pruned
        return SqlThrottle(sessions, clock=clock, **kw)

    yield build
    engine.dispose()


def fail(t: LoginThrottle, n: int, addr: str = "10.0.0.1", user: str | None = "alice") -> None:
    for _ in range(n):
        t.failure(addr, user)


def test_is_a_throttle() -> None:
    assert isinstance(LoginThrottle(), Throttle)


def test_lockout_after_max_failures(clock: Any, make: Any) -> None:
    t = make(clock)
    fail(t, 4)
    assert t.check("10.0.0.1", "alice") is None
    fail(t, 1)
    assert t.check("10.0.0.1", "alice") == 30
    clock.advance(10)
    assert t.check("10.0.0.1", "alice") == 20
    clock.advance(19.5)
    assert t.check("10.0.0.1", "alice") == 1  # rounded up, never 0
    clock.advance(0.5)
    assert t.check("10.0.0.1", "alice") is None


def test_exponential_backoff_and_cap(clock: Any, make: Any) -> None:
    t = make(clock, max_lockout=200)
    fail(t, 5)
    waits = []
    for _ in range(5):
        waits.append(t.check("10.0.0.1", "alice"))
        clock.advance(waits[-1])  # wait out the lock, then fail again
        assert t.check("10.0.0.1", "alice") is None
        fail(t, 1)
    waits.append(t.check("10.0.0.1", "alice"))
    assert waits == [30, 60, 120, 200, 200, 200]


def test_backoff_survives_lockouts_longer_than_window(clock: Any, make: Any) -> None:
    t = make(clock, window=60, lockout=100, max_lockout=10_000)
    fail(t, 5)
    assert t.check("10.0.0.1", "alice") == 100
    clock.advance(100)
    fail(t, 1)  # right after the lock: the count continues
    assert t.check("10.0.0.1", "alice") == 200
    assert t.failures(user="alice") == 6


def test_count_decays_after_window(clock: Any, make: Any) -> None:
    t = make(clock)
    fail(t, 4)
    clock.advance(299)
    assert t.failures(user="alice") == 4
    clock.advance(1)
    assert t.failures(user="alice") == 0
    fail(t, 4)
    assert t.check("10.0.0.1", "alice") is None  # 4 fresh failures, not 8


def test_count_decays_window_after_lock_end(clock: Any, make: Any) -> None:
    t = make(clock)
    fail(t, 5)
    clock.advance(30 + 299)
    assert t.failures(user="alice") == 5
    clock.advance(1)
    assert t.failures(user="alice") == 0
    fail(t, 1)
    assert t.check("10.0.0.1", "alice") is None


def test_user_counter_applies_from_any_address(clock: Any, make: Any) -> None:
    t = make(clock)
    for i in range(5):
        t.failure(f"10.0.0.{i}", "alice")
    assert t.check("192.168.1.1", "alice") == 30
    assert t.check("192.168.1.1", "bob") is None
    assert t.check("10.0.0.1", "bob") is None  # each address has only one failure


def test_address_counter_applies_to_any_user(clock: Any, make: Any) -> None:
    t = make(clock)  # addr_max_failures defaults to 4 * 5 = 20
    assert t.addr_max_failures == 20
    for i in range(19):
        t.failure("10.0.0.9", f"user{i}")
    assert t.check("10.0.0.9", "someone") is None
    t.failure("10.0.0.9", "user19")
    assert t.check("10.0.0.9", "someone") == 30
    assert t.check("10.0.0.10", "someone") is None


def test_address_threshold_configurable(clock: Any, make: Any) -> None:
    t = make(clock, addr_max_failures=2)
    t.failure("a", "u1")
    t.failure("a", "u2")
    assert t.check("a", None) == 30


def test_success_clears_user_but_not_address(clock: Any, make: Any) -> None:
    t = make(clock)
    fail(t, 4)
    t.success("10.0.0.1", "alice")
    assert t.failures(user="alice") == 0
    assert t.failures(addr="10.0.0.1") == 4
    fail(t, 4)
    assert t.check("10.0.0.1", "alice") is None


def test_success_does_not_unlock_an_address(clock: Any, make: Any) -> None:
    t = make(clock, addr_max_failures=3)
    for u in ("a", "b", "c"):
        t.failure("10.0.0.1", u)
    t.success("10.0.0.1", "mallory")  # attacker's own valid account
    assert t.check("10.0.0.1", "mallory") == 30


def test_user_names_are_case_folded(clock: Any, make: Any) -> None:
    t = make(clock)
    for name in ("Alice", "ALICE", "alice", "aLiCe", "alice"):
        t.failure("10.0.0.1", name)
    assert t.check("10.0.0.2", "Alice") == 30
    t.success("10.0.0.2", "ALICE")
    assert t.check("10.0.0.2", "alice") is None


def test_no_user_name(clock: Any, make: Any) -> None:
    t = make(clock, addr_max_failures=2)
    t.failure("a", None)
    t.failure("a", "")
    assert t.check("a", None) == 30
    t.success("a", None)  # no-op
    assert t.check("a", None) == 30


def test_entries_are_pruned_and_bounded(clock: Any, make: Any) -> None:
    t = make(clock, max_entries=10)
    for i in range(50):
        t.failure(f"addr{i}", f"user{i}")
    # memory: bounded to max_entries; database: every live counter is kept (pruned once decayed)
    assert len(t) <= 11 if type(t) is LoginThrottle else len(t) == 100
    clock.advance(301)
    t.failure("x", None)
    assert len(t) == 1


def test_thread_safety(clock: Any, make: Any) -> None:
    t = make(clock, max_failures=10_000, addr_max_failures=10_000)
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(200):
            t.failure("10.0.0.1", "alice")
            t.check("10.0.0.1", "alice")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert t.failures(addr="10.0.0.1") == 1600
    assert t.failures(user="alice") == 1600


@pytest.mark.parametrize(
    "kw",
    [
        {"max_failures": 0},
        {"window": 0},
        {"lockout": 0},
        {"lockout": 10, "max_lockout": 5},
        {"addr_max_failures": 0},
    ],
)
def test_invalid_configuration(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LoginThrottle(**kw)


def test_failures_argument_check() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        LoginThrottle().failures()
    with pytest.raises(ValueError, match="exactly one"):
        LoginThrottle().failures(addr="a", user="b")


def test_workers_share_the_database_counters(clock: Any, database_url: str) -> None:
    """Two workers (two SqlThrottle objects, two engines on one database) count the same failures:
    an attacker spreading guesses over workers is locked out after max_failures in all."""
    from sciregistry.db import make_engine, make_session_factory
    from sciregistry.db.migrate import upgrade
    from sciregistry.registry.throttle import SqlThrottle

    engines = [make_engine(database_url) for _ in range(2)]
    upgrade(engines[0])
    try:
        a, b = (SqlThrottle(make_session_factory(e), clock=clock, **_defaults({})) for e in engines)
        for i in range(5):
            (a if i % 2 else b).failure("10.0.0.9", "mallory")
        assert a.check("10.0.0.9", "mallory") == 30 and b.check("10.0.0.9", "mallory") == 30
        assert b.check("10.9.9.9", "mallory") == 30  # the user counter, from any address
        a.success("10.0.0.9", "mallory")
        assert b.failures(user="mallory") == 0 and b.failures(addr="10.0.0.9") == 5
    finally:
        for e in engines:
            e.dispose()
