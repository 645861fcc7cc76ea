"""``sciregistry serve``: gunicorn with gthread workers (streams chunked bodies, sendfile for blobs)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from sciregistry.cli.common import load, main, record_database, redact_url, server_options


@main.command()
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 5000; 0 picks a free one).")
@click.option("--workers", type=int, default=None, help="Worker processes (default 2).")
@click.option("--threads", type=int, default=None, help="Threads per worker (default 8).")
@server_options
def serve(host: str | None, port: int | None, workers: int | None, threads: int | None,
          data_dir: str | None, config_path: str | None) -> None:
    """Run the registry with a production WSGI server (gunicorn, gthread workers)."""
    cfg = load(config_path, data_dir, host=host, port=port, workers=workers, threads=threads)
    logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    check_port(cfg.host, cfg.port)  # before anything is created (an admin password) or retried
    prepare_in_child(cfg)
    logging.getLogger("sciregistry").info("database %s; storage %s; data dir %s", redact_url(cfg.resolved_database_url),
                                          describe_storage(cfg), os.path.abspath(cfg.data_dir))
    run_gunicorn(cfg)


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
                    f"start on another port (--port {port + 1}, or PORT={port + 1} with make run)") from None
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
    first_start = services.extra.get("on_first_start")
    if first_start:
        first_start()
    services.engine.dispose()


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
        except Exception as exc:  # noqa: BLE001 - reported to the operator, the exit status tells the parent
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                traceback.print_exc()
            print(f"sciregistry serve: could not prepare the database and data directory: {exc}",
                  file=sys.stderr)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise click.ClickException("startup failed (see the message above); the server was not started")


def run_gunicorn(cfg: Any) -> None:
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):  # type: ignore[misc]
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
                "forwarded_allow_ips": "127.0.0.1",
                "control_socket_disable": True,
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from sciregistry.app import create_app

            return create_app(cfg, migrate=False)

    os.environ.setdefault("SCIREGISTRY_SERVING", "1")
    _App().run()
