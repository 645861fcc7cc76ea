"""The operator's commands: ``sciregistry serve`` (gunicorn with gthread workers: streams chunked
bodies, sendfile for blobs; the worker class is :mod:`sciregistry.cli.worker`) and
``sciregistry config-reference`` (the configuration table of the operator guide)."""

from __future__ import annotations

import gc
import logging
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from typing import Any

import click

from sciregistry.cli.common import echo, load, main, record_database, redact_url
from sciregistry.cli.options import server_options


@main.command()
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 5000; 0 picks a free one).")
@click.option("--workers", type=int, default=None, help="Worker processes (default 2).")
@click.option("--threads", type=int, default=None, help="Threads per worker (default 8).")
@server_options
def serve(
    host: str | None,
    port: int | None,
    workers: int | None,
    threads: int | None,
    data_dir: str | None,
    config_path: str | None,
) -> None:
    """Run the registry with a production WSGI server (gunicorn, gthread workers)."""
    cfg = load(config_path, data_dir, host=host, port=port, workers=workers, threads=threads)
    from sciregistry.logs import configure_logging

    configure_logging(cfg.log_level, cfg.log_format)
    # registry.db, blobs, keys and uploads are readable by this account only (0600 files, 0700
    # directories), whatever the umask of the shell that started the server
    os.umask(0o077)
    check_port(cfg.host, cfg.port)  # before anything is created (an admin password) or retried
    # Before anything imports prometheus_client: every process of this server counts into one
    # private directory, which /metrics sums (see sciregistry/metrics.py).
    if "prometheus_client" in sys.modules:  # a programming error: the workers would count apart
        raise click.ClickException("prometheus_client was imported before its multiprocess directory was set")
    metrics_dir = prepare_multiprocess_dir()
    try:
        prepare_in_child(cfg)
        logging.getLogger("sciregistry").info(
            "database %s; storage %s; data dir %s",
            redact_url(cfg.resolved_database_url),
            describe_storage(cfg),
            os.path.abspath(cfg.data_dir),
        )
        run_gunicorn(cfg)
    finally:
        if os.path.basename(metrics_dir).startswith(METRICS_DIR_PREFIX):
            shutil.rmtree(metrics_dir, ignore_errors=True)


@main.command("config-reference")
def config_reference() -> None:
    """Print the configuration reference (every setting, its SCIREGISTRY_* variable and default)
    as the Markdown table of docs/operator-guide.md."""
    from sciregistry.config import reference

    echo(reference().rstrip("\n"))


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_DIR_PREFIX = "sciregistry-metrics-"


def prepare_multiprocess_dir() -> str:
    """Point ``PROMETHEUS_MULTIPROC_DIR`` at an empty directory and return it: the operator's
    (emptied of old files, whose counters would be summed in) or a private (0700) temporary one.
    This runs before anything imports prometheus_client, which picks its multiprocess mode once, at
    import (so it is done here, not in sciregistry.metrics)."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        os.makedirs(path, mode=0o700, exist_ok=True)
        for name in os.listdir(path):
            if name.endswith(".db"):
                os.unlink(os.path.join(path, name))
    else:
        path = tempfile.mkdtemp(prefix=METRICS_DIR_PREFIX)
        os.environ[MULTIPROC_ENV] = path
    return path


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook (master): a worker exited; its live gauges leave the sums."""
    from sciregistry.metrics import mark_process_dead

    mark_process_dead(worker.pid)


def check_port(host: str, port: int) -> None:
    """Fail at once, with the next step, when ``host:port`` cannot be bound (gunicorn would retry
    for several seconds, after the first start had created the administrator)."""
    import errno
    import socket

    if not port:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"{host}:{port} is already in use (another sciregistry, or another server): stop it, or "
                    f"start on another port (--port {port + 1}, or PORT={port + 1} with make run)"
                ) from None
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def describe_storage(cfg: Any) -> str:
    """The blob store in one phrase, for the start-up log."""
    if cfg.storage_driver == "filesystem":
        return f"filesystem {cfg.resolved_storage_root}"
    bucket = getattr(cfg, "s3_bucket", "") or ""
    endpoint = getattr(cfg, "s3_endpoint_url", "") or ""
    return f"{cfg.storage_driver} {bucket}{' at ' + endpoint if endpoint else ''}".strip()


def prepare(cfg: Any) -> None:
    """Migrate the database and run the first-start hook (admin user, signing keys), once."""
    from sciregistry.app import build_services

    services = build_services(cfg, migrate=True)
    record_database(cfg)  # administrator commands check theirs against it
    if cfg.auth_enabled:
        from sciregistry.cli.first_start import first_start

        first_start(services.accounts, services.keys, cfg.data_dir, cfg.admin_password)
    services.engine.dispose()
    restrict_modes(cfg)


