"""The composition root: ``create_app(config)`` builds every service and registers every blueprint.

Nothing else in sciregistry constructs engines, stores or services; tests build an app with
``create_app({"data_dir": tmp, ...})``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request
from sqlalchemy import Engine, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException

from sciregistry import metrics
from sciregistry.api import observe
from sciregistry.api.audit import audit_write
from sciregistry.api.auth_gate import AuthGate
from sciregistry.api.ext import bp as ext_bp
from sciregistry.api.ext import docs_bp
from sciregistry.api.ext.routes import not_found as ext_not_found
from sciregistry.api.gate import Gate, OpenGate
from sciregistry.api.landing import bp as landing_bp
from sciregistry.api.proxies import TrustedProxies, parse_proxies
from sciregistry.api.token import bp as token_bp
from sciregistry.api.token_issuer import TokenIssuer
from sciregistry.api.v2 import bp as v2_bp
from sciregistry.api.v2.errors import unknown_route as v2_unknown_route
from sciregistry.api.web import install as install_web
from sciregistry.auth import SERVER_PARAMS, TEST_PARAMS, KeyStore
from sciregistry.config import Config, load_config
from sciregistry.db import make_engine, make_session_factory, watch_pool
from sciregistry.errors import CrateInvalid, InsufficientStorage, ManifestInvalid, RegistryError, ServerFault
from sciregistry.oci import EMPTY_JSON_DIGEST
from sciregistry.registry import HookChain, Registry
from sciregistry.registry.accounts import Accounts
from sciregistry.registry.browse import BrowseQueries
from sciregistry.registry.dois import DoiPins, DoiService
from sciregistry.registry.hooks import OnRefusal
from sciregistry.registry.reproductions import ReproductionCounter
from sciregistry.registry.runs import RunIndex, RunQueries
from sciregistry.registry.search import SearchIndex, SearchQueries, index_doi
from sciregistry.registry.throttle import SqlThrottle
from sciregistry.registry.vulns import ScanQueue, ScanThread, VulnService
from sciregistry.storage import BlobStore, StorageError, open_store

if TYPE_CHECKING:
    from sciregistry.registry.gc import GcReport
    from sciregistry.registry.tasks import PeriodicTask

log = logging.getLogger("sciregistry")


AuditSink = Callable[..., None]  # (*, action, target, detail, outcome) -> None


@dataclass
class Services:
    """Everything a request handler may use; kept in ``app.extensions["sciregistry"]``.

    Built by :func:`build_services` (also used by the CLI without Flask). With authentication off
    ``gate`` is an :class:`OpenGate`, ``tokens`` and ``audit_sink`` are None.
    """

    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    store: BlobStore
    registry: Registry
    hooks: HookChain
    runs: RunQueries
    dois: DoiService
    vulns: VulnService
    search: SearchQueries
    browse: BrowseQueries
    accounts: Accounts
    keys: KeyStore
    gate: Gate
    tokens: TokenIssuer | None = None  # the /token endpoint's grants (auth on)
    audit_sink: AuditSink | None = None  # where Services.audit writes (auth on)
    # started by create_app in a serving process
    scan_thread: ScanThread | None = None
    gc_task: PeriodicTask | None = None
    gc_last_report: GcReport | None = None

    def audit(
        self, *, action: str, target: str, detail: dict[str, Any] | None = None, outcome: str = "ok"
    ) -> None:
        """Record a write in the audit log (no-op until an audit sink is configured)."""
        if self.audit_sink is not None:
            self.audit_sink(action=action, target=target, detail=detail or {}, outcome=outcome)

    def readiness(self) -> dict[str, str]:
        """What keeps this node from serving (empty when ready); see :func:`readiness`."""
        return readiness(self)


def build_services(config: Config, *, migrate: bool = True) -> Services:
    """Engine, store, registry, accounts, keys and gate for ``config`` (the CLI uses it without Flask)."""
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
    # a push re-using a blob or manifest refreshes its gc freshness at most this often
    # (docs/architecture.md, GC)
    registry.touch_after = min(60.0, config.gc_grace_seconds / 4)
    runs = RunQueries(sessions)
    dois = DoiService(
        sessions,
        make_minter(config),
        publisher=config.doi_publisher,
        base_url=config.resolved_base_url,
        registry_host=config.resolved_registry_host,
    )
    dois.on_change.append(index_doi)
    vulns = VulnService(
        registry,
        runs=runs,
        base_url=config.resolved_base_url,
        registry_host=config.resolved_registry_host,
    )
    vulns.minter = dois.minter  # type: ignore[attr-defined]  # advisories update DOI metadata
    accounts = Accounts(engine, sessions, password_params=TEST_PARAMS if config.testing else SERVER_PARAMS)
    keys = KeyStore(os.path.abspath(config.data_dir))
    services = Services(
        config=config,
        engine=engine,
        sessions=sessions,
        store=store,
        registry=registry,
        hooks=hooks,
        runs=runs,
        dois=dois,
        vulns=vulns,
        search=SearchQueries(sessions),
        browse=BrowseQueries(sessions, store),
        accounts=accounts,
        keys=keys,
        gate=OpenGate(),
    )
    if config.auth_enabled:
        configure_auth(services)
    return services


def configure_auth(services: Services) -> None:
    """The authenticating gate, the token issuer and the audit sink (``auth_enabled``)."""
    cfg = services.config
    # Counters in the database: every worker and every host sees the same failures.
    throttle = SqlThrottle(
        services.sessions,
        max_failures=max(1, cfg.login_max_failures),
        window=max(1, cfg.login_window),
        lockout=min(30.0, float(max(1, cfg.login_window))),
    )
    gate = AuthGate(
        services.accounts,
        services.keys,
        service=cfg.service_name,
        base_url=cfg.base_url,
        throttle=throttle,
        registry=services.registry,
    )
    services.gate = gate
    services.tokens = TokenIssuer(services.keys, gate.held, service=cfg.service_name, token_ttl=cfg.token_ttl)
    services.audit_sink = gate.audit_sink


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
        app.register_blueprint(token_bp)  # GET/POST /token
        app.after_request(audit_write)  # the audit of /v2 writes
    if config.scan_in_server and os.environ.get("SCIREGISTRY_SERVING"):
        # one background scanner per server process; jobs are claimed row by row, so any number of
        # processes and nodes share the queue
        services.scan_thread = ScanThread(services.vulns, poll=config.scan_poll_seconds).start()

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

    @app.errorhandler(404)
    def _not_found(exc: HTTPException) -> Response:
        """A path no route serves: the OCI error on /v2, the JSON API's elsewhere."""
        if request.path.startswith("/v2"):
            return v2_unknown_route(exc)
        return ext_not_found(exc)

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
                dois=services.dois,
            )
            services.gc_last_report = report
            logging.getLogger("sciregistry.gc").info("online gc: %s", report.counts())

        services.gc_task = PeriodicTask(
            TaskLock(services.engine, services.sessions, "gc"), cfg.gc_interval, gc_pass
        ).start()
