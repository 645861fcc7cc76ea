"""Server-side administration: users, namespaces and roles, visibility, robots, API tokens, audit, gc.

Every command opens the registry's database directly, with ``--data-dir`` and ``--config``
exactly as ``serve`` takes them, and records what it changed in the audit log (principal
``cli:<os user>``). A running server sees changes within a few seconds (its caches expire).

    sciregistry user add alice --password-stdin < pw.txt
    sciregistry user add bob --admin                  # prints a generated password once
    sciregistry user list | disable NAME | enable NAME | passwd NAME --password-stdin
    sciregistry namespace create lab-x --owner alice [--public]
    sciregistry namespace grant lab-x bob writer      # owner | maintainer | writer | reader
    sciregistry namespace revoke lab-x bob
    sciregistry namespace list | set-visibility lab-x public|private
    sciregistry repo set-visibility lab-x/fastqc public|private|inherit
    sciregistry robot create lab-x ci [--role writer] # the robot is named lab-x+ci
    sciregistry token create --robot lab-x+ci --scope 'repository:lab-x/*:pull,push' --expires 30d
    sciregistry token create --user alice --expires 12h
    sciregistry token create --reviewer 10.5072/abcd-1234 --expires 14d
    sciregistry token list [--user alice] [--all] | revoke TOKEN_ID
    sciregistry audit [--limit 50] [--action auth.failure] [--json]
    sciregistry gc --dry-run --data-dir ./var         # the online garbage collector, run once

Secrets (generated passwords, token secrets) are printed once, on stdout, and stored only as hashes.
"""

from __future__ import annotations

import getpass
import json
import secrets as pysecrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from sciregistry.cli.common import (
    admin_config,
    announce_database,
    echo,
    echo_json,
    emit,
    friendly_errors,
    main,
)
from sciregistry.cli.options import json_option, server_options


@contextmanager
def open_accounts(config_path: str | None, data_dir: str | None) -> Iterator[Any]:
    """The registry's account service, on the database ``serve`` uses with this configuration."""
    from sciregistry.app import build_services

    cfg = admin_config(config_path, data_dir)
    services = build_services(cfg)
    try:
        yield services.accounts
    finally:
        services.engine.dispose()
        announce_database(cfg)


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def record_audit(accounts: Any, action: str, target: str, **detail: Any) -> None:
    """An audit log entry for a change made here (principal ``cli:<os user>``, address ``local``)."""
    accounts.record_audit(principal=_who(), address="local", action=action, target=target, detail=detail)


def _read_password(password_stdin: bool, *, generate: bool) -> tuple[str, bool]:
    """(password, generated): from stdin, else generated (when allowed), else prompted."""
    if password_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise click.ClickException("no password on standard input")
        return value, False
    if generate:
        return pysecrets.token_urlsafe(18), True
    return click.prompt("New password", hide_input=True, confirmation_prompt=True), False


# --- users -------------------------------------------------------------------------------------


@main.group("user")
def user_group() -> None:
    """Manage users (each owns the namespace of their name)."""


@user_group.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Give the user administrator rights.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (else one is generated)."
)
@server_options
@friendly_errors
def user_add(
    name: str, admin: bool, password_stdin: bool, data_dir: str | None, config_path: str | None
) -> None:
    """Create user NAME and their personal namespace NAME."""
    password, generated = _read_password(password_stdin, generate=True)
    with open_accounts(config_path, data_dir) as accounts:
        info = accounts.create_user(name, password, admin=admin)
        record_audit(accounts, "user.create", name, admin=admin)
    echo(f"created user {info.name}{' (admin)' if admin else ''} with namespace {info.name}")
    if generated:
        echo(f"password: {password}")
        echo("(shown once; change it with 'sciregistry user passwd')", err=True)


