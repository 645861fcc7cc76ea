"""Shared pieces of the command line: the group, the server-side options, error reporting."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from sciregistry.config import Config, ConfigError, load_config
from sciregistry.errors import RegistryError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sciregistry")
def main() -> None:
    """sciregistry: an OCI registry for reproducible science."""


def server_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--data-dir`` and ``--config``, identical on every command that works on a registry's data."""
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                     envvar="SCIREGISTRY_CONFIG", help="TOML configuration file.")(f)
    f = click.option("--data-dir", default=None, help="Data directory (default ./var or SCIREGISTRY_DATA_DIR).")(f)
    return f


def load(config_path: str | None, data_dir: str | None, **overrides: Any) -> Config:
    try:
        return load_config(config_path, {"data_dir": data_dir, **overrides})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def friendly_errors(f: Callable[..., Any]) -> Callable[..., Any]:
    """Turn RegistryError and connection errors into one-line messages and exit code 1."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except RegistryError as exc:
            click.echo(f"error: {exc.code}: {exc.text}" + (f" ({exc.detail})" if exc.detail else ""), err=True)
            sys.exit(1)
        except OSError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper
