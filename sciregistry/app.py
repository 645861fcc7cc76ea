"""The composition root: ``create_app(config)`` builds every service and registers every blueprint.

Nothing else in sciregistry constructs engines, stores or services; tests build an app with
``create_app({"data_dir": tmp, ...})``.
"""

from __future__ import annotations

import errno
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request
from sqlalchemy import Engine, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from sciregistry.api.auth_gate import configure_auth, install_auth
from sciregistry.api.ext import bp as ext_bp
from sciregistry.api.ext import docs_bp
from sciregistry.api.gate import OpenGate
from sciregistry.api.landing import bp as landing_bp
from sciregistry.api.v2 import bp as v2_bp
from sciregistry.api.web import install as install_web
from sciregistry.config import Config, load_config
from sciregistry.db import make_engine, make_session_factory
from sciregistry.errors import InsufficientStorage, RegistryError, ServerFault
from sciregistry.oci import EMPTY_JSON_DIGEST
from sciregistry.registry import HookChain, Registry
from sciregistry.registry.dois import DoiPins, DoiService
from sciregistry.registry.reproductions import ReproductionCounter
from sciregistry.registry.runs import RunIndex, RunQueries
from sciregistry.registry.search import SearchIndex, SearchQueries, index_doi
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

    def audit(self, *, action: str, target: str, detail: dict[str, Any] | None = None,
              outcome: str = "ok") -> None:
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
    hooks.add(RunIndex(store))
    hooks.add(DoiPins())
    hooks.add(ReproductionCounter(store))
    hooks.add(SearchIndex())  # last: it indexes the run row RunIndex wrote
    registry = Registry(engine, sessions, store, hooks)
    services = Services(config=config, engine=engine, store=store, registry=registry, gate=OpenGate(),
                        hooks=hooks)
    services.extra["sessions"] = sessions
    services.extra["runs"] = RunQueries(sessions)
    services.extra["dois"] = DoiService(sessions, make_minter(config), publisher=config.doi_publisher,
                                        base_url=config.resolved_base_url,
                                        registry_host=config.resolved_registry_host)
    services.extra["dois"].on_change.append(index_doi)
    services.extra["search"] = SearchQueries(sessions)
    configure_auth(services)  # accounts, keys, audit sink, first-start hook; AuthGate when auth_enabled
    return services


def server_fault(exc: BaseException) -> ServerFault | None:
    """The 5xx a failure of the server's own resources deserves: disk full 507, storage or database
    unreachable 503 (with Retry-After). None for anything else (a bug: logged with its traceback)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(detail={"error": exc.strerror})
    if isinstance(exc, (OSError, StorageError)):
        return ServerFault("storage unavailable, retry later", {"error": getattr(exc, "strerror", None) or str(exc)[:200]},
                           headers={"Retry-After": "5"})
    if isinstance(exc, OperationalError) and (
            getattr(exc.orig, "sqlstate", None) in ("53100", "53400")  # PostgreSQL disk_full, config limit
            or "disk is full" in str(exc.orig) or "No space left" in str(exc.orig)):  # SQLite, others
        return InsufficientStorage("insufficient storage: the registry's database cannot grow")
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)):
        return ServerFault("database unavailable, retry later", headers={"Retry-After": "5"})
    return None


def make_minter(config: Config) -> Any:
    from sciregistry.doi import DataCiteMinter, LocalMinter

    if config.doi_minter == "datacite":
        return DataCiteMinter(config.datacite_url, config.datacite_repository, config.datacite_password,
                              config.doi_prefix)
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

    app.url_map.merge_slashes = False  # /v2//x must not be redirected to another repository
    app.register_blueprint(v2_bp)
    app.register_blueprint(ext_bp)
    app.register_blueprint(docs_bp)
    app.register_blueprint(landing_bp)
    install_web(app)  # pages at /, /search, /r/..., /runs, /doi/, /login, /account, /admin
    if config.auth_enabled:
        install_auth(app)  # GET/POST /token and the audit of /v2 writes

    @app.get("/healthz")
    def healthz() -> Response:
        """200 when the database answers and the blob store can be reached, else 503 naming what failed."""
        problems: dict[str, str] = {}
        try:
            with services.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            problems["database"] = type(exc).__name__
        try:
            services.store.stat(EMPTY_JSON_DIGEST)
        except Exception as exc:  # noqa: BLE001
            problems["storage"] = type(exc).__name__
        if problems:
            return Response(json.dumps({"status": "unavailable", "problems": problems}), status=503,
                            mimetype="application/json", headers={"Retry-After": "5"})
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
        body = {"errors": [{"code": (exc.name or "error").upper().replace(" ", "_"),
                            "message": exc.description or exc.name}]}
        # keep the exception's own headers (a 405's Allow, RFC 9110 15.5.6), not its HTML content type
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return Response(json.dumps(body), status=exc.code or 500, mimetype="application/json", headers=headers)

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
        body = {"errors": [{"code": "UNKNOWN" if not request.path.startswith("/v2") else "UNSUPPORTED",
                            "message": "internal server error"}]}
        return Response(json.dumps(body), status=500, mimetype="application/json")

    return app
