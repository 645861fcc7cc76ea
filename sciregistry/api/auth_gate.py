"""The authenticating access gate (``auth_enabled = true``): who is calling, and may they do this?

Same interface as :class:`sciregistry.api.gate.OpenGate`. Credentials (resolved lazily, once per
request, kept in ``flask.g``):

    Authorization: Basic <user:password>        a user's password (Argon2id; throttled)
    Authorization: Basic <anything:sr_...>      an API token (user, robot or reviewer)
    Authorization: Bearer sr_...                the same API token
    Authorization: Bearer <JWT>                 a token from GET /token (Docker token flow)
    (none)                                      anonymous: may pull existing public repositories

Answers on ``/v2`` (distribution-spec error codes; DESIGN.md section 5):

    anonymous without access              401 UNAUTHORIZED  WWW-Authenticate: Bearer realm=...,scope=...
    bad credentials                       401 UNAUTHORIZED  (bearer: error="invalid_token")
    bearer token lacking an action the
      principal holds (ask for a new one) 401 UNAUTHORIZED  error="insufficient_scope"
    pull without read access              404 NAME_UNKNOWN  (exactly what a missing repository gives)
    push/delete without the role          403 DENIED
    too many failed logins                429 TOOMANYREQUESTS  Retry-After

Outside ``/v2`` (``/api/v1``, DOI landing pages) a hidden repository is 404 NOT_FOUND and a refused
action 403 DENIED.

Hot path: verified Basic credentials and API tokens are cached in process for ``cache_ttl``
seconds under the SHA-256 of what was presented (never the password itself); bearer JWTs are
checked by :class:`~sciregistry.auth.KeyStore` (which caches verified tokens); their ``access``
claim is an upper bound, re-checked against the role the account holds now (cached like the account); the visibility table and repository existence are
cached for ``visibility_ttl`` seconds. The account or API token behind a JWT is re-checked (cached
for ``cache_ttl`` seconds), so revoking a token or disabling a user ends its JWTs' access too.
Changes made through the same :class:`Accounts` object drop
the caches at once (``Accounts.generation``); changes made by another process (the admin CLI) are
seen within those TTLs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets as pysecrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request

from sciregistry import metrics
from sciregistry.api.proxies import external_base_url
from sciregistry.auth import (
    ANONYMOUS,
    PULL,
    PUSH,
    BasicCredentials,
    BearerCredentials,
    Claims,
    KeyStore,
    LoginThrottle,
    Principal,
    Scope,
    TokenInvalid,
    Visibility,
    bearer_challenge,
    held_actions,
    looks_like_token,
    merge_scopes,
    parse_authorization,
)
from sciregistry.errors import (
    BlobUnknown,
    Denied,
    ManifestUnknown,
    NameUnknown,
    NotFound,
    RegistryError,
    TooManyRequests,
    Unauthorized,
)
from sciregistry.oci import is_digest
from sciregistry.oci.reference import NAME_RE
from sciregistry.registry.accounts import Accounts, CredentialsRejected
from sciregistry.registry.throttle import SqlThrottle

log = logging.getLogger(__name__)

G_KEY = "_sciregistry_auth"
_CHALLENGE_ACTIONS = {
    "pull": frozenset({PULL}),
    "push": frozenset({PULL, PUSH}),
    "delete": frozenset({"delete"}),
}
_V2_REF = re.compile(r"^/(manifests|blobs|referrers)/([^/]+)$")
ADMIN_PASSWORD_FILE = "admin-password"


# --- small caches --------------------------------------------------------------------------------


class _TTLCache:
    """A bounded dict whose entries expire after ``ttl`` seconds or when ``generation()`` changes."""

    def __init__(
        self,
        ttl: float,
        generation: Callable[[], int],
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._generation = generation
        self.max_entries = max_entries
        self._clock = clock
        self._data: dict[Any, tuple[float, int, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any | None:
        hit = self._data.get(key)
        if hit is None:
            return None
        expires, gen, value = hit
        if expires < self._clock() or gen != self._generation():
            self._data.pop(key, None)
            return None
        return value

    def put(self, key: Any, value: Any) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            while len(self._data) >= self.max_entries:
                self._data.pop(next(iter(self._data)), None)
            self._data[key] = (self._clock() + self.ttl, self._generation(), value)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


# --- per-request state ---------------------------------------------------------------------------


@dataclass(slots=True)
class _RequestAuth:
    """What the request authenticated as: a principal, or the claims of a bearer JWT, or an error."""

    principal: Principal | None = None
    claims: Claims | None = None
    error: RegistryError | None = None
    real: Principal | None = None  # the principal behind a JWT, loaded only when needed
    scopes: list[Scope] | None = None  # what the last refused check needed
    bearer_error: str | None = None

    @property
    def anonymous(self) -> bool:
        if self.claims is not None:
            return self.claims.sub == ""
        return self.principal is None or not self.principal.authenticated


def _hash_key(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _on_v2() -> bool:
    return request.path.startswith("/v2/") or request.path == "/v2"


class AuthGate:
    """Authentication and authorization for every HTTP surface; one instance per app (state per request in ``g``)."""

    def __init__(
        self,
        accounts: Accounts,
        keys: KeyStore,
        *,
        service: str,
        base_url: str = "",
        token_ttl: int = 900,
        throttle: LoginThrottle | None = None,
        registry: Any = None,
        cache_ttl: float = 5.0,
        visibility_ttl: float = 2.0,
    ) -> None:
        self.accounts = accounts
        self.keys = keys
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.token_ttl = token_ttl
        self.throttle = throttle if throttle is not None else LoginThrottle()
        self.registry = registry
        gen = lambda: accounts.generation
        self._credentials = _TTLCache(cache_ttl, gen)
        self._headers = _TTLCache(cache_ttl, gen)
        self._jwt_principals = _TTLCache(cache_ttl, gen)
        self._exists = _TTLCache(visibility_ttl, gen)
        self._visibility_ttl = visibility_ttl
        self._visibility: tuple[float, int, Visibility] | None = None

    # --- caches ---------------------------------------------------------------------------------

    def clear_caches(self) -> None:
        self._credentials.clear()
        self._headers.clear()
        self._jwt_principals.clear()
        self._exists.clear()
        self._visibility = None

    def visibility(self) -> Visibility:
        cached = self._visibility
        now = time.monotonic()
        if cached is not None and cached[0] > now and cached[1] == self.accounts.generation:
            return cached[2]
        vis = self.accounts.visibility()
        self._visibility = (now + self._visibility_ttl, self.accounts.generation, vis)
        return vis

    def repository_exists(self, name: str) -> bool:
        hit = self._exists.get(name)
        if hit is None:
            hit = self.accounts.repository_exists(name)
            self._exists.put(name, hit)
        return bool(hit)

    def held(self, principal: Principal, repository: str) -> frozenset[str]:
        """The actions ``principal`` holds on ``repository`` (pull, push, delete)."""
        return held_actions(principal, repository, self.visibility(), self.repository_exists)

    # --- resolving credentials ------------------------------------------------------------------

    def _state(self) -> _RequestAuth:
        ctx_g = g._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup, not three
        st: _RequestAuth | None = ctx_g.get(G_KEY)
        if st is None:
            st = self._resolve()
            setattr(ctx_g, G_KEY, st)
        return st

    @staticmethod
    def address() -> str:
        return (request.remote_addr or "-") if has_request_context() else "local"

    def _resolve(self) -> _RequestAuth:
        header = request.environ.get("HTTP_AUTHORIZATION")
        if not header:
            return _RequestAuth(principal=ANONYMOUS)
        # Fast path: this exact header was verified moments ago (kept under its SHA-256, never in clear).
        key = hashlib.sha256(header.encode("utf-8", "surrogatepass")).digest()
        hit = self._headers.get(key)
        if hit is not None:
            principal, claims = hit
            now = time.time()
            if claims is not None:
                if now < claims.exp:
                    return _RequestAuth(claims=claims)
            elif principal.expires_at is None or principal.expires_at > now:
                return _RequestAuth(principal=principal)
        st = self._resolve_header(header)
        if st.error is None:
            self._headers.put(key, (st.principal, st.claims))
        return st

    def _resolve_header(self, header: str) -> _RequestAuth:
        try:
            creds = parse_authorization(header)
        except ValueError as exc:
            self._audit_failure("malformed", "-", {"error": str(exc)})
            return _RequestAuth(error=Unauthorized(f"malformed Authorization header: {exc}"))
        if creds is None:
            return _RequestAuth(principal=ANONYMOUS)
        try:
            if isinstance(creds, BasicCredentials):
                if looks_like_token(creds.password):
                    return _RequestAuth(principal=self.authenticate_token(creds.password))
                return _RequestAuth(principal=self.authenticate_password(creds.username, creds.password))
            assert isinstance(creds, BearerCredentials)
            if looks_like_token(creds.token):
                return _RequestAuth(principal=self.authenticate_token(creds.token))
            return _RequestAuth(claims=self._verify_jwt(creds.token))
        except TokenInvalid as exc:
            return _RequestAuth(error=exc, bearer_error="invalid_token")
        except RegistryError as exc:
            return _RequestAuth(error=exc)

    def authenticate_password(self, username: str, password: str) -> Principal:
        """A user by password: cached, throttled, audited. Raises Unauthorized or TooManyRequests."""
        key = _hash_key("pw", username, password)
        hit = self._credentials.get(key)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        addr = self.address()
        retry = self.throttle.check(addr, username)
        if retry is not None:
            metrics.LOGIN_THROTTLED.inc()
            self._audit_failure("throttled", f"user:{username}", {"retry_after": retry})
            raise TooManyRequests(
                "too many failed logins; try again later",
                {"retry_after": retry},
                headers={"Retry-After": str(retry)},
            )
        try:
            principal = self.accounts.authenticate_password(username, password)
        except CredentialsRejected as exc:
            self.throttle.failure(addr, username)
            metrics.LOGIN_FAILURES.labels("password").inc()
            self._audit_failure(exc.reason, f"user:{username}", {"method": "password"})
            raise Unauthorized("invalid username or password") from None
        self.throttle.success(addr, username)
        self._credentials.put(key, principal)
        return principal

    def authenticate_token(self, secret: str) -> Principal:
        """A principal by API token: cached, throttled per address, audited."""
        key = _hash_key("tok", secret)
        hit: Principal | None = self._credentials.get(key)
        if hit is not None and (hit.expires_at is None or hit.expires_at > time.time()):
            return hit
        addr = self.address()
        retry = self.throttle.check(addr, None)
        if retry is not None:
            metrics.LOGIN_THROTTLED.inc()
            self._audit_failure("throttled", "token", {"retry_after": retry})
            raise TooManyRequests(
                "too many failed logins; try again later",
                {"retry_after": retry},
                headers={"Retry-After": str(retry)},
            )
        try:
            principal = self.accounts.authenticate_token(secret)
        except CredentialsRejected as exc:
            self.throttle.failure(addr, None)
            metrics.LOGIN_FAILURES.labels("token").inc()
            token_id = secret.split("_")[1] if secret.count("_") >= 2 else "?"
            self._audit_failure(exc.reason, f"token:{token_id}", {"method": "token"})
            raise Unauthorized(
                exc.text if exc.reason in ("revoked", "expired", "withdrawn") else "invalid token"
            ) from None
        self._credentials.put(key, principal)
        return principal

    def _verify_jwt(self, token: str) -> Claims:
        try:
            return self.keys.verify(token, self.service)
        except TokenInvalid as exc:
            self._audit_failure("jwt-" + type(exc).__name__, "bearer", {"error": exc.text})
            raise

    def _real(self, st: _RequestAuth) -> Principal:
        """The principal behind the request (for a JWT: loaded from its claims, cached)."""
        if st.principal is not None:
            return st.principal
        if st.real is not None:
            return st.real
        claims = st.claims
        assert claims is not None
        key = (claims.sub, claims.extra.get("knd"), claims.extra.get("tid"))
        real: Principal | None = self._jwt_principals.get(key)
        if real is None:
            try:
                tid = claims.extra.get("tid")
                if isinstance(tid, str):
                    real = self.accounts.principal_for_token_id(tid)
                elif claims.sub:
                    real = self.accounts.principal_for_user(claims.sub)
                else:
                    real = ANONYMOUS
            except CredentialsRejected as exc:
                self._audit_failure(exc.reason, f"bearer:{claims.sub}", {"method": "jwt"})
                st.bearer_error = "invalid_token"
                raise Unauthorized("the account behind this token is no longer valid") from None
            self._jwt_principals.put(key, real)
        st.real = real
        return real

    # --- the gate interface -----------------------------------------------------------------------

    def authorize(
        self,
        repository: str | None,
        action: str,
        *,
        hide: bool = False,
        doi: str | None = None,
        digest: str | None = None,
    ) -> None:
        """Raise unless the caller may do ``action`` (pull, push, delete, login, catalog) on ``repository``.

        ``doi`` names the DOI a request is about, ``digest`` the content it reads (a run's result,
        the subject of a lineage): a reviewer token may read a DOI's record and, on /api/v1, what
        concerns a manifest pinned by its DOI."""
        st = self._state()
        if st.error is not None:
            raise self._with_challenge(st, st.error)
        if action == "login":
            if st.anonymous:
                raise self._with_challenge(st, Unauthorized())
            return
        if action == "catalog" or repository is None:
            return
        if st.claims is not None:
            if st.claims.allows(repository, action):
                # The JWT's access claim is only an upper bound: the account or token behind it must
                # still be valid *and still hold the action* (its role, the repository's visibility),
                # so a disabled user, a revoked token, a lost role or a repository made private ends
                # the JWT's access within cache_ttl seconds, not when the JWT expires.
                real = self._real(st)
                if self._allows(real, repository, action, doi, digest):
                    return
        elif self._allows(st.principal or ANONYMOUS, repository, action, doi, digest):
            return
        self._deny(st, repository, action, hide)

    def _allows(
        self, p: Principal, repository: str, action: str, doi: str | None, digest: str | None = None
    ) -> bool:
        if p.kind == "reviewer":
            if action != PULL or repository not in p.reviewer_repositories:
                return False
            if _on_v2():
                self._check_reviewer_ref(p, repository)
                return True
            if doi is not None:
                return doi.lower() == p.doi
            return digest is not None and (repository, digest) in p.pins
        return action in self.held(p, repository)

    def _check_reviewer_ref(self, p: Principal, repository: str) -> None:
        """A reviewer may fetch only the pinned manifests (by digest, or a tag resolving to one), their
        blobs, and the referrers of a pinned manifest (the run crate is one)."""
        rest = request.path[len("/v2/") + len(repository) :]
        m = _V2_REF.match(rest)
        if m is None:
            raise Denied("a reviewer token may fetch only the DOI's pinned manifests, blobs and referrers")
        kind, ref = m.groups()
        digest = ref
        if kind == "manifests" and not is_digest(ref):
            if self.registry is None:
                raise ManifestUnknown(detail={"reference": ref[:200]})
            digest = self.registry.get_manifest(repository, ref).digest
        if (repository, digest) not in p.pins:
            if kind in ("manifests", "referrers"):
                raise ManifestUnknown(detail={"reference": ref[:200]})
            raise BlobUnknown(detail={"digest": ref[:200]})

    def _deny(self, st: _RequestAuth, repository: str, action: str, hide: bool) -> None:
        scopes = self._challenge_scopes(repository, action)
        st.scopes = scopes
        if st.anonymous:
            raise self._with_challenge(st, Unauthorized())
        if st.claims is not None:
            real = self._real(st)
            if real.kind == "reviewer" and not _on_v2():
                raise Denied(
                    f"a reviewer token reads only what DOI {real.doi} pins",
                    {"name": repository, "action": action},
                )
            if action in self.held(real, repository):
                st.bearer_error = "insufficient_scope"
                raise self._with_challenge(st, Unauthorized(f"token does not grant {action} on {repository}"))
            if not real.authenticated:
                raise self._with_challenge(st, Unauthorized())
            p = real
        else:
            p = st.principal or ANONYMOUS
        self.record(
            action=f"access.{action}",
            target=repository,
            outcome="denied",
            detail={"method": request.method, "path": request.path[:300]},
            principal=p.label,
        )
        if _on_v2():
            if action == PULL:
                raise NameUnknown(detail={"name": repository})
            raise _denied(p, repository, action)
        if hide:
            raise NotFound(f"{repository} not found")
        raise _denied(p, repository, action)

    def _challenge_scopes(self, repository: str, action: str) -> list[Scope]:
        scopes = [Scope("repository", repository, _CHALLENGE_ACTIONS.get(action, frozenset({action})))]
        source = request.args.get("from") if _on_v2() and request.method == "POST" else None
        if source and source != repository and len(source) <= 255 and NAME_RE.match(source):
            scopes.append(Scope("repository", source, frozenset({PULL})))
        return scopes

    def _with_challenge(self, st: _RequestAuth, err: RegistryError) -> RegistryError:
        if err.http_status == 401:
            err.headers.setdefault("WWW-Authenticate", self._challenge_for(st))
        return err

    def _realm(self) -> str:
        return f"{external_base_url(self.base_url)}/token"

    def _challenge_for(self, st: _RequestAuth) -> str:
        return bearer_challenge(self._realm(), self.service, st.scopes or None, error=st.bearer_error)

    def challenge(self) -> str:
        """The WWW-Authenticate value for a 401 of this request."""
        if not has_request_context():
            return f'Bearer realm="{self.base_url}/token",service="{self.service}"'
        st = g.get(G_KEY)
        return self._challenge_for(st) if st is not None else bearer_challenge(self._realm(), self.service)

    def can_read(self, repository: str) -> bool:
        st = self._state()
        if st.error is not None:
            return False
        try:
            p = self._real(st)
        except Unauthorized:
            return False
        if p.kind == "reviewer":
            return False
        return PULL in self.held(p, repository)

    def read_check(self) -> Callable[[str], bool] | None:
        return self.can_read

    def can_read_pinned(self, repository: str, digest: str) -> bool:
        """Whether the caller may see ``repository@digest`` listed in a DOI's closure or landing page:
        read access to the repository, or (a reviewer token) the DOI pins it."""
        st = self._state()
        if st.error is not None:
            return False
        try:
            p = self._real(st)
        except Unauthorized:
            return False
        if p.kind == "reviewer":
            return (repository, digest) in p.pins
        return PULL in self.held(p, repository)

    def can_read_doi(self, repository: str, doi: str) -> bool:
        """Whether the caller may read the DOI ``doi`` of a result in ``repository``: read access to
        the repository, or a reviewer token of that very DOI."""
        st = self._state()
        if st.error is not None:
            return False
        try:
            p = self._real(st)
        except Unauthorized:
            return False
        if p.kind == "reviewer":
            return p.doi == doi.lower() and repository in p.reviewer_repositories
        return PULL in self.held(p, repository)

    def visible_filter(self) -> Callable[[str], bool] | None:
        st = self._state()
        if st.error is not None:
            raise self._with_challenge(st, st.error)
        p = self._real(st)
        if p.is_admin and p.kind == "user" and p.scopes is None:
            return None
        vis = self.visibility()
        if p.kind == "reviewer":
            return lambda name: False
        return lambda name: PULL in held_actions(p, name, vis)

    def visible_names(self) -> list[str] | None:
        check = self.visible_filter()
        if check is None:
            return None
        return [n for n in self.accounts.repository_names() if check(n)]

    def require_admin(self) -> None:
        st = self._state()
        if st.error is not None:
            raise self._with_challenge(st, st.error)
        if st.anonymous:
            raise self._with_challenge(st, Unauthorized())
        p = self._real(st)
        if not p.may_administer:
            self.record(action="access.admin", target=request.path[:300], outcome="denied", principal=p.label)
            raise Denied("administrator rights required")

    def principal(self) -> Principal:
        """The caller (for a JWT, the account behind it); raises the credentials error if any."""
        st = self._state()
        if st.error is not None:
            raise self._with_challenge(st, st.error)
        return self._real(st)

    def principal_name(self) -> str | None:
        st = self._state()
        if st.error is not None:
            return None
        if st.claims is not None:
            return st.claims.sub or None
        p = st.principal or ANONYMOUS
        return p.name if p.authenticated else None

    def principal_label(self) -> str:
        if not has_request_context():
            return "system"
        st: _RequestAuth | None = g.get(G_KEY)
        if st is None or st.error is not None:
            return "anonymous"
        if st.claims is not None:
            c = st.claims
            who = c.sub or "anonymous"
            tid = c.extra.get("tid")
            if c.extra.get("doi"):
                return f"reviewer of {c.extra['doi']} (token {tid})"
            return f"{who} (token {tid})" if tid else who
        return (st.principal or ANONYMOUS).label

    # --- audit ------------------------------------------------------------------------------------

    def record(
        self,
        *,
        action: str,
        target: str,
        outcome: str = "ok",
        detail: dict[str, Any] | None = None,
        principal: str | None = None,
    ) -> None:
        """Append to the audit log: who (the caller), what, from where (the client address), outcome."""
        self.accounts.record_audit(
            principal=principal or self.principal_label(),
            address=self.address(),
            action=action,
            target=target,
            outcome=outcome,
            detail=detail,
        )

    def audit_sink(self, *, action: str, target: str, detail: dict[str, Any], outcome: str = "ok") -> None:
        self.record(action=action, target=target, outcome=outcome, detail=detail)

    def _audit_failure(self, reason: str, target: str, detail: dict[str, Any] | None = None) -> None:
        # repeats from one address are folded into one row (an attacker cannot grow the audit log)
        self.accounts.record_failure_audit(
            principal="unauthenticated",
            address=self.address(),
            action="auth.failure",
            target=target,
            reason=reason,
            detail={"path": request.path[:300], **(detail or {})},
        )

    # --- token issuing (used by the /token endpoint) ---------------------------------------------

    def grant(self, principal: Principal, requested: list[Scope]) -> list[Scope]:
        """The ``access`` a bearer token carries: on each requested repository, *every* action the
        principal holds there, whatever subset was asked (clients such as oras-py fetch one token
        with the first challenge's scope, pull, and then push with it); nothing on repositories
        where it holds nothing. ``registry:catalog:*`` to whoever asks (the listing is filtered)."""
        out: list[Scope] = []
        for s in merge_scopes(requested):
            if s.type == "repository" and s.resource_class is None:
                if not NAME_RE.match(s.name):
                    continue
                granted = Scope("repository", s.name, self.held(principal, s.name))
            elif s.type == "registry" and s.name == "catalog":
                granted = (
                    Scope("registry", "catalog", frozenset({"*"}))
                    if "*" in s.actions
                    else Scope("registry", "catalog", frozenset())
                )
            else:
                continue
            if granted.actions:
                out.append(granted)
        return out

    def issue_token(self, principal: Principal, requested: list[Scope]) -> tuple[dict[str, Any], list[Scope]]:
        access = self.grant(principal, requested)
        ttl = self.token_ttl
        if principal.expires_at is not None:
            ttl = max(1, min(ttl, int(principal.expires_at - time.time())))
        extra: dict[str, Any] = {"knd": principal.kind}
        if principal.token_id:
            extra["tid"] = principal.token_id
        if principal.doi:
            extra["doi"] = principal.doi
        issued = self.keys.issue(
            principal.name if principal.authenticated else "",
            access,
            self.service,
            ttl=ttl,
            extra_claims=extra,
        )
        body = {
            "token": issued.token,
            "access_token": issued.token,
            "expires_in": issued.expires_in,
            "issued_at": issued.issued_at,
        }
        return body, access


# --- audit of writes (an after_request hook) --------------------------------------------------------

_WRITE_ROUTES = [
    (
        re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$"),
        {"PUT": "manifest.push", "DELETE": "manifest.delete"},
    ),
    (re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/?$"), {"POST": "blob.push"}),
    (
        re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<ref>[^/]+)$"),
        {"PUT": "blob.push", "DELETE": "upload.cancel"},
    ),
    (re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<ref>[^/]+)$"), {"DELETE": "blob.delete"}),
]


def _audit_write(resp: Response) -> Response:
    """Record every successful write on /v2 (uploads when they complete, not each chunk)."""
    if request.method in ("GET", "HEAD", "PATCH", "OPTIONS") or resp.status_code >= 400:
        return resp
    path = request.path
    if not path.startswith("/v2/"):
        return resp
    for pattern, actions in _WRITE_ROUTES:
        m = pattern.match(path)
        if m is None:
            continue
        action = actions.get(request.method)
        if action is None or (action == "blob.push" and request.method == "POST" and resp.status_code != 201):
            return resp
        if request.method == "POST" and request.args.get("mount") and resp.status_code == 201:
            action = "blob.mount"
        name = m.group("name")
        digest = resp.headers.get("Docker-Content-Digest")
        ref = m.groupdict().get("ref")
        if digest:
            target = f"{name}@{digest}"
        elif ref and action.startswith(("manifest", "blob.delete")):
            target = f"{name}@{ref}" if is_digest(ref) else f"{name}:{ref}"
        else:
            target = name
        detail: dict[str, Any] = {"status": resp.status_code}
        if ref and action.startswith("manifest") and not is_digest(ref):
            detail["tag"] = ref
        if action == "blob.mount":
            detail["from"] = request.args.get("from")
        gate = current_app.extensions["sciregistry"].gate
        if isinstance(gate, AuthGate):
            gate.record(action=action, target=target, detail=detail)
        return resp
    return resp


# --- composition ------------------------------------------------------------------------------------


def configure_auth(services: Any) -> None:
    """Called by ``build_services``: accounts, keys, audit sink, first-start hook, and the gate when
    ``auth_enabled``. Works without Flask (the CLI uses ``services.accounts``)."""
    from sciregistry.auth import SERVER_PARAMS, TEST_PARAMS

    cfg = services.config
    accounts = Accounts(
        services.engine,
        services.extra["sessions"],
        password_params=TEST_PARAMS if cfg.testing else SERVER_PARAMS,
    )
    keys = KeyStore(os.path.abspath(cfg.data_dir))
    services.extra["accounts"] = accounts
    services.extra["keys"] = keys
    if not cfg.auth_enabled:
        return
    # Counters in the database: every worker and every host sees the same failures.
    throttle = SqlThrottle(
        services.extra["sessions"],
        max_failures=max(1, cfg.login_max_failures),
        window=max(1, cfg.login_window),
        lockout=min(30.0, float(max(1, cfg.login_window))),
    )
    gate = AuthGate(
        accounts,
        keys,
        service=cfg.service_name,
        base_url=cfg.base_url,
        token_ttl=cfg.token_ttl,
        throttle=throttle,
        registry=services.registry,
    )
    services.gate = gate
    services.extra["audit_sink"] = gate.audit_sink
    services.extra["on_first_start"] = lambda: first_start(accounts, keys, cfg.data_dir, cfg.admin_password)


def install_auth(app: Flask) -> None:
    """Called by ``create_app`` when auth is on: the /token endpoint and the write audit."""
    from sciregistry.api.token import bp as token_bp

    app.register_blueprint(token_bp)
    app.after_request(_audit_write)


def first_start(
    accounts: Accounts, keys: KeyStore, data_dir: str, admin_password: str = "", out: Any = None
) -> str | None:
    """Create the signing key and, on an empty user table, the user ``admin``.

    With ``admin_password`` (``SCIREGISTRY_ADMIN_PASSWORD``) that password is used and nothing is
    printed or written; otherwise a random one is printed once (to ``out``, default stderr) and
    written to ``<data_dir>/admin-password`` (mode 0600). Returns the generated password, if any.
    """
    keys.load()
    if accounts.user_count() > 0:
        return None
    password = admin_password or pysecrets.token_urlsafe(18)
    if not accounts.ensure_admin(password):
        return None
    accounts.record_audit(
        principal="system",
        address="local",
        action="user.create",
        target="admin",
        detail={"admin": True, "first_start": True},
    )
    if admin_password:
        return None
    path = Path(data_dir) / ADMIN_PASSWORD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    stream = out or sys.stderr
    print(
        f"sciregistry: created user 'admin' with password {password}\n"
        f"sciregistry: (shown once; also in {path}, mode 0600; change it with "
        f"'sciregistry user passwd admin --password-stdin')",
        file=stream,
        flush=True,
    )
    return password


def _denied(p: Any, repository: str, action: str) -> Denied:
    """DENIED with the next step: the namespaces ``p`` may push to (for a push), and who can help."""
    namespace = repository.split("/", 1)[0]
    may = sorted(ns for ns, role in (getattr(p, "roles", None) or {}).items() if PUSH in role.actions)
    if action == PUSH:
        where = (
            f"you may push to {', '.join(n + '/' for n in may)}"
            if may
            else "you may not push to any namespace"
        )
        text = (
            f"{p.label} may not push to {repository}: {where}. To push to {namespace}/, ask an owner of "
            f"namespace {namespace} (or an administrator) for the writer role"
        )
    else:
        text = f"{p.label} may not {action} {repository}: ask an owner of namespace {namespace} for a role that allows it"
    return Denied(text, {"name": repository, "action": action, "may_push_to": may})
