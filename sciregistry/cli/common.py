"""Shared pieces of the command line: the group, the shared options, output and error reporting.

Output goes through :func:`echo` (not ``click.echo``): when the reader of standard output goes
away (``sciregistry doi mint ... | head -n 1``), the rest of the output is discarded quietly and
the command finishes with the exit status it would have had, instead of failing with
``error: [Errno 32] Broken pipe``.
"""

from __future__ import annotations

import functools
import os
import select
import sys
from collections.abc import Callable
from typing import IO, Any, NoReturn

import click

from sciregistry.config import Config, ConfigError, load_config
from sciregistry.errors import BadRequest, NotFound, RegistryError

#: What ``--token`` says on every command that talks to a registry.
TOKEN_HELP = "API or reviewer token (else $SCIREGISTRY_TOKEN, else the credentials of 'sciregistry login')."


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sciregistry")
def main() -> None:
    """sciregistry: an OCI registry for reproducible science."""


def server_options(f: Callable[..., Any]) -> Callable[..., Any]:
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


def token_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--token``, identical on every command that talks to a registry (parameter ``token``).

    Without it the client's own look-up applies (:func:`sciregistry.client.credentials.resolve_credentials`):
    ``SCIREGISTRY_TOKEN``, else ``SCIREGISTRY_USERNAME`` + ``SCIREGISTRY_PASSWORD``, else the file
    of ``sciregistry login``; so explicit ``--username``/``--password`` still beat the environment.
    """
    return click.option("--token", default=None, metavar="TOKEN", help=TOKEN_HELP)(f)


def load(config_path: str | None, data_dir: str | None, **overrides: Any) -> Config:
    try:
        return load_config(config_path, {"data_dir": data_dir, **overrides})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


# --- the data directory remembers its database ---------------------------------------------------

#: File in the data directory naming the database ``serve`` last used there (password removed).
DATABASE_RECORD = "database-url"


def redact_url(url: str) -> str:
    """``url`` without its password (``postgresql+psycopg://user:secret@h/db`` -> ``...//user@h/db``)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}@{hostport}"
    return f"{scheme}://{netloc}{slash}{path}"


def _record_path(cfg: Config) -> str:
    return os.path.join(os.path.abspath(cfg.data_dir), DATABASE_RECORD)


def recorded_database(cfg: Config) -> str | None:
    """The database ``serve`` last used with ``cfg``'s data directory, or None (never started)."""
    try:
        with open(_record_path(cfg), encoding="utf-8") as f:
            return f.readline().strip() or None
    except OSError:
        return None


def record_database(cfg: Config) -> None:
    """Write the data directory's database record (``serve``, at each start)."""
    os.makedirs(os.path.abspath(cfg.data_dir), exist_ok=True)
    url = redact_url(cfg.resolved_database_url)
    if recorded_database(cfg) == url:
        return
    tmp = _record_path(cfg) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(url + "\n")
        f.write(
            "# the database 'sciregistry serve' uses with this data directory (password removed);\n"
            "# administrator commands given this data directory refuse to use another one\n"
        )
    os.replace(tmp, _record_path(cfg))


def check_database(cfg: Config) -> None:
    """Before an administrator command opens the database: refuse when the data directory belongs
    to a server with another database (it would create or change a database nobody serves)."""
    url = redact_url(cfg.resolved_database_url)
    recorded = recorded_database(cfg)
    if recorded is not None and recorded != url:
        raise click.ClickException(
            f"the registry using {os.path.abspath(cfg.data_dir)} keeps its data in {recorded}, but this "
            f"command would use {url}. Give it the configuration 'sciregistry serve' was started with: the "
            "same --config file, or the same SCIREGISTRY_DATABASE_URL (and other SCIREGISTRY_* variables)"
        )


def announce_database(cfg: Config) -> None:
    """Say on standard error which database an administrator command used, as its last line (not
    with ``--json``)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.params.get("as_json") or ctx.meta.get("sciregistry.database-announced"):
        return
    ctx.meta["sciregistry.database-announced"] = True
    line = f"database: {redact_url(cfg.resolved_database_url)} (data dir {os.path.abspath(cfg.data_dir)})"
    ctx.call_on_close(lambda: echo(line, err=True))


def admin_config(config_path: str | None, data_dir: str | None, **overrides: Any) -> Config:
    """:func:`load` for administrator commands: the configuration ``serve`` uses, checked against
    the data directory's record (:func:`check_database`)."""
    cfg = load(config_path, data_dir, **overrides)
    check_database(cfg)
    return cfg


# --- output ----------------------------------------------------------------------------------------


def _silence(stream: IO[Any], fd: int) -> None:
    """Point ``fd`` (1 or 2) at /dev/null, so nothing more is written to the closed pipe (not even
    the interpreter's flush at exit); streams without a real descriptor (tests) are left alone."""
    try:
        if stream.fileno() != fd:
            return
    except (OSError, ValueError, AttributeError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def silence_stdout() -> None:
    """The reader of standard output is gone: discard whatever is still written there."""
    _silence(sys.stdout, 1)


def echo(message: Any = None, *, err: bool = False, nl: bool = True) -> None:
    """``click.echo`` that survives a closed pipe: on BrokenPipeError the stream is sent to
    /dev/null and the command goes on (and exits with its normal status), without a message."""
    try:
        click.echo(message, err=err, nl=nl)
    except BrokenPipeError:
        if err:
            _silence(sys.stderr, 2)
        else:
            silence_stdout()


# --- errors ------------------------------------------------------------------------------------------

#: The next step after the server's "DOI ... is not registered here".
DOI_NOT_HERE_HINT = "check --registry: it must be the URL of the registry that minted the DOI"

#: The next step when a DOI cannot be found through https://doi.org/ (no ``--registry`` given).
NO_REGISTRY_HINT = "pass --registry URL of the registry that minted it"


def locate_registry(doi: str) -> str:
    """The base URL of the registry that minted ``doi``, found through https://doi.org/ (for a
    command given no ``--registry``). A test DOI (``10.5072/...``) is never looked up; failures
    are NotFound or TransportError with a one-line message that ends with the next step."""
    from sciregistry.client.reproduce import locate_registry as _locate
    from sciregistry.client.transport import TransportError

    try:
        return _locate(doi)
    except NotFound as exc:
        raise NotFound(f"{exc.text}; {NO_REGISTRY_HINT}") from None
    except TransportError as exc:
        raise TransportError(f"{exc}; {NO_REGISTRY_HINT}") from None


def doi_argument(value: str, registry: str | None) -> tuple[str, str | None]:
    """A DOI argument in any form the registry prints (bare, ``doi:``, ``https://doi.org/...``, or
    the landing page URL ``http://host/doi/10...``) -> ``(DOI, registry)``: ``--registry`` when
    given, else the landing page's registry. A malformed DOI is a usage error."""
    from sciregistry.client.reproduce import split_doi_argument

    try:
        doi, base = split_doi_argument(value)
    except BadRequest as exc:
        raise click.BadParameter(
            f"{exc.text}; give the DOI (10.xxxx/...), its https://doi.org/ URL or its landing page URL",
            param_hint="DOI",
        ) from exc
    return doi, registry or base


def error_text(exc: RegistryError) -> str:
    """``CODE: message (detail)`` for one error line, with a next step where one is known."""
    text = exc.text
    if isinstance(exc, NotFound) and "is not registered here" in text:
        text += f" ({DOI_NOT_HERE_HINT})"
    return f"{exc.code}: {text}" + (f" ({exc.detail})" if exc.detail else "")


def stdout_closed() -> bool:
    """True when nobody reads standard output any more (a pipe whose reader exited); True also
    when that cannot be told (no real descriptor, no poll)."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
    except (OSError, ValueError, AttributeError):
        return True
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def broken_pipe_exit() -> NoReturn:
    """Standard output broke outside :func:`echo` (the command's work is done by the time it
    prints): silence it and exit 0, with no message."""
    silence_stdout()
    sys.exit(0)


def friendly_errors(f: Callable[..., Any]) -> Callable[..., Any]:
    """Turn RegistryError and connection errors into one-line messages and exit code 1; a closed
    standard output (``| head``) ends the command quietly."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except BrokenPipeError as exc:
            if stdout_closed():
                broken_pipe_exit()
            echo(f"error: {exc}", err=True)  # a broken connection, not our reader
            sys.exit(1)
        except RegistryError as exc:
            echo(f"error: {error_text(exc)}", err=True)
            sys.exit(1)
        except OSError as exc:
            echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper
