"""Shared pieces of the command line: the group, configuration, output, error reporting and the
client's connection to a registry. The shared options are in :mod:`sciregistry.cli.options`.

The commands, by audience:

- :mod:`~sciregistry.cli.server`     the operator: ``serve``, ``config-reference`` (and the gunicorn
  worker, :mod:`~sciregistry.cli.worker`)
- :mod:`~sciregistry.cli.admin`      the administrator: users, namespaces, repositories, robots,
  tokens, ``audit``, ``gc``
- :mod:`~sciregistry.cli.artifacts`  the researcher and CI: ``login``/``logout``, ``dataset``,
  ``pull``, ``push-layout``, ``run``, ``lineage``, ``impact``
- :mod:`~sciregistry.cli.doi`        DOIs: ``doi mint|show|withdraw``, ``cite``
- :mod:`~sciregistry.cli.reproduce`  the reviewer: ``reproduce``
- :mod:`~sciregistry.cli.vuln`       vulnerabilities and advisories: ``vulndb``, ``scan``,
  ``advisory`` (administrator), ``vuln`` (client)
- :mod:`~sciregistry.cli.demo`       the newcomer: ``demo``

Output goes through :func:`echo` (not ``click.echo``): when the reader of standard output goes
away (``sciregistry doi mint ... | head -n 1``), the rest of the output is discarded quietly and
the command finishes with the exit status it would have had, instead of failing with
``error: [Errno 32] Broken pipe``.
"""

from __future__ import annotations

import functools
import json
import os
import select
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from sciregistry.config import Config, ConfigError, load_config
from sciregistry.errors import BadRequest, NotFound, RegistryError

if TYPE_CHECKING:  # the client is imported inside the commands, so `sciregistry --help` stays fast
    from sciregistry.client import Registry
    from sciregistry.client.transport import Transport


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sciregistry")
def main() -> None:
    """sciregistry: an OCI registry for reproducible science."""


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


def echo_json(doc: Any, *, sort_keys: bool = True, ensure_ascii: bool = True) -> None:
    """``doc`` as indented JSON on standard output (values JSON does not know, as strings)."""
    echo(json.dumps(doc, indent=2, sort_keys=sort_keys, ensure_ascii=ensure_ascii, default=str))


def emit(as_json: bool, doc: Any, text: str | Callable[[], str | None]) -> None:
    """The one output of a command: ``doc`` as JSON with ``--json``, else ``text`` (a string, or a
    function returning one, or printing by itself and returning None)."""
    if as_json:
        echo_json(doc)
        return
    out = text() if callable(text) else text
    if out is not None:
        echo(out)


#: ``click.Context.meta`` key: ``--quiet`` was given (no progress bars).
QUIET_KEY = "sciregistry.quiet"


def is_quiet() -> bool:
    """``--quiet`` was given to the running client command (:func:`.options.client_command`)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(QUIET_KEY))


# --- the client's connection to a registry -----------------------------------------------------------


def host_of(ref: str) -> str:
    """The registry host of the full reference ``ref`` (``host:port/repo:tag``); ValueError with the
    advice to write it in full when it names none."""
    from sciregistry.oci import parse_reference

    try:
        return parse_reference(ref, require_registry=True).registry
    except ValueError as exc:
        if "no registry host" in str(exc):
            raise ValueError(
                f"{ref!r} names no registry: write it as HOST:PORT/{ref} "
                "(the form the registry prints), or add --registry URL"
            ) from None
        raise


def target(ref: str, registry: str | None) -> tuple[str, str]:
    """``(host, full reference)`` for a reference given in full (``host:port/repo:tag``) or
    relative to ``--registry`` (``repo:tag``, ``repo@sha256:...``, as ``doi show`` and the landing
    page print them). A full reference on another host than ``--registry`` is refused."""
    from sciregistry.client.transport import normalize_url
    from sciregistry.oci import parse_reference

    given = None
    if registry:
        given = normalize_url(registry, insecure=True).split("://", 1)[1].split("/", 1)[0]
    parsed = parse_reference(ref, require_registry=False)
    if parsed.registry:
        if given and parsed.registry != given:
            raise ValueError(f"{ref} is on {parsed.registry}, but --registry names {given}")
        return parsed.registry, ref
    if given is None:
        return host_of(ref), ref  # raises, with the advice
    return given, f"{given}/{ref}"


def open_registry(host: str, insecure: bool, token: str | None = None) -> Registry:
    """The registry at ``host``; credentials: ``token`` (``--token``), else the environment, else
    the file of ``sciregistry login``."""
    from sciregistry.client import Registry

    return Registry(host, token=token, insecure=insecure, progress=False if is_quiet() else None)


def open_transport(
    registry: str, *, username: str | None, password: str | None, token: str | None, insecure: bool
) -> Transport:
    """A :class:`~sciregistry.client.transport.Transport` to the registry at the URL ``registry``,
    with the credentials given, else those of the environment or ``sciregistry login``."""
    from sciregistry.client.credentials import resolve_credentials
    from sciregistry.client.transport import Transport, normalize_url

    try:
        base = normalize_url(registry, insecure)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    host = base.split("://", 1)[1].split("/", 1)[0]
    creds = resolve_credentials(host, username=username, password=password, token=token)
    return Transport(
        base, token=creds.token, username=creds.username, password=creds.password, insecure=insecure
    )


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
