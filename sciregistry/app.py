"""The composition root: ``create_app(config)`` builds every service and registers every blueprint.

Nothing else in sciregistry constructs engines, stores or services; tests build an app with
``create_app({"data_dir": tmp, ...})``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request
from sqlalchemy import Engine, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from sciregistry import metrics
from sciregistry.api import observe
from sciregistry.api.auth_gate import configure_auth, install_auth
from sciregistry.api.ext import bp as ext_bp
from sciregistry.api.ext import docs_bp
from sciregistry.api.gate import OpenGate
from sciregistry.api.landing import bp as landing_bp
from sciregistry.api.proxies import TrustedProxies, parse_proxies
from sciregistry.api.v2 import bp as v2_bp
from sciregistry.api.web import install as install_web
from sciregistry.config import Config, load_config
from sciregistry.db import make_engine, make_session_factory, watch_pool
from sciregistry.errors import CrateInvalid, InsufficientStorage, ManifestInvalid, RegistryError, ServerFault
from sciregistry.oci import EMPTY_JSON_DIGEST
from sciregistry.registry import HookChain, Registry
from sciregistry.registry.dois import DoiPins, DoiService
from sciregistry.registry.hooks import OnRefusal
from sciregistry.registry.reproductions import ReproductionCounter
from sciregistry.registry.runs import RunIndex, RunQueries
from sciregistry.registry.search import SearchIndex, SearchQueries, index_doi
from sciregistry.registry.vulns import ScanQueue, ScanThread, VulnService
from sciregistry.storage import BlobStore, StorageError, open_store

log = logging.getLogger("sciregistry")


@dataclass
class Services:
    """Everything a request handler may use; kept in ``app.extensions["sciregistry"]``."""

    config: Config
    engine: Engine
    store: BlobStore
    registry: Registry
    gate: Any
    hooks: HookChain
    extra: dict[str, Any] = field(default_factory=dict)

    def audit(
        self, *, action: str, target: str, detail: dict[str, Any] | None = None, outcome: str = "ok"
    ) -> None:
        """Record a write in the audit log (no-op until an audit sink is configured)."""
        sink = self.extra.get("audit_sink")
        if sink is not None:
            sink(action=action, target=target, detail=detail or {}, outcome=outcome)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["extra"][name]
        except KeyError:
            raise AttributeError(name) from None


def build_services(config: Config, *, migrate: bool = True) -> Services:
    """Engine, store, registry and gate for ``config`` (also used by the CLI without Flask)."""
    engine = make_engine(config.resolved_database_url)
    if migrate:
        from sciregistry.db.migrate import upgrade  # alembic (about 10 MiB) only where migrations run

        upgrade(engine)
    sessions = make_session_factory(engine)
    store = open_store(config.storage_driver, **config.storage_options())
    hooks = HookChain()
    # Hooks run inside the push/delete transactions, in this order: crate admission and indexing,
    # DOI pin guard, reproduction-report counter.
    hooks.add(
        OnRefusal(
            RunIndex(store, max_crate_size=config.max_crate_size),
            metrics.CRATES_REFUSED.inc,
            (ManifestInvalid, CrateInvalid),
        )
    )
    hooks.add(DoiPins())
    hooks.add(ReproductionCounter(store))
    hooks.add(ScanQueue())  # queues a vulnerability scan of each pushed image (never scans in the push)
    hooks.add(SearchIndex())  # last: it indexes the run row RunIndex wrote
    registry = Registry(engine, sessions, store, hooks)
    # a push re-using a blob or manifest refreshes its gc freshness at most this often (docs/architecture.md, GC)
    registry.touch_after = min(60.0, config.gc_grace_seconds / 4)
    services = Services(
        config=config, engine=engine, store=store, registry=registry, gate=OpenGate(), hooks=hooks
    )
    services.extra["sessions"] = sessions
    services.extra["runs"] = RunQueries(sessions)
    services.extra["dois"] = DoiService(
        sessions,
        make_minter(config),
        publisher=config.doi_publisher,
        base_url=config.resolved_base_url,
        registry_host=config.resolved_registry_host,
    )
    vulns = VulnService(
        registry,
        runs=services.extra["runs"],
        base_url=config.resolved_base_url,
        registry_host=config.resolved_registry_host,
    )
    vulns.minter = services.extra["dois"].minter  # type: ignore[attr-defined]  # advisories update DOI metadata
    services.extra["vulns"] = vulns
    services.extra["dois"].on_change.append(index_doi)
    services.extra["search"] = SearchQueries(sessions)
    configure_auth(services)  # accounts, keys, audit sink, first-start hook; AuthGate when auth_enabled
    return services


def readiness(services: Services) -> dict[str, str]:
    """What keeps this node from serving (empty when ready): the database answers and its schema is
    at the revision this code expects, the blob store answers."""
    from sciregistry.db.revision import database_revisions, head_revisions

    problems: dict[str, str] = {}
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            at, head = database_revisions(conn), head_revisions()
        if at != head:
            problems["migrations"] = (
                f"database at {', '.join(sorted(at)) or 'no revision'}, this code needs "
                f"{', '.join(sorted(head))} (`sciregistry serve` migrates at start)"
            )
    except Exception as exc:
        problems["database"] = type(exc).__name__
    try:
        services.store.stat(EMPTY_JSON_DIGEST)
    except Exception as exc:
        problems["storage"] = type(exc).__name__
    return problems


def server_fault(exc: BaseException) -> ServerFault | None:
    """The 5xx a failure of the server's own resources deserves: disk full 507, storage or database
    unreachable 503 (with Retry-After). None for anything else (a bug: logged with its traceback)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(detail={"error": exc.strerror})
    if isinstance(exc, (OSError, StorageError)):
        return ServerFault(
            "storage unavailable, retry later",
            {"error": getattr(exc, "strerror", None) or str(exc)[:200]},
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, OperationalError) and (
        getattr(exc.orig, "sqlstate", None) in ("53100", "53400")  # PostgreSQL disk_full, config limit
        or "disk is full" in str(exc.orig)
        or "No space left" in str(exc.orig)
    ):  # SQLite, others
        return InsufficientStorage("insufficient storage: the registry's database cannot grow")
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)):
        return ServerFault("database unavailable, retry later", headers={"Retry-After": "5"})
    return None


def make_minter(config: Config) -> Any:
    from sciregistry.doi import DataCiteMinter, LocalMinter

    if config.doi_minter == "datacite":
        return DataCiteMinter(
            config.datacite_url, config.datacite_repository, config.datacite_password, config.doi_prefix
        )
    return LocalMinter(config.doi_prefix)


def create_app(config: Config | Mapping[str, Any] | None = None, *, migrate: bool = True) -> Flask:
    if config is None:
        config = load_config()
    elif not isinstance(config, Config):
        config = load_config(overrides=config, environ={})
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = None
    app.json.sort_keys = False  # type: ignore[attr-defined]
    services = build_services(config, migrate=migrate)
    app.extensions["sciregistry"] = services
    services.extra["readiness"] = lambda: readiness(services)
    metrics.DB_CAPACITY.set(
        watch_pool(
            services.engine,
            checkout=metrics.DB_IN_USE.inc,
            checkin=metrics.DB_IN_USE.dec,
            connect=metrics.DB_CONNECTS.inc,
        )
    )
    observe.install(app, access_log=config.access_log)

    # X-Forwarded-For/Proto believed only from trusted_proxies (see api/proxies.py)
    app.wsgi_app = TrustedProxies(app.wsgi_app, parse_proxies(config.trusted_proxies))  # type: ignore[method-assign]
    app.url_map.merge_slashes = False  # /v2//x must not be redirected to another repository
    app.register_blueprint(v2_bp)
    app.register_blueprint(ext_bp)
    app.register_blueprint(docs_bp)
    app.register_blueprint(landing_bp)
    install_web(app)  # pages at /, /search, /r/..., /runs, /doi/, /login, /account, /admin
    if config.auth_enabled:
        install_auth(app)  # GET/POST /token and the audit of /v2 writes
    if config.scan_in_server and os.environ.get("SCIREGISTRY_SERVING"):
        # one background scanner per server process; jobs are claimed row by row, so any number of
        # processes and nodes share the queue
        services.extra["scan_thread"] = ScanThread(services.vulns, poll=config.scan_poll_seconds).start()

    @app.get("/healthz")
    def healthz() -> Response:
        """200 when the database answers and the blob store can be reached, else 503 naming what failed."""
        problems: dict[str, str] = {}
        try:
            with services.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            problems["database"] = type(exc).__name__
        try:
            services.store.stat(EMPTY_JSON_DIGEST)
        except Exception as exc:
            problems["storage"] = type(exc).__name__
        if problems:
            return Response(
                json.dumps({"status": "unavailable", "problems": problems}),
                status=503,
                mimetype="application/json",
                headers={"Retry-After": "5"},
            )
        return Response(b'{"status":"ok"}', mimetype="application/json")

    @app.errorhandler(RegistryError)
    def _registry_error(err: RegistryError) -> Response:
        body = {"errors": [err.to_dict()]}
        resp = Response(json.dumps(body), status=err.http_status, mimetype="application/json")
        resp.headers.update(err.headers)
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if request.path.startswith("/v2"):
            from sciregistry.api.v2.errors import from_http_exception, render

            return render(from_http_exception(exc))
        body = {
            "errors": [
                {
                    "code": (exc.name or "error").upper().replace(" ", "_"),
                    "message": exc.description or exc.name,
                }
            ]
        }
        # keep the exception's own headers (a 405's Allow, RFC 9110 15.5.6), not its HTML content type
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return Response(
            json.dumps(body), status=exc.code or 500, mimetype="application/json", headers=headers
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        fault = server_fault(exc)
        if fault is not None:
            log.error("%s on %s %s: %s", fault.code, request.method, request.path, exc)
            if request.path.startswith("/v2"):
                from sciregistry.api.v2.errors import render

                return render(fault)
            return _registry_error(fault)
        log.exception("unhandled error on %s %s", request.method, request.path)
        body = {
            "errors": [
                {
                    "code": "UNKNOWN" if not request.path.startswith("/v2") else "UNSUPPORTED",
                    "message": "internal server error",
                }
            ]
        }
        return Response(json.dumps(body), status=500, mimetype="application/json")

    if os.environ.get("SCIREGISTRY_SERVING") == "1":
        start_periodic_tasks(services)
    return app


def start_periodic_tasks(services: Services) -> None:
    """The background tasks of a serving worker (each runs once per interval across all workers and
    nodes, see registry/tasks.py): the online gc when ``gc_interval`` is set."""
    from sciregistry.registry.gc import collect
    from sciregistry.registry.tasks import PeriodicTask, TaskLock

    cfg = services.config
    if cfg.gc_interval > 0:

        def gc_pass() -> None:
            report = collect(
                services.registry,
                grace=cfg.gc_grace_seconds,
                upload_max_age=cfg.upload_max_age,
                delete_untagged=cfg.gc_delete_untagged,
                dois=services.extra.get("dois"),
            )
            services.extra["gc_last_report"] = report
            logging.getLogger("sciregistry.gc").info("online gc: %s", report.counts())

        services.extra["gc_task"] = PeriodicTask(
            TaskLock(services.engine, services.sessions, "gc"), cfg.gc_interval, gc_pass
        ).start()
