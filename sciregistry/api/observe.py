"""What an operator watches: request ids, the access log, Prometheus metrics, ``/metrics`` and ``/readyz``.

``RequestObserver`` wraps the whole WSGI application (outside Flask, so every request is seen,
including the ones Flask answers with a 404 or 405, and streamed bodies are timed to their last
byte). Per request it:

- takes the client's ``X-Request-Id`` when it is 1-128 characters of ``[A-Za-z0-9._:+/=@-]``, else
  makes one (128 random bits, hex), sets it in :data:`sciregistry.logs.request_id` so every log
  line of the request carries it, and echoes it in the response;
- counts the request, its latency and its bytes under its route *template* (``/v2/<name>/blobs/<digest>``),
  which the /v2 dispatcher or Flask's URL rule names: never a raw path, so label values are bounded;
- writes one access line (``sciregistry.access`` logger) when the body has been sent.

The work per request is a few dictionary lookups and four memory-mapped counter updates (label
children are cached per (method, route, status)): measured in docs/performance.md.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from time import perf_counter
from typing import Any

from flask import Flask, Response, current_app, g, request

from sciregistry import metrics
from sciregistry.api.v2.body import (
    BYTES_IN as ENV_BYTES_IN,  # counted by the blob body readers (chunked: no length)
)
from sciregistry.api.v2.routes import ENV_ROUTE  # set by the /v2 dispatcher (matched outside Flask's router)
from sciregistry.logs import request_id as current_request_id
from sciregistry.logs import write_access

ENV_REQUEST_ID = "sciregistry.request_id"
ENV_PRINCIPAL = "sciregistry.principal"

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID_OK = re.compile(r"[A-Za-z0-9._:+/=@-]{1,128}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_UPLOAD_METHODS = frozenset({"POST", "PATCH", "PUT"})
_PATH_UNSAFE = re.compile(r'[^\x21-\x7e]|["\\]')  # a path cannot forge fields of the plain line


def request_id_for(header: str | None) -> str:
    """The client's id when it is safe to log and echo, else a fresh one."""
    if header is not None and _REQUEST_ID_OK.fullmatch(header):
        return header
    return os.urandom(16).hex()


