"""``sciregistry serve``: gunicorn with gthread workers (streams chunked bodies, sendfile for blobs)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from sciregistry.cli.common import load, main, server_options


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
    prepare_in_child(cfg)
    run_gunicorn(cfg)


def prepare(cfg: Any) -> None:
    """Migrate the database and run the first-start hook (admin user, signing keys), once."""
    from sciregistry.app import build_services

    services = build_services(cfg, migrate=True)
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
                "when_ready": _announce,
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from sciregistry.app import create_app

            return create_app(cfg, migrate=False)

    os.environ.setdefault("SCIREGISTRY_SERVING", "1")
    _App().run()