def restrict_modes(cfg: Any) -> None:
    """Make data created before the umask was set (or by an older version) private too: the data
    directory and the store root 0700 (nothing below them can be reached by others, however old
    files are mode), the SQLite database and its journals 0600."""
    paths = [os.path.abspath(cfg.data_dir)]
    if cfg.storage_driver == "filesystem":
        paths.append(cfg.resolved_storage_root)
    for path in paths:
        if os.path.isdir(path):
            os.chmod(path, 0o700)
    url = cfg.resolved_database_url
    if url.startswith("sqlite:///"):
        db = url[len("sqlite:///") :]
        for path in (db, db + "-wal", db + "-shm", db + "-journal"):
            if os.path.isfile(path):
                os.chmod(path, 0o600)


def prepare_in_child(cfg: Any) -> None:
    """Run :func:`prepare` in a forked child, before gunicorn starts.

    The gunicorn master only supervises; if it imported the application (and alembic) to migrate,
    it would hold about 60 MiB it never uses for as long as the server runs. Each worker imports
    the application itself.
    """
    import traceback

    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            prepare(cfg)
            code = 0
        except Exception as exc:
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                traceback.print_exc()
            print(
                f"sciregistry serve: could not prepare the database and data directory: {exc}",
                file=sys.stderr,
            )
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    from sciregistry.metrics import mark_process_dead

    mark_process_dead(pid)
    if os.waitstatus_to_exitcode(status) != 0:
        raise click.ClickException("startup failed (see the message above); the server was not started")


def _serve_metrics(server: Any, bind: str) -> None:
    """gunicorn hook (master, once the workers are started): the exposition on ``metrics_bind``."""
    from sciregistry.metrics import serve_exposition

    serve_exposition(bind)
    server.log.info("metrics on http://%s/metrics", bind)


def _announce(server: Any) -> None:
    """Once listening: print the address of the web pages (the port is known only now with --port 0)."""
    for listener in getattr(server, "LISTENERS", []):
        try:
            addr = listener.sock.getsockname()
        except (AttributeError, OSError):
            continue
        if isinstance(addr, tuple):
            host, port = addr[0], addr[1]
            host = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in str(host) else host
            print(f"sciregistry: web pages at http://{host}:{port}/", file=sys.stderr, flush=True)


def run_gunicorn(cfg: Any) -> None:
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):
        def load_config(self) -> None:
            settings = {
                "bind": f"{cfg.host}:{cfg.port}",
                "workers": cfg.workers,
                "threads": cfg.threads,
                "worker_class": "sciregistry.cli.worker.OciThreadWorker",
                "timeout": 300,
                "graceful_timeout": 30,
                "keepalive": 75,
                "accesslog": None,
                "errorlog": "-",
                "loglevel": cfg.log_level.lower(),
                "proc_name": "sciregistry",
                "limit_request_line": 8190,
                # X-Forwarded-Proto and friends only from configured proxies (empty: from nobody)
                "forwarded_allow_ips": cfg.trusted_proxies,
                "control_socket_disable": True,
                "child_exit": child_exit,
                "when_ready": _announce,
            }
            if cfg.metrics_bind:

                def _ready(server: Any) -> None:
                    _serve_metrics(server, cfg.metrics_bind)
                    _announce(server)

                settings["when_ready"] = _ready
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from sciregistry.app import create_app

            app = create_app(cfg, migrate=False)
            start_upload_expiry(
                app, cfg.upload_idle_timeout, interval=min(60.0, max(1.0, cfg.upload_idle_timeout / 2))
            )
            # The ~230,000 objects the imports and the app leave alive never die: keep them out of
            # the collector's full passes, which otherwise cost 110-120 ms in the middle of a request
            # (the p99 of impact queries, docs/performance.md)
            gc.freeze()
            return app

    from sciregistry.cli import worker

    worker.configure(cfg.header_timeout, cfg.body_timeout, cfg.body_min_rate)
    os.environ.setdefault("SCIREGISTRY_SERVING", "1")
    _App().run()


def start_upload_expiry(app: Any, max_idle: int, interval: float = 60.0) -> threading.Thread:
    """In each worker, remove upload sessions idle longer than ``max_idle`` seconds, every
    ``interval`` seconds (a daemon thread; several workers doing it at once is harmless)."""
    registry = app.extensions["sciregistry"].registry
    log = logging.getLogger("sciregistry.uploads")

    def loop() -> None:
        while True:
            time.sleep(interval * random.uniform(0.75, 1.25))
            try:
                expired = registry.expire_idle_uploads(max_idle)
                if expired:
                    log.info("removed %d idle upload session(s)", len(expired))
            except Exception:
                log.warning("idle upload expiry failed", exc_info=True)

    thread = threading.Thread(target=loop, name="sciregistry-upload-expiry", daemon=True)
    thread.start()
    return thread
