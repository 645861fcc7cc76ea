"""Prometheus metrics of a running registry (``GET /metrics``, or ``metrics_bind``).

Every family is defined here, once, with bounded labels: the route *template* (never a raw path),
the method, the status code. Under ``sciregistry serve`` the gunicorn workers are separate
processes: ``sciregistry serve`` (``cli/serve.py``) points ``PROMETHEUS_MULTIPROC_DIR`` at a private, empty
directory before any worker starts, each worker writes its values there (memory-mapped files, no
locks between processes), the exposition sums them, and ``mark_process_dead`` drops the live
gauges of a worker that exited. Without that variable (tests, ``flask run``) the values live in
this process.

    sciregistry_http_requests_total{method,route,status}        counter
    sciregistry_http_request_duration_seconds{method,route}     histogram (to the last byte sent)
    sciregistry_http_received_bytes_total{route}                counter (request bodies)
    sciregistry_http_sent_bytes_total{route}                    counter (response bodies)
    sciregistry_uploads_in_progress                             gauge (blob upload requests streaming now)
    sciregistry_gc_passes_total{outcome}                        counter (ok, dry_run, failed)
    sciregistry_gc_deleted_total{kind}                          counter (manifests, blobs, orphan_files,
                                                                uploads)
    sciregistry_gc_freed_bytes_total                            counter
    sciregistry_gc_duration_seconds                             histogram
    sciregistry_db_pool_connections_in_use                      gauge (checked out of the pools)
    sciregistry_db_pool_capacity                                gauge (pool size + overflow, all workers)
    sciregistry_db_connections_opened_total                     counter
    sciregistry_run_crates_refused_total                        counter (admission refusals)
    sciregistry_login_failures_total{method}                    counter (password, token)
    sciregistry_login_throttled_total                           counter (429s of the login throttle)

Nothing here imports Flask or SQLAlchemy: the HTTP layer (``sciregistry.api.observe``), the
composition root and the CLI call these functions.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as _mp
from prometheus_client.exposition import CONTENT_TYPE_LATEST

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)

REQUESTS = Counter(
    "sciregistry_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "sciregistry_http_request_duration_seconds",
    "Time from the request reaching the application to its last byte sent.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
RECEIVED = Counter(
    "sciregistry_http_received_bytes", "Request body bytes received, by route template.", ["route"]
)
SENT = Counter("sciregistry_http_sent_bytes", "Response body bytes sent, by route template.", ["route"])
UPLOADS_IN_PROGRESS = Gauge(
    "sciregistry_uploads_in_progress",
    "Blob upload requests (POST/PATCH/PUT under /blobs/uploads/) streaming now.",
    multiprocess_mode="livesum",
)
GC_PASSES = Counter(
    "sciregistry_gc_passes", "Garbage collection passes, by outcome (ok, dry_run, failed).", ["outcome"]
)
GC_DELETED = Counter("sciregistry_gc_deleted", "Objects garbage collection deleted, by kind.", ["kind"])
GC_FREED = Counter("sciregistry_gc_freed_bytes", "Blob bytes garbage collection freed.")
GC_DURATION = Histogram(
    "sciregistry_gc_duration_seconds",
    "Duration of garbage collection passes.",
    buckets=(0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0),
)
DB_IN_USE = Gauge(
    "sciregistry_db_pool_connections_in_use",
    "Database connections checked out of the pools now.",
    multiprocess_mode="livesum",
)
DB_CAPACITY = Gauge(
    "sciregistry_db_pool_capacity",
    "Connections the pools may hold (pool size + overflow), summed over live workers.",
    multiprocess_mode="livesum",
)
DB_CONNECTS = Counter("sciregistry_db_connections_opened", "Database connections opened by the pools.")
CRATES_REFUSED = Counter(
    "sciregistry_run_crates_refused", "Run crates refused at admission (MANIFEST_INVALID)."
)
LOGIN_FAILURES = Counter(
    "sciregistry_login_failures", "Failed logins, by method (password, token).", ["method"]
)
LOGIN_THROTTLED = Counter("sciregistry_login_throttled", "Logins refused by the login throttle (429).")

GC_KINDS = {
    "manifests": "manifests_deleted",
    "blobs": "blobs_deleted",
    "orphan_files": "orphan_files_deleted",
    "uploads": "uploads_deleted",
}

# Every label value known in advance is exported from the start (at 0): rate() and alerts see the
# series before the first event.
for _label in ("password", "token"):
    LOGIN_FAILURES.labels(_label)
for _label in ("ok", "dry_run", "failed"):
    GC_PASSES.labels(_label)
for _label in GC_KINDS:
    GC_DELETED.labels(_label)


def _count(value: Any) -> int:
    if isinstance(value, int | float):
        return int(value)
    try:
        return len(value)
    except TypeError:
        return 0


def record_gc(report: Any, seconds: float, *, failed: bool = False) -> None:
    """Count one garbage collection pass from the report it returned (``None`` when it failed).
    Reads the report's ``*_deleted`` fields (lists or counts) and ``bytes_freed``, ``dry_run``."""
    if failed or report is None:
        GC_PASSES.labels("failed").inc()
        GC_DURATION.observe(seconds)
        return
    dry = bool(getattr(report, "dry_run", False))
    GC_PASSES.labels("dry_run" if dry else "ok").inc()
    GC_DURATION.observe(seconds)
    if dry:
        return
    for kind, attr in GC_KINDS.items():
        n = _count(getattr(report, attr, 0))
        if n:
            GC_DELETED.labels(kind).inc(n)
    freed = _count(getattr(report, "bytes_freed", 0))
    if freed:
        GC_FREED.inc(freed)


class GcPass:
    report: Any = None


@contextmanager
def gc_pass() -> Iterator[GcPass]:
    """Time and count one gc pass: ``with gc_pass() as p: p.report = collect(...)``; a pass that
    raises counts as failed."""
    p = GcPass()
    t0 = time.perf_counter()
    try:
        yield p
    except BaseException:
        record_gc(None, time.perf_counter() - t0, failed=True)
        raise
    record_gc(p.report, time.perf_counter() - t0)


def exposition() -> bytes:
    """The text exposition of every family: summed over the workers' files in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        _mp.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


# --- multiprocess mode (`sciregistry serve` makes the directory: sciregistry/cli/serve.py) ----------


def mark_process_dead(pid: int) -> None:
    """A worker exited: drop its live gauges (its counters stay in the sums)."""
    if os.environ.get(MULTIPROC_ENV):
        _mp.mark_process_dead(pid)


def serve_exposition(bind: str) -> Any:
    """Serve the exposition, unauthenticated, on ``host:port`` from a thread of this process (the
    gunicorn master with ``metrics_bind``): reachable only by who can reach that address."""
    from prometheus_client import start_http_server

    host, _, port = bind.rpartition(":")
    registry = CollectorRegistry()
    _mp.MultiProcessCollector(registry)
    return start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=registry)
