"""``sciregistry serve``: gunicorn with gthread workers (streams chunked bodies, sendfile for blobs)."""

from __future__ import annotations

import logging
import os
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
    from sciregistry.app import build_services

    services = build_services(cfg, migrate=True)  # migrate once, in the master, before forking
    first_start = services.extra.get("on_first_start")
    if first_start:
        first_start()
    services.engine.dispose()
    run_gunicorn(cfg)


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