class RequestObserver:
    FLUSH_SECONDS = 1.0

    def __init__(self, app: Callable[..., Iterable[bytes]], *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log
        # Counts of the last second, per (method, route, status): [requests, seconds, received,
        # sent, *latency bucket counts]. Adding to a list is about a tenth of the cost of the
        # memory-mapped metric updates (a lock, a getpid, a write each); :meth:`flush` applies
        # them at most once a second, on the next request, from a timer thread and before every
        # exposition (so a scrape is at most a second behind the other workers, never its own).
        self._pending: dict[tuple[str, str, str], list[float]] = {}
        self._lock = threading.Lock()
        self._next_flush = 0.0
        self._timer: threading.Thread | None = None
        self._bounds = metrics.LATENCY_BUCKETS

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        t0 = perf_counter()
        rid = request_id_for(environ.get("HTTP_X_REQUEST_ID"))
        environ[ENV_REQUEST_ID] = rid
        token = current_request_id.set(rid)
        upload = environ.get("REQUEST_METHOD") in _UPLOAD_METHODS and "/blobs/uploads" in environ.get(
            "PATH_INFO", ""
        )
        if upload:
            metrics.UPLOADS_IN_PROGRESS.inc()
        state: list[Any] = [None, ()]  # status line, headers

        def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append((REQUEST_ID_HEADER, rid))
            state[0], state[1] = status, headers
            return start_response(status, headers, exc_info)

        finish = _Finish(self, environ, t0, state, upload, token)
        try:
            result = self.app(environ, _start_response)
        except BaseException:
            state[0] = state[0] or "500 Internal Server Error"
            finish(0)
            raise
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is not None and isinstance(wrapper, type) and isinstance(result, wrapper):
            # gunicorn sends a file wrapper with sendfile only if it is returned as is: keep it, and
            # finish when the server closes it (its length is the Content-Length we answered with).
            inner_close = getattr(result, "close", None)

            def _close() -> None:
                try:
                    if inner_close is not None:
                        inner_close()
                finally:
                    length = next((v for k, v in state[1] if k.lower() == "content-length"), "0")
                    finish(int(length) if length.isdigit() else 0)

            result.close = _close  # type: ignore[attr-defined]
            return result
        return _Body(result, finish)

    def observe(self, environ: dict[str, Any], seconds: float, status_line: str, sent: int) -> None:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in _METHODS:
            method = "OTHER"
        route = environ.get(ENV_ROUTE, "<unmatched>")
        status = status_line[:3]
        received = environ.get(ENV_BYTES_IN)
        if received is None:
            length = environ.get("CONTENT_LENGTH")
            received = int(length) if length and length.isdigit() else 0
        key = (method, route, status)
        bucket = 4 + bisect_left(self._bounds, seconds)
        with self._lock:
            acc = self._pending.get(key)
            if acc is None:
                acc = self._pending[key] = [0, 0.0, 0, 0] + [0] * (len(self._bounds) + 1)
            acc[0] += 1
            acc[1] += seconds
            acc[2] += received
            acc[3] += sent
            acc[bucket] += 1
        if perf_counter() >= self._next_flush:
            self.flush()
        if self.access_log:
            path = environ.get("PATH_INFO", "")
            if environ.get("QUERY_STRING"):
                path = f"{path}?{environ['QUERY_STRING']}"
            fields = {
                "method": method,
                "route": route,
                "path": _PATH_UNSAFE.sub("?", path[:1000]),
                "status": int(status) if status.isdigit() else 0,
                "bytes_in": received,
                "bytes_out": sent,
                "duration_ms": round(seconds * 1000, 2),
                "principal": environ.get(ENV_PRINCIPAL, "-"),
                "remote_addr": environ.get("REMOTE_ADDR", "-"),
                "request_id": environ[ENV_REQUEST_ID],
            }
            write_access(fields)

    def flush(self) -> None:
        """Apply the pending counts to the metrics (this process's memory-mapped values)."""
        self._next_flush = perf_counter() + self.FLUSH_SECONDS
        if self._timer is None or not self._timer.is_alive():  # after a fork, or the first time
            self._timer = threading.Thread(target=self._flush_forever, name="metrics-flush", daemon=True)
            self._timer.start()
            atexit.register(self.flush)
        with self._lock:
            pending, self._pending = self._pending, {}
        for (method, route, status), acc in pending.items():
            metrics.REQUESTS.labels(method, route, status).inc(acc[0])
            latency = metrics.LATENCY.labels(method, route)
            latency._sum.inc(acc[1])  # Histogram.observe, for many observations at once
            for i, n in enumerate(acc[4:]):  # one per bucket, +Inf last
                if n:
                    latency._buckets[i].inc(n)
            if acc[2]:
                metrics.RECEIVED.labels(route).inc(acc[2])
            if acc[3]:
                metrics.SENT.labels(route).inc(acc[3])

    def _flush_forever(self) -> None:
        idle = 0
        while idle < 30:  # an idle app lets its thread end; the next request starts another
            time.sleep(self.FLUSH_SECONDS)
            if self._pending:
                idle = 0
                self.flush()
            else:
                idle += 1


class _Finish:
    """Called once, when the response is done (or failed): metrics, access line, context reset."""

    __slots__ = ("done", "environ", "observer", "state", "t0", "token", "upload")

    def __init__(
        self,
        observer: RequestObserver,
        environ: dict[str, Any],
        t0: float,
        state: list[Any],
        upload: bool,
        token: Any,
    ) -> None:
        self.observer, self.environ, self.t0, self.state = observer, environ, t0, state
        self.upload, self.token, self.done = upload, token, False

    def __call__(self, sent: int) -> None:
        if self.done:
            return
        self.done = True
        try:
            if self.upload:
                metrics.UPLOADS_IN_PROGRESS.dec()
            self.observer.observe(self.environ, perf_counter() - self.t0, self.state[0] or "500", sent)
        finally:
            # closed from another context: nothing of ours to restore there
            with contextlib.suppress(ValueError):
                current_request_id.reset(self.token)


class _Body:
    """The response iterable, counting the bytes it yields; finishes on ``close`` (PEP 3333)."""

    __slots__ = ("finish", "result", "sent")

    def __init__(self, result: Iterable[bytes], finish: _Finish) -> None:
        self.result, self.finish, self.sent = result, finish, 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.result:
            self.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            self.finish(self.sent)


# --- Flask side ----------------------------------------------------------------------------------


def _remember(_exc: BaseException | None) -> None:
    """Teardown (the request object is gone when the body has been sent): the route template, and
    who the request authenticated as (only if it was resolved: the log never triggers a credential
    check of its own)."""
    from sciregistry.api.auth_gate import G_KEY

    environ = request.environ
    if ENV_ROUTE not in environ:
        rule = request.url_rule
        environ[ENV_ROUTE] = rule.rule if rule is not None else "<unmatched>"
    if g.get(G_KEY) is not None:
        label = getattr(_services().gate, "principal_label", None)
        if label is not None:
            request.environ[ENV_PRINCIPAL] = label()


def _services() -> Any:
    from flask import current_app

    return current_app.extensions["sciregistry"]


def metrics_view() -> Response:
    """``GET /metrics``: the exposition, for administrators (or anyone with ``metrics_public``);
    404 here when ``metrics_bind`` serves it on its own address."""
    cfg = _services().config
    if cfg.metrics_bind:
        return Response(
            json.dumps(
                {
                    "errors": [
                        {"code": "NOT_FOUND", "message": "metrics are served on the metrics_bind address"}
                    ]
                }
            ),
            status=404,
            mimetype="application/json",
        )
    if not cfg.metrics_public:
        _services().gate.require_admin()
    observer = current_app.extensions.get("sciregistry.observer")
    if observer is not None:
        observer.flush()
    return Response(metrics.exposition(), mimetype=metrics.CONTENT_TYPE)


def readyz_view() -> Response:
    """``GET /readyz``: 200 when the database and the blob store answer and the database schema is
    at the revision this code expects; else 503 naming each problem (a load balancer takes the node
    out of rotation; ``/healthz`` stays the liveness check)."""
    services = _services()
    problems = services.readiness()
    if problems:
        return Response(
            json.dumps({"status": "unavailable", "problems": problems}),
            status=503,
            mimetype="application/json",
            headers={"Retry-After": "5"},
        )
    return Response(b'{"status":"ready"}', mimetype="application/json")


def install(app: Flask, *, access_log: bool = True) -> None:
    """Called by ``create_app``: the observer around the WSGI app, the principal teardown, the routes."""
    observer = RequestObserver(app.wsgi_app, access_log=access_log)
    app.wsgi_app = observer  # type: ignore[method-assign]
    app.extensions["sciregistry.observer"] = observer
    app.teardown_request(_remember)
    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
    app.add_url_rule("/readyz", "readyz", readyz_view, methods=["GET"])