@user_group.command("list")
@json_option()
@server_options
@friendly_errors
def user_list(as_json: bool, data_dir: str | None, config_path: str | None) -> None:
    """List users, their admin flag and their namespace roles."""
    with open_accounts(config_path, data_dir) as accounts:
        users = accounts.list_users()

    def text() -> None:
        for u in users:
            roles = ", ".join(f"{ns}:{r}" for ns, r in sorted(u.namespaces.items()))
            flags = "".join([" admin" if u.is_admin else "", " disabled" if u.disabled else ""])
            echo(f"{u.name:<24}{flags:<16} {roles}")

    emit(as_json, [u.to_dict() for u in users], text)


def _set_disabled(name: str, disabled: bool, data_dir: str | None, config_path: str | None) -> None:
    with open_accounts(config_path, data_dir) as accounts:
        accounts.set_disabled(name, disabled)
        record_audit(accounts, "user.disable" if disabled else "user.enable", name)
    echo(f"{'disabled' if disabled else 'enabled'} user {name}")


@user_group.command("disable")
@click.argument("name")
@server_options
@friendly_errors
def user_disable(name: str, data_dir: str | None, config_path: str | None) -> None:
    """Disable NAME: their password and tokens stop working."""
    _set_disabled(name, True, data_dir, config_path)


@user_group.command("enable")
@click.argument("name")
@server_options
@friendly_errors
def user_enable(name: str, data_dir: str | None, config_path: str | None) -> None:
    """Enable a disabled user again."""
    _set_disabled(name, False, data_dir, config_path)


@user_group.command("passwd")
@click.argument("name")
@click.option(
    "--password-stdin", is_flag=True, help="Read the new password from standard input (else prompt)."
)
@server_options
@friendly_errors
def user_passwd(name: str, password_stdin: bool, data_dir: str | None, config_path: str | None) -> None:
    """Set the password of NAME."""
    password, _ = _read_password(password_stdin, generate=False)
    with open_accounts(config_path, data_dir) as accounts:
        accounts.set_password(name, password)
        record_audit(accounts, "user.passwd", name)
    echo(f"password of {name} changed")


# --- namespaces and repositories -----------------------------------------------------------------


@main.group("namespace")
def namespace_group() -> None:
    """Manage namespaces (the first component of repository names) and roles in them."""


@namespace_group.command("create")
@click.argument("name")
@click.option("--owner", default=None, help="User who owns the namespace.")
@click.option("--public", is_flag=True, help="Repositories are public (anonymous pull) unless set otherwise.")
@server_options
@friendly_errors
def namespace_create(
    name: str, owner: str | None, public: bool, data_dir: str | None, config_path: str | None
) -> None:
    """Create a shared namespace NAME."""
    with open_accounts(config_path, data_dir) as accounts:
        ns = accounts.create_namespace(name, owner, public=public)
        record_audit(accounts, "namespace.create", name, owner=owner, public=public)
    echo(
        f"created {'public' if ns.public else 'private'} namespace {ns.name}"
        + (f" owned by {owner}" if owner else "")
    )


@namespace_group.command("grant")
@click.argument("namespace")
@click.argument("user")
@click.argument("role", type=click.Choice(["owner", "maintainer", "writer", "reader"]))
@server_options
@friendly_errors
def namespace_grant(
    namespace: str, user: str, role: str, data_dir: str | None, config_path: str | None
) -> None:
    """Give USER the ROLE in NAMESPACE (replacing any role they had)."""
    with open_accounts(config_path, data_dir) as accounts:
        accounts.grant(namespace, user, role)
        record_audit(accounts, "namespace.grant", namespace, user=user, role=role)
    echo(f"{user} is {role} of {namespace}")


@namespace_group.command("revoke")
@click.argument("namespace")
@click.argument("user")
@server_options
@friendly_errors
def namespace_revoke(namespace: str, user: str, data_dir: str | None, config_path: str | None) -> None:
    """Remove USER's role in NAMESPACE."""
    with open_accounts(config_path, data_dir) as accounts:
        accounts.revoke(namespace, user)
        record_audit(accounts, "namespace.revoke", namespace, user=user)
    echo(f"{user} has no role in {namespace} any more")


@namespace_group.command("list")
@json_option()
@server_options
@friendly_errors
def namespace_list(as_json: bool, data_dir: str | None, config_path: str | None) -> None:
    """List namespaces, their visibility, members and robots."""
    with open_accounts(config_path, data_dir) as accounts:
        items = accounts.list_namespaces()

    def text() -> None:
        for ns in items:
            members = ", ".join(f"{u}:{r}" for u, r in ns.members.items())
            robots = ", ".join(f"{u}:{r}" for u, r in ns.robots.items())
            echo(
                f"{ns.name:<24} {'public' if ns.public else 'private':<8} {members}"
                + (f" | robots {robots}" if robots else "")
            )

    emit(as_json, [ns.to_dict() for ns in items], text)


@namespace_group.command("set-visibility")
@click.argument("namespace")
@click.argument("visibility", type=click.Choice(["public", "private"]))
@server_options
@friendly_errors
def namespace_set_visibility(
    namespace: str, visibility: str, data_dir: str | None, config_path: str | None
) -> None:
    """Make the repositories of NAMESPACE public or private by default."""
    with open_accounts(config_path, data_dir) as accounts:
        accounts.set_namespace_visibility(namespace, visibility == "public")
        record_audit(accounts, "namespace.visibility", namespace, visibility=visibility)
    echo(f"namespace {namespace} is {visibility}")


@main.group("repo")
def repo_group() -> None:
    """Repository settings."""


@repo_group.command("set-visibility")
@click.argument("repository")
@click.argument("visibility", type=click.Choice(["public", "private", "inherit"]))
@server_options
@friendly_errors
def repo_set_visibility(
    repository: str, visibility: str, data_dir: str | None, config_path: str | None
) -> None:
    """Make REPOSITORY public, private, or inherit its namespace's visibility."""
    value = {"public": True, "private": False, "inherit": None}[visibility]
    with open_accounts(config_path, data_dir) as accounts:
        effective = accounts.set_repository_visibility(repository, value)
        record_audit(accounts, "repository.visibility", repository, visibility=visibility)
    echo(
        f"repository {repository} is {'public' if effective else 'private'}"
        + (" (inherited)" if value is None else "")
    )


# --- robots ------------------------------------------------------------------------------------


@main.group("robot")
def robot_group() -> None:
    """Robot accounts: non-human principals of a namespace, for CI (they sign in with tokens)."""


@robot_group.command("create")
@click.argument("namespace")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["owner", "maintainer", "writer", "reader"]),
    default="writer",
    show_default=True,
    help="The robot's role in its namespace.",
)
@server_options
@friendly_errors
def robot_create(namespace: str, name: str, role: str, data_dir: str | None, config_path: str | None) -> None:
    """Create robot NAMESPACE+NAME; then give it a token with 'token create --robot'."""
    with open_accounts(config_path, data_dir) as accounts:
        robot = accounts.create_robot(namespace, name, role)
        record_audit(accounts, "robot.create", robot.name, role=role)
    echo(f"created robot {robot.name} ({robot.role} of {robot.namespace})")


@robot_group.command("list")
@click.option("--namespace", default=None)
@json_option()
@server_options
@friendly_errors
def robot_list(namespace: str | None, as_json: bool, data_dir: str | None, config_path: str | None) -> None:
    """List robots."""
    with open_accounts(config_path, data_dir) as accounts:
        robots = accounts.list_robots(namespace)

    def text() -> None:
        for r in robots:
            echo(f"{r.name:<32} {r.role}{' disabled' if r.disabled else ''}")

    emit(as_json, [r.to_dict() for r in robots], text)


# --- tokens ------------------------------------------------------------------------------------


@main.group("token")
def token_group() -> None:
    """API tokens: for CI, robots and reviewers (shown once, stored as a hash)."""


def token_summary(
    owner: str | None, doi: str | None, scopes: list[str] | None, expires_at: str | None
) -> str:
    """``for alice (all of alice's rights); expires 2026-...`` (what ``token create`` says)."""
    if doi:
        who, rights = f"the reviewer of {doi}", "read-only, limited to what that DOI pins"
    else:
        who = owner or "?"
        rights = f"limited to {' '.join(scopes)}" if scopes else f"all of {who}'s rights"
    return f"for {who} ({rights}); " + (f"expires {expires_at}" if expires_at else "never expires")


@token_group.command("create")
@click.option("--user", default=None, help="The token acts as this user.")
@click.option("--robot", default=None, help="The token acts as this robot (namespace+name).")
@click.option(
    "--reviewer",
    "reviewer_doi",
    default=None,
    metavar="DOI",
    help="A read-only reviewer token for the closure of DOI.",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="PATTERN",
    help="Limit the token, e.g. 'repository:lab-x/*:pull,push' (repeatable; default: no limit).",
)
@click.option(
    "--expires",
    default=None,
    metavar="DURATION",
    help="Lifetime: 30d, 12h, 45m, 2w... (default: none; reviewer tokens: 14d).",
)
@click.option("--description", default="", help="What the token is for.")
@json_option()
@server_options
@friendly_errors
def token_create(
    user: str | None,
    robot: str | None,
    reviewer_doi: str | None,
    scopes: tuple[str, ...],
    expires: str | None,
    description: str,
    as_json: bool,
    data_dir: str | None,
    config_path: str | None,
) -> None:
    """Create an API token and print its secret (once)."""
    from sciregistry.auth import parse_duration

    if sum(x is not None for x in (user, robot, reviewer_doi)) != 1:
        raise click.UsageError("give exactly one of --user, --robot, --reviewer")
    if expires is None and reviewer_doi is not None:
        expires = "14d"
    try:
        seconds = parse_duration(expires) if expires is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from None
    with open_accounts(config_path, data_dir) as accounts:
        created = accounts.create_token(
            user=user,
            robot=robot,
            reviewer_doi=reviewer_doi,
            scopes=list(scopes) if scopes else None,
            expires_in=seconds,
            description=description,
            created_by=_who(),
        )
        info = created.info
        record_audit(
            accounts,
            "token.create",
            info.id,
            kind=info.kind,
            owner=info.owner,
            doi=info.doi,
            scopes=info.scopes,
            expires_at=info.expires_at,
        )

    def text() -> None:
        echo(f"token {info.id} {token_summary(info.owner, info.doi, info.scopes, info.expires_at)}", err=True)
        echo("the secret is shown once:", err=True)
        echo(created.secret)

    emit(as_json, {**info.to_dict(), "secret": created.secret}, text)


@token_group.command("list")
@click.option("--user", default=None)
@click.option("--robot", default=None)
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
@json_option()
@server_options
@friendly_errors
def token_list(
    user: str | None,
    robot: str | None,
    include_revoked: bool,
    as_json: bool,
    data_dir: str | None,
    config_path: str | None,
) -> None:
    """List tokens (ids, owners, scopes, expiry; never secrets)."""
    with open_accounts(config_path, data_dir) as accounts:
        tokens = accounts.list_tokens(user=user, robot=robot, include_revoked=include_revoked)

    def text() -> None:
        for t in tokens:
            who = t.owner or f"reviewer:{t.doi}"
            state = "revoked" if t.revoked_at else f"expires {t.expires_at}" if t.expires_at else "no expiry"
            echo(f"{t.id}  {t.kind:<8} {who:<28} {state:<40} {' '.join(t.scopes or ['*'])}")

    emit(as_json, [t.to_dict() for t in tokens], text)


@token_group.command("revoke")
@click.argument("token_id")
@server_options
@friendly_errors
def token_revoke(token_id: str, data_dir: str | None, config_path: str | None) -> None:
    """Revoke a token by id (the part after sr_, before the second _)."""
    with open_accounts(config_path, data_dir) as accounts:
        accounts.revoke_token(token_id)
        record_audit(accounts, "token.revoke", token_id)
    echo(f"revoked token {token_id}")


# --- audit -------------------------------------------------------------------------------------


@main.command("audit")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--action", default=None, help="Only this action (e.g. auth.failure, manifest.push).")
@json_option()
@server_options
@friendly_errors
def audit(
    limit: int, action: str | None, as_json: bool, data_dir: str | None, config_path: str | None
) -> None:
    """Show the newest audit log entries: writes, authentication failures, denied accesses."""
    with open_accounts(config_path, data_dir) as accounts:
        records = accounts.audit_log(limit, action=action)

    def text() -> None:
        for r in records:
            detail = json.dumps(r.detail, sort_keys=True) if r.detail else ""
            echo(
                f"{r.at}  {r.address:<15} {r.principal:<28} {r.action:<18} {r.outcome:<8} "
                f"{r.target}  {detail}"
            )

    emit(as_json, [r.to_dict() for r in records], text)


# --- gc --------------------------------------------------------------------------------------------


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


@main.command("gc")
@click.option("--dry-run", is_flag=True, help="Report what would be deleted; delete nothing.")
@click.option(
    "--delete-untagged", is_flag=True, help="Also delete manifests no tag, DOI, index or subject keeps alive."
)
@click.option(
    "--grace",
    type=click.IntRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Keep unreferenced blobs and untagged manifests pushed less than this ago "
    "(default: gc_grace_seconds; keep it at least the servers' value).",
)
@click.option(
    "--upload-max-age",
    type=click.IntRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Remove uploads idle longer than this (default: upload_max_age).",
)
@json_option("Print the report as JSON.")
@server_options
@friendly_errors
def gc(
    dry_run: bool,
    delete_untagged: bool,
    grace: int | None,
    upload_max_age: int | None,
    as_json: bool,
    data_dir: str | None,
    config_path: str | None,
) -> None:
    """Garbage-collect unreferenced manifests and blobs (everything a DOI pins is kept)."""
    from sciregistry.app import build_services
    from sciregistry.registry.gc import collect_exclusive

    cfg = admin_config(config_path, data_dir)
    services = build_services(cfg)
    try:
        report = collect_exclusive(
            services.registry,
            grace=cfg.gc_grace_seconds if grace is None else grace,
            upload_max_age=cfg.upload_max_age if upload_max_age is None else upload_max_age,
            dry_run=dry_run,
            delete_untagged=delete_untagged,
            dois=services.dois,
        )
    finally:
        services.engine.dispose()
        announce_database(cfg)
    if report is None:
        raise click.ClickException(
            "another gc pass is running (the online gc of `serve`, or another "
            "`sciregistry gc`); try again when it has finished"
        )
    if as_json:
        echo_json(report.to_dict(), sort_keys=False, ensure_ascii=False)
        return
    verb = "would delete" if dry_run else "deleted"
    echo(
        f"gc{' (dry run)' if dry_run else ''}: {verb} {len(report.manifests_deleted)} manifests, "
        f"{len(report.blobs_deleted)} blobs, {report.links_deleted} repository links, "
        f"{len(report.orphan_files_deleted)} orphan files, {len(report.uploads_deleted)} uploads; "
        f"{_size(report.bytes_freed)} {'to free' if dry_run else 'freed'}; "
        f"{report.pinned_kept} DOI-pinned objects kept"
    )
    if report.dois_completed:
        echo(
            f"{'would complete' if dry_run else 'completed'} {len(report.dois_completed)} DOI mint(s) "
            f"a crash had interrupted: {', '.join(report.dois_completed)}"
        )
    for d in report.manifests_deleted:
        echo(f"  manifest {d}")
    for d in report.blobs_deleted:
        echo(f"  blob     {d}")
    sys.stdout.flush()
