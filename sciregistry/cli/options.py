"""The options several commands share, each defined once: same flag, same parameter name, same
environment variable everywhere.

============================  ====================  ==========================================
option                        parameter             on
============================  ====================  ==========================================
``--data-dir``, ``--config``  data_dir, config_path  every command that opens a registry's data
``--registry``                registry              commands that talk to a registry (URL or
                                                    host; ``SCIREGISTRY_REGISTRY``)
``--token``                   token                 every command that talks to a registry
``--username``/``--password``  username, password   DOI commands, cite, reproduce
``--json``                    as_json               commands with machine-readable output
``--insecure``                insecure              commands that talk to a registry
``--quiet``/``-q``            quiet                 commands that transfer files
============================  ====================  ==========================================

:func:`client_command` gives a client command ``--json``, ``--insecure`` and ``--quiet`` and its
error reporting at once. The help text of ``--registry``, ``--json``, ``--insecure`` and
``--quiet`` says what the option means for the command at hand (a URL or a bare host, a report or a
listing), so each factory takes ``help``.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from sciregistry.cli.common import QUIET_KEY, echo, friendly_errors
from sciregistry.errors import RegistryError

__all__ = [
    "INSECURE_HELP",
    "JSON_HELP",
    "REGISTRY_ENV",
    "REGISTRY_URL_HELP",
    "TOKEN_HELP",
    "client_command",
    "credential_options",
    "insecure_option",
    "json_option",
    "quiet_option",
    "registry_option",
    "server_options",
    "token_option",
]

F = Callable[..., Any]

#: What ``--token`` says on every command that talks to a registry.
TOKEN_HELP = "API or reviewer token (else $SCIREGISTRY_TOKEN, else the credentials of 'sciregistry login')."
#: The environment variable every ``--registry`` falls back to.
REGISTRY_ENV = "SCIREGISTRY_REGISTRY"
#: ``--registry`` of the commands that need the URL of one registry (DOI commands, demo).
REGISTRY_URL_HELP = "Registry URL, e.g. http://127.0.0.1:5000 (or SCIREGISTRY_REGISTRY)."
JSON_HELP = "Print machine-readable JSON."
INSECURE_HELP = "Allow plain HTTP to a non-loopback registry and skip TLS verification."


def server_options(f: F) -> F:
    """``--data-dir`` and ``--config``, identical on every command that works on a registry's data."""
    f = click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        envvar="SCIREGISTRY_CONFIG",
        help="TOML configuration file.",
    )(f)
    f = click.option(
        "--data-dir", default=None, help="Data directory (default ./var or SCIREGISTRY_DATA_DIR)."
    )(f)
    return f


def token_option(f: F) -> F:
    """``--token``, identical on every command that talks to a registry (parameter ``token``).

    Without it the client's own look-up applies (:func:`sciregistry.client.credentials.resolve_credentials`):
    ``SCIREGISTRY_TOKEN``, else ``SCIREGISTRY_USERNAME`` + ``SCIREGISTRY_PASSWORD``, else the file
    of ``sciregistry login``; so explicit ``--username``/``--password`` still beat the environment.
    """
    return click.option("--token", default=None, metavar="TOKEN", help=TOKEN_HELP)(f)


def registry_option(help: str = REGISTRY_URL_HELP, *, required: bool = False) -> Callable[[F], F]:
    """``--registry`` (parameter ``registry``, else ``$SCIREGISTRY_REGISTRY``)."""
    return click.option(
        "--registry", "registry", envvar=REGISTRY_ENV, default=None, required=required, help=help
    )


def credential_options(f: F) -> F:
    """``--username``/``-u`` and ``--password`` (else the environment, else ``sciregistry login``)."""
    f = click.option("--password", default=None, help="Password (else SCIREGISTRY_PASSWORD).")(f)
    f = click.option("--username", "-u", default=None, help="User name (else SCIREGISTRY_USERNAME).")(f)
    return f


def json_option(help: str = JSON_HELP) -> Callable[[F], F]:
    """``--json`` (parameter ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, default=False, help=help)


def insecure_option(help: str = INSECURE_HELP) -> Callable[[F], F]:
    """``--insecure``: plain HTTP to any host, no TLS verification."""
    return click.option("--insecure", is_flag=True, default=False, help=help)


def quiet_option(help: str) -> Callable[[F], F]:
    """``--quiet``/``-q``: no progress bars."""
    return click.option("--quiet", "-q", is_flag=True, default=False, help=help)


def client_command(f: F) -> F:
    """``--json``, ``--insecure`` and ``--quiet``, plus one-line errors (JSON errors with ``--json``)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ctx.meta[QUIET_KEY] = bool(kwargs.pop("quiet", False))
        try:
            return f(*args, **kwargs)
        except RegistryError as exc:
            if as_json:
                echo(json.dumps({"errors": [exc.to_dict()]}, default=str))
            raise
        except (ValueError, NotImplementedError) as exc:
            if as_json:
                echo(json.dumps({"errors": [{"code": "CLIENT_ERROR", "message": str(exc)}]}))
            echo(f"error: {exc}", err=True)
            sys.exit(1)

    wrapped = friendly_errors(wrapper)
    wrapped = quiet_option("No progress bars (shown on a terminal for transfers over a few MiB).")(wrapped)
    wrapped = insecure_option("Allow plain HTTP to a non-loopback host and skip TLS verification.")(wrapped)
    wrapped = json_option()(wrapped)
    return wrapped
