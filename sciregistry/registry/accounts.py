"""Accounts use cases: users, namespaces and roles, robots, API tokens, visibility, the audit log,
and the look-ups authentication needs (DESIGN.md section 5).

Everything returns dataclasses (never ORM rows); each method owns its transaction. The HTTP access
gate (``sciregistry.api.auth_gate``) and the admin CLI (``sciregistry.cli.admin``) are the callers.
Secrets never leave this module except once, in :class:`CreatedToken` and the password the caller
chose: passwords are stored as Argon2id hashes, API tokens as the SHA-256 of the token string.

``generation`` increases on every change made through this object, so in-process caches (the
gate's) can drop what they hold at once; other processes (the CLI changing a running server's
database) are seen when those caches expire (a few seconds).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sciregistry import doi as doilib
from sciregistry.auth import (
    ANONYMOUS,
    SERVER_PARAMS,
    PasswordParams,
    Principal,
    Role,
    ScopePattern,
    Visibility,
    check_password,
    hash_password,
    hash_secret,
    needs_rehash,
    new_token,
    parse_scope_patterns,
    parse_token,
    valid_account_name,
    validate_new_password,
    verify_secret,
)
from sciregistry.db.models import (
    ApiToken,
    AuditEntry,
    Doi,
    DoiPin,
    Namespace,
    NamespaceMember,
    Repository,
    RepositorySetting,
    Robot,
    User,
)
from sciregistry.errors import BadRequest, Conflict, NotFound, Unauthorized

log = logging.getLogger(__name__)

ADMIN_USER = "admin"
_ROBOT_SEPARATOR = "+"

_USER_BY_NAME = select(User).where(User.name == bindparam("name"))
_REPO_EXISTS = select(Repository.id).where(Repository.name == bindparam("name"))
_MEMBER_ROLES = (
    select(Namespace.name, NamespaceMember.role)
    .join(NamespaceMember, NamespaceMember.namespace_id == Namespace.id)
    .where(NamespaceMember.user_id == bindparam("uid"))
)


class CredentialsRejected(Unauthorized):
    """Credentials were presented and refused. ``reason`` (for the audit log, never shown) says why."""

    message = "invalid credentials"
    reasons: ClassVar[tuple[str, ...]] = (
        "bad-password",
        "unknown-token",
        "bad-secret",
        "revoked",
        "expired",
        "disabled",
        "malformed",
        "withdrawn",
    )

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


# --- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserInfo:
    name: str
    is_admin: bool
    disabled: bool
    created_at: str
    namespaces: dict[str, str]  # namespace -> role

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "admin": self.is_admin,
            "disabled": self.disabled,
            "created_at": self.created_at,
            "namespaces": self.namespaces,
        }


@dataclass(frozen=True)
class NamespaceInfo:
    name: str
    public: bool
    personal: bool
    members: dict[str, str]  # user -> role
    robots: dict[str, str]  # robot -> role

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "public": self.public,
            "personal": self.personal,
            "members": self.members,
            "robots": self.robots,
        }


@dataclass(frozen=True)
class RobotInfo:
    name: str
    namespace: str
    role: str
    disabled: bool
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "role": self.role,
            "disabled": self.disabled,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class TokenInfo:
    """What a token listing shows: never the secret nor its hash."""

    id: str
    kind: str  # user | robot | reviewer
    owner: str | None
    doi: str | None
    scopes: list[str] | None
    description: str
    created_by: str | None
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class CreatedToken:
    """A new token: ``secret`` is shown once and never again."""

    info: TokenInfo
    secret: str


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: str
    principal: str
    address: str
    action: str
    target: str
    outcome: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


# --- the use cases --------------------------------------------------------------------------------


class Accounts:
    """Users, namespaces, robots, tokens, visibility and audit for one database.

    ``password_params``: Argon2 parameters for new hashes (``TEST_PARAMS`` in tests).
    """

    def __init__(
        self,
        engine: Engine,
        sessions: sessionmaker,
        *,
        password_params: PasswordParams = SERVER_PARAMS,
        clock: Any = time.time,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.password_params = password_params
        self._clock = clock
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        return self._generation

    def _changed(self) -> None:
        with self._lock:
            self._generation += 1

    def credentials_changed(self) -> None:
        """Tell this process's caches that who may do what changed outside this object (a DOI
        withdrawn ends its reviewer tokens): they drop what they hold at once."""
        self._changed()

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC)

    # --- users ----------------------------------------------------------------------------------

    def user_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(User)).scalar_one())

    def create_user(
        self, name: str, password: str | None, *, admin: bool = False, min_password_length: int = 8
    ) -> UserInfo:
        """A user and their personal namespace (they own it). ``password`` None: token-only account."""
        if not valid_account_name(name):
            raise BadRequest(
                f"invalid user name {name!r}: lower-case letters, digits and . _ - "
                "separators (it is also the user's namespace)"
            )
        if password is not None:
            try:
                validate_new_password(password, min_length=min_password_length)
            except ValueError as exc:
                raise BadRequest(str(exc)) from None
        pw_hash = hash_password(password, self.password_params) if password is not None else None
        with self.sessions() as s, s.begin():
            if s.execute(_USER_BY_NAME, {"name": name}).scalar() is not None:
                raise Conflict(f"user {name!r} exists")
            ns = s.execute(select(Namespace).where(Namespace.name == name)).scalar()
            if ns is not None:
                raise Conflict(f"namespace {name!r} exists and belongs to someone else")
            user = User(name=name, password_hash=pw_hash, is_admin=admin, disabled=False)
            s.add(user)
            ns = Namespace(name=name, public=False, personal=True)
            s.add(ns)
            s.flush()
            s.add(NamespaceMember(namespace_id=ns.id, user_id=user.id, role=Role.OWNER.value))
        self._changed()
        return self.get_user(name)

    def get_user(self, name: str) -> UserInfo:
        with self.sessions() as s:
            user = s.execute(_USER_BY_NAME, {"name": name}).scalar()
            if user is None:
                raise NotFound(f"no user {name!r}")
            return self._user_info(s, user)

    def _user_info(self, s: Session, user: User) -> UserInfo:
        roles = dict(s.execute(_MEMBER_ROLES, {"uid": user.id}).all())
        return UserInfo(user.name, user.is_admin, user.disabled, _iso(user.created_at) or "", roles)

    def list_users(self) -> list[UserInfo]:
        with self.sessions() as s:
            return [self._user_info(s, u) for u in s.execute(select(User).order_by(User.name)).scalars()]

    def set_disabled(self, name: str, disabled: bool = True) -> UserInfo:
        with self.sessions() as s, s.begin():
            user = self._require_user(s, name)
            user.disabled = disabled
        self._changed()
        return self.get_user(name)

    def set_password(self, name: str, password: str, *, min_password_length: int = 8) -> None:
        try:
            validate_new_password(password, min_length=min_password_length)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        pw_hash = hash_password(password, self.password_params)
        with self.sessions() as s, s.begin():
            self._require_user(s, name).password_hash = pw_hash
        self._changed()

    @staticmethod
    def _require_user(s: Session, name: str) -> User:
        user = s.execute(_USER_BY_NAME, {"name": name}).scalar()
        if user is None:
            raise NotFound(f"no user {name!r}")
        return user

    # --- namespaces -----------------------------------------------------------------------------

    def create_namespace(self, name: str, owner: str | None = None, *, public: bool = False) -> NamespaceInfo:
        if not valid_account_name(name, 255):
            raise BadRequest(f"invalid namespace name {name!r}")
        with self.sessions() as s, s.begin():
            if s.execute(select(Namespace.id).where(Namespace.name == name)).scalar() is not None:
                raise Conflict(f"namespace {name!r} exists")
            if s.execute(_USER_BY_NAME, {"name": name}).scalar() is not None:
                raise Conflict(f"{name!r} is a user's personal namespace")
            ns = Namespace(name=name, public=public, personal=False)
            s.add(ns)
            s.flush()
            if owner is not None:
                user = self._require_user(s, owner)
                s.add(NamespaceMember(namespace_id=ns.id, user_id=user.id, role=Role.OWNER.value))
        self._changed()
        return self.get_namespace(name)

    def _require_namespace(self, s: Session, name: str) -> Namespace:
        ns = s.execute(select(Namespace).where(Namespace.name == name)).scalar()
        if ns is None:
            raise NotFound(f"no namespace {name!r}")
        return ns

    def get_namespace(self, name: str) -> NamespaceInfo:
        with self.sessions() as s:
            return self._namespace_info(s, self._require_namespace(s, name))

    def _namespace_info(self, s: Session, ns: Namespace) -> NamespaceInfo:
        members = dict(
            s.execute(
                select(User.name, NamespaceMember.role)
                .join(NamespaceMember, NamespaceMember.user_id == User.id)
                .where(NamespaceMember.namespace_id == ns.id)
                .order_by(User.name)
            ).all()
        )
        robots = dict(
            s.execute(
                select(Robot.name, Robot.role).where(Robot.namespace_id == ns.id).order_by(Robot.name)
            ).all()
        )
        return NamespaceInfo(ns.name, ns.public, ns.personal, members, robots)

    def list_namespaces(self) -> list[NamespaceInfo]:
        with self.sessions() as s:
            return [
                self._namespace_info(s, ns)
                for ns in s.execute(select(Namespace).order_by(Namespace.name)).scalars()
            ]

    def grant(self, namespace: str, user: str, role: str | Role) -> NamespaceInfo:
        try:
            parsed = Role.parse(role)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        with self.sessions() as s, s.begin():
            ns = self._require_namespace(s, namespace)
            u = self._require_user(s, user)
            if ns.personal and ns.name == u.name:
                raise BadRequest(f"{user!r} always owns their personal namespace")
            member = s.get(NamespaceMember, (ns.id, u.id))
            if member is None:
                s.add(NamespaceMember(namespace_id=ns.id, user_id=u.id, role=parsed.value))
            else:
                member.role = parsed.value
        self._changed()
        return self.get_namespace(namespace)

    def revoke(self, namespace: str, user: str) -> NamespaceInfo:
        with self.sessions() as s, s.begin():
            ns = self._require_namespace(s, namespace)
            u = self._require_user(s, user)
            if ns.personal and ns.name == u.name:
                raise BadRequest(f"{user!r} always owns their personal namespace")
            member = s.get(NamespaceMember, (ns.id, u.id))
            if member is None:
                raise NotFound(f"{user!r} has no role in {namespace!r}")
            s.delete(member)
        self._changed()
        return self.get_namespace(namespace)

    def set_namespace_visibility(self, name: str, public: bool) -> NamespaceInfo:
        with self.sessions() as s, s.begin():
            self._require_namespace(s, name).public = public
        self._changed()
        return self.get_namespace(name)

    def set_repository_visibility(self, repository: str, public: bool | None) -> bool:
        """Make ``repository`` public (True), private (False) or inherit its namespace (None).
        Returns the effective visibility."""
        from sciregistry.oci import validate_name

        try:
            validate_name(repository)
        except Exception as exc:  # NameInvalid
            raise BadRequest(f"invalid repository name {repository!r}") from exc
        with self.sessions() as s, s.begin():
            row = s.get(RepositorySetting, repository)
            if public is None:
                if row is not None:
                    s.delete(row)
            elif row is None:
                s.add(RepositorySetting(repository=repository, public=public, updated_at=self._now()))
            else:
                row.public = public
                row.updated_at = self._now()
        self._changed()
        return self.visibility().is_public(repository)

    def visibility(self) -> Visibility:
        """Every public namespace and every repository-level override (small tables, read whole)."""
        with self.engine.connect() as conn:
            public_ns = frozenset(
                conn.execute(select(Namespace.name).where(Namespace.public.is_(True))).scalars()
            )
            repos = {
                r: bool(p)
                for r, p in conn.execute(
                    select(RepositorySetting.repository, RepositorySetting.public).where(
                        RepositorySetting.public.is_not(None)
                    )
                )
            }
        return Visibility(public_ns, repos)

    def repository_exists(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(_REPO_EXISTS, {"name": name}).first() is not None

    def repository_names(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(Repository.name).order_by(Repository.name)).scalars())

    # --- robots ---------------------------------------------------------------------------------

    def create_robot(self, namespace: str, short_name: str, role: str | Role = Role.WRITER) -> RobotInfo:
        if not valid_account_name(short_name):
            raise BadRequest(f"invalid robot name {short_name!r}")
        try:
            parsed = Role.parse(role)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        full = f"{namespace}{_ROBOT_SEPARATOR}{short_name}"
        with self.sessions() as s, s.begin():
            ns = self._require_namespace(s, namespace)
            if s.execute(select(Robot.id).where(Robot.name == full)).scalar() is not None:
                raise Conflict(f"robot {full!r} exists")
            s.add(Robot(name=full, namespace_id=ns.id, role=parsed.value, disabled=False))
        self._changed()
        return next(r for r in self.list_robots(namespace) if r.name == full)

    def list_robots(self, namespace: str | None = None) -> list[RobotInfo]:
        q = (
            select(Robot, Namespace.name)
            .join(Namespace, Namespace.id == Robot.namespace_id)
            .order_by(Robot.name)
        )
        if namespace is not None:
            q = q.where(Namespace.name == namespace)
        with self.sessions() as s:
            return [
                RobotInfo(r.name, ns, r.role, r.disabled, _iso(r.created_at) or "") for r, ns in s.execute(q)
            ]

    # --- tokens ---------------------------------------------------------------------------------

    def create_token(
        self,
        *,
        user: str | None = None,
        robot: str | None = None,
        reviewer_doi: str | None = None,
        scopes: Iterable[str] | None = None,
        expires_in: int | None = None,
        description: str = "",
        created_by: str | None = None,
    ) -> CreatedToken:
        """A new API token acting as ``user``, ``robot`` or as reviewer of ``reviewer_doi`` (exactly one).

        ``scopes``: scope patterns (``repository:lab-x/*:pull,push``) limiting it; ``expires_in``:
        seconds. Reviewer tokens are read-only, must expire and take no scopes.
        """
        if sum(x is not None for x in (user, robot, reviewer_doi)) != 1:
            raise BadRequest("a token acts as exactly one of: a user, a robot, a DOI's reviewer")
        patterns: list[ScopePattern] | None = None
        if scopes is not None:
            scope_list = list(scopes)
            if scope_list:
                try:
                    patterns = parse_scope_patterns(scope_list)
                except ValueError as exc:
                    raise BadRequest(str(exc)) from None
        if expires_in is not None and expires_in <= 0:
            raise BadRequest("expiry must be in the future")
        if reviewer_doi is not None:
            if patterns is not None:
                raise BadRequest("reviewer tokens are scoped to their DOI's closure; --scope does not apply")
            if expires_in is None:
                raise BadRequest("reviewer tokens must expire (e.g. --expires 14d)")
        token_id, secret = new_token()
        now = self._now()
        with self.sessions() as s, s.begin():
            row = ApiToken(
                id=token_id,
                secret_hash=hash_secret(secret),
                description=description[:255],
                created_by=created_by,
                created_at=now,
                scopes=" ".join(str(p) for p in patterns) if patterns is not None else None,
                expires_at=now + dt.timedelta(seconds=expires_in) if expires_in else None,
            )
            if user is not None:
                row.user_id = self._require_user(s, user).id
            elif robot is not None:
                r = s.execute(select(Robot).where(Robot.name == robot)).scalar()
                if r is None:
                    raise NotFound(f"no robot {robot!r}")
                row.robot_id = r.id
            else:
                doi = doilib.normalize_doi(reviewer_doi or "")
                rec = s.get(Doi, doi)
                if rec is None:
                    raise NotFound(f"DOI {doi} is not registered here")
                row.reviewer_doi = doi
            s.add(row)
        self._changed()
        info = next(t for t in self.list_tokens(include_revoked=True) if t.id == token_id)
        return CreatedToken(info, secret)

    def list_tokens(
        self, *, user: str | None = None, robot: str | None = None, include_revoked: bool = False
    ) -> list[TokenInfo]:
        q = (
            select(ApiToken, User.name, Robot.name)
            .outerjoin(User, User.id == ApiToken.user_id)
            .outerjoin(Robot, Robot.id == ApiToken.robot_id)
            .order_by(ApiToken.created_at, ApiToken.id)
        )
        if user is not None:
            q = q.where(User.name == user)
        if robot is not None:
            q = q.where(Robot.name == robot)
        if not include_revoked:
            q = q.where(ApiToken.revoked_at.is_(None))
        with self.sessions() as s:
            return [self._token_info(t, u, r) for t, u, r in s.execute(q)]

    @staticmethod
    def _token_info(t: ApiToken, user: str | None, robot: str | None) -> TokenInfo:
        kind = "user" if t.user_id is not None else "robot" if t.robot_id is not None else "reviewer"
        return TokenInfo(
            t.id,
            kind,
            user or robot,
            t.reviewer_doi,
            t.scopes.split() if t.scopes else None,
            t.description,
            t.created_by,
            _iso(t.created_at) or "",
            _iso(t.expires_at),
            _iso(t.revoked_at),
            _iso(t.last_used_at),
        )

    def revoke_token(self, token_id: str) -> TokenInfo:
        with self.sessions() as s, s.begin():
            row = s.get(ApiToken, token_id)
            if row is None:
                raise NotFound(f"no token {token_id!r}")
            if row.revoked_at is None:
                row.revoked_at = self._now()
        self._changed()
        return next(t for t in self.list_tokens(include_revoked=True) if t.id == token_id)

    # --- authentication ---------------------------------------------------------------------------

    def _user_principal(
        self,
        conn: Any,
        user_id: int,
        name: str,
        is_admin: bool,
        *,
        scopes: tuple[ScopePattern, ...] | None = None,
        token_id: str | None = None,
        expires_at: float | None = None,
    ) -> Principal:
        roles = {}
        for ns, role in conn.execute(_MEMBER_ROLES, {"uid": user_id}):
            roles[ns] = Role.parse(role)
        return Principal.user(
            name, is_admin=is_admin, roles=roles, scopes=scopes, token_id=token_id, expires_at=expires_at
        )

    def authenticate_password(self, name: str, password: str) -> Principal:
        """The user ``name`` if ``password`` is theirs; :class:`CredentialsRejected` otherwise.

        Unknown, disabled and password-less accounts cost the same Argon2 work as a wrong password.
        """
        with self.engine.connect() as conn:
            row = conn.execute(
                select(User.id, User.name, User.password_hash, User.is_admin, User.disabled).where(
                    User.name == name
                )
            ).first()
            stored = row.password_hash if row is not None and not row.disabled else None
            try:
                ok = check_password(stored, password, self.password_params)
            except ValueError:
                log.error("stored password hash of user %r is not an Argon2 hash", name)
                ok = False
            if row is None or not ok:
                raise CredentialsRejected("disabled" if row is not None and row.disabled else "bad-password")
            principal = self._user_principal(conn, row.id, row.name, row.is_admin)
        if stored is not None and needs_rehash(stored, self.password_params):
            with self.engine.begin() as conn:
                conn.execute(
                    update(User)
                    .where(User.id == row.id)
                    .values(password_hash=hash_password(password, self.password_params))
                )
        return principal

    def authenticate_token(self, secret: str, *, touch: bool = True) -> Principal:
        """The principal an API token acts as; :class:`CredentialsRejected` with the reason otherwise."""
        parsed = parse_token(secret)
        if parsed is None:
            raise CredentialsRejected("malformed")
        with self.engine.connect() as conn:
            row = conn.execute(select(ApiToken).where(ApiToken.id == parsed.token_id)).first()
            if row is None:
                raise CredentialsRejected("unknown-token")
            try:
                good = verify_secret(parsed.secret, row.secret_hash)
            except ValueError:
                good = False
            if not good:
                raise CredentialsRejected("bad-secret")
            principal = self._token_principal(conn, row)
        if touch:
            with self.engine.begin() as conn:
                conn.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=self._now()))
        return principal

    def principal_for_token_id(self, token_id: str) -> Principal:
        """The principal of a token named by id (bearer JWTs issued for it); rejected if revoked or
        expired."""
        with self.engine.connect() as conn:
            row = conn.execute(select(ApiToken).where(ApiToken.id == token_id)).first()
            if row is None:
                raise CredentialsRejected("unknown-token")
            return self._token_principal(conn, row)

    def _token_principal(self, conn: Any, row: Any) -> Principal:
        now = self._now()
        if row.revoked_at is not None:
            raise CredentialsRejected("revoked", "token has been revoked")
        if row.expires_at is not None and row.expires_at <= now:
            raise CredentialsRejected("expired", "token has expired")
        expires = row.expires_at.timestamp() if row.expires_at is not None else None
        scopes = tuple(parse_scope_patterns(row.scopes)) if row.scopes else None
        if row.user_id is not None:
            u = conn.execute(
                select(User.id, User.name, User.is_admin, User.disabled).where(User.id == row.user_id)
            ).first()
            if u is None or u.disabled:
                raise CredentialsRejected("disabled")
            return self._user_principal(
                conn, u.id, u.name, u.is_admin, scopes=scopes, token_id=row.id, expires_at=expires
            )
        if row.robot_id is not None:
            r = conn.execute(
                select(Robot.name, Robot.role, Robot.disabled, Namespace.name.label("ns"))
                .join(Namespace, Namespace.id == Robot.namespace_id)
                .where(Robot.id == row.robot_id)
            ).first()
            if r is None or r.disabled:
                raise CredentialsRejected("disabled")
            return Principal("robot", r.name, False, {r.ns: Role.parse(r.role)}, scopes, row.id, expires)
        state = conn.execute(select(Doi.state).where(Doi.doi == row.reviewer_doi)).scalar()
        if state is None or state == "tombstone":
            raise CredentialsRejected("withdrawn", "the DOI of this reviewer token has been withdrawn")
        pins = frozenset(
            (repo, d)
            for repo, d in conn.execute(
                select(Repository.name, DoiPin.digest)
                .join(Repository, Repository.id == DoiPin.repository_id)
                .where(DoiPin.doi == row.reviewer_doi)
            )
        )
        return Principal("reviewer", "reviewer", False, {}, None, row.id, expires, row.reviewer_doi, pins)

    def principal_for_user(self, name: str) -> Principal:
        """The user ``name`` with their roles (bearer JWTs issued to a password login); rejected if
        disabled."""
        if not name:
            return ANONYMOUS
        with self.engine.connect() as conn:
            u = conn.execute(
                select(User.id, User.name, User.is_admin, User.disabled).where(User.name == name)
            ).first()
            if u is None or u.disabled:
                raise CredentialsRejected("disabled")
            return self._user_principal(conn, u.id, u.name, u.is_admin)

    def is_admin(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return bool(
                conn.execute(
                    select(User.is_admin).where(User.name == name, User.disabled.is_(False))
                ).scalar()
            )

    # --- first start ------------------------------------------------------------------------------

    def ensure_admin(self, password: str) -> bool:
        """Create the user ``admin`` with ``password`` if there is no user at all. True when created."""
        if self.user_count() > 0:
            return False
        try:
            self.create_user(ADMIN_USER, password, admin=True, min_password_length=1)
        except Conflict:
            return False
        except IntegrityError:  # another process won the race
            return False
        return True

    # --- audit ------------------------------------------------------------------------------------

    def record_audit(
        self,
        *,
        principal: str,
        address: str,
        action: str,
        target: str,
        outcome: str = "ok",
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one entry; never raises (a failing audit write is logged, the request goes on)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(AuditEntry).values(
                        at=self._now(),
                        principal=principal[:255],
                        address=address[:64],
                        action=action[:64],
                        target=target[:1024],
                        outcome=outcome[:16],
                        detail=json.dumps(detail or {}, sort_keys=True, default=str),
                    )
                )
        except Exception:
            log.exception("could not write audit entry %s %s", action, target)

    #: failed logins from one address with one reason within this many seconds share one audit row
    AGGREGATE_WINDOW: ClassVar[int] = 3600

    def record_failure_audit(
        self,
        *,
        principal: str,
        address: str,
        action: str,
        target: str,
        reason: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record an authentication failure, folding repeats into one row: a failure with the same
        ``reason`` from the same ``address`` within ``AGGREGATE_WINDOW`` seconds of the row's first
        one increments its ``repeats`` (and keeps up to 10 distinct targets), so an attacker's
        requests do not grow the table (at most one row per address, reason and window). Never raises."""
        now = self._now()
        try:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(AuditEntry.id, AuditEntry.detail)
                    .where(
                        AuditEntry.at >= now - dt.timedelta(seconds=self.AGGREGATE_WINDOW),
                        AuditEntry.action == action[:64],
                        AuditEntry.address == address[:64],
                        AuditEntry.outcome == "failure",
                    )
                    .order_by(AuditEntry.id.desc())
                    .limit(20)
                ).all()
                for row_id, text in rows:
                    previous = json.loads(text or "{}")
                    if previous.get("reason") != reason:
                        continue
                    previous["repeats"] = int(previous.get("repeats", 1)) + 1
                    previous["last_at"] = _iso(now)
                    targets = previous.setdefault("targets", [])
                    if target[:200] not in targets and len(targets) < 10:
                        targets.append(target[:200])
                    conn.execute(
                        update(AuditEntry)
                        .where(AuditEntry.id == row_id)
                        .values(detail=json.dumps(previous, sort_keys=True, default=str))
                    )
                    return
                conn.execute(
                    insert(AuditEntry).values(
                        at=now,
                        principal=principal[:255],
                        address=address[:64],
                        action=action[:64],
                        target=target[:1024],
                        outcome="failure",
                        detail=json.dumps(
                            {**(detail or {}), "reason": reason, "repeats": 1, "targets": [target[:200]]},
                            sort_keys=True,
                            default=str,
                        ),
                    )
                )
        except Exception:
            log.exception("could not write audit entry %s %s", action, target)

    def audit_log(self, limit: int = 100, *, action: str | None = None) -> list[AuditRecord]:
        """The newest ``limit`` entries, newest first."""
        q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if action is not None:
            q = q.where(AuditEntry.action == action)
        with self.sessions() as s:
            return [
                AuditRecord(
                    e.id,
                    _iso(e.at) or "",
                    e.principal,
                    e.address,
                    e.action,
                    e.target,
                    e.outcome,
                    json.loads(e.detail or "{}"),
                )
                for e in s.execute(q).scalars()
            ]

    def purge_audit(self, before: dt.datetime) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(delete(AuditEntry).where(AuditEntry.at < before)).rowcount or 0)
