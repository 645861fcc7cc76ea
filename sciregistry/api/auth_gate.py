"""The authenticating access gate (``auth_enabled = true``): who is calling, and may they do this?

Same interface (:class:`sciregistry.api.gate.Gate`) as :class:`sciregistry.api.gate.OpenGate`.
Credentials (resolved lazily, once per request, kept in ``flask.g``):

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

Hot path: verified Basic credentials and API tokens are cached in process (``cachetools.TTLCache``)
for ``cache_ttl`` seconds under the SHA-256 of what was presented (never the password itself);
bearer JWTs are checked by :class:`~sciregistry.auth.KeyStore`, which caches verified tokens (the
only cache of JWTs). A JWT's ``access`` claim is an upper bound, re-checked against the role the
account holds now: the account or API token behind it is re-loaded (cached for ``cache_ttl``
seconds), so revoking a token or disabling a user ends its JWTs' access too. The visibility table
and repository existence are cached for ``visibility_ttl`` seconds. Changes made through the same
:class:`Accounts` object drop the caches at once (``Accounts.generation``); changes made by another
process (the admin CLI) are seen within those TTLs.

This module is the gate only: the token endpoint's grants are ``api/token_issuer.py``, the audit
of /v2 writes ``api/audit.py``, and it is built in ``app.py``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from flask import g, has_request_context, request

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
from sciregistry.oci import is_digest, routes
from sciregistry.oci.reference import NAME_RE
from sciregistry.registry.accounts import Accounts, CredentialsRejected

log = logging.getLogger(__name__)

G_KEY = "_sciregistry_auth"
_CHALLENGE_ACTIONS = {
    "pull": frozenset({PULL}),
    "push": frozenset({PULL, PUSH}),
    "delete": frozenset({"delete"}),
}
#: what a reviewer token may fetch on /v2: the DOI's pinned manifests, their blobs and referrers
_REVIEWER_ROUTES = {routes.MANIFEST.name: "ref", routes.BLOB.name: "digest", routes.REFERRERS.name: "digest"}
_MAX_CACHED = 10_000
_VISIBILITY = object()  # the key of the visibility table in the visibility cache


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
    """Authentication and authorization for every HTTP surface; one instance per app (state per
    request in ``g``). Implements :class:`sciregistry.api.gate.Gate`."""

    def __init__(
        self,
        accounts: Accounts,
        keys: KeyStore,
        *,
        service: str,
        base_url: str = "",
        throttle: LoginThrottle | None = None,
        registry: Any = None,
        cache_ttl: float = 5.0,
        visibility_ttl: float = 2.0,
    ) -> None:
        self.accounts = accounts
        self.keys = keys
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.throttle = throttle if throttle is not None else LoginThrottle()
        self.registry = registry
        # TTL caches (cachetools; not thread-safe, hence the lock), all dropped when the accounts'
        # generation changes. Bearer JWTs are not cached here: KeyStore caches verified tokens.
        self._lock = threading.Lock()
        self._generation = accounts.generation
        self._credentials: TTLCache[Any, Any] = TTLCache(_MAX_CACHED, cache_ttl)  # by credential hash
        self._headers: TTLCache[Any, Any] = TTLCache(_MAX_CACHED, cache_ttl)  # Authorization -> principal
        self._jwt_principals: TTLCache[Any, Any] = TTLCache(_MAX_CACHED, cache_ttl)  # JWT -> its account
        self._visible: TTLCache[Any, Any] = TTLCache(_MAX_CACHED, visibility_ttl)  # visibility, existence

    # --- caches ---------------------------------------------------------------------------------

    def clear_caches(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        for cache in (self._credentials, self._headers, self._jwt_principals, self._visible):
            cache.clear()

    def _cached(self, cache: TTLCache[Any, Any], key: Any) -> Any | None:
        with self._lock:
            if self._generation != self.accounts.generation:
                self._clear()
                self._generation = self.accounts.generation
            return cache.get(key)

    def _cache(self, cache: TTLCache[Any, Any], key: Any, value: Any) -> None:
        if cache.ttl <= 0:
            return
        with self._lock:
            if self._generation == self.accounts.generation:
                cache[key] = value

    def visibility(self) -> Visibility:
        vis: Visibility | None = self._cached(self._visible, _VISIBILITY)
        if vis is None:
            vis = self.accounts.visibility()
            self._cache(self._visible, _VISIBILITY, vis)
        return vis

    def repository_exists(self, name: str) -> bool:
        hit = self._cached(self._visible, name)
        if hit is None:
            hit = self.accounts.repository_exists(name)
            self._cache(self._visible, name, hit)
        return bool(hit)

    def held(self, principal: Principal, repository: str) -> frozenset[str]:
        """The actions ``principal`` holds on ``repository`` (pull, push, delete)."""
        return held_actions(principal, repository, self.visibility(), self.repository_exists)

    # --- resolving credentials ------------------------------------------------------------------

    def _state(self) -> _RequestAuth:
        ctx_g = g._get_current_object()  # one proxy lookup, not three
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
        # Fast path: these exact credentials were verified moments ago (kept under their SHA-256,
        # never in clear). A bearer JWT is not kept here: KeyStore.verify caches verified tokens.
        key = hashlib.sha256(header.encode("utf-8", "surrogatepass")).digest()
        principal: Principal | None = self._cached(self._headers, key)
        if principal is not None and (principal.expires_at is None or principal.expires_at > time.time()):
            return _RequestAuth(principal=principal)
        st = self._resolve_header(header)
        if st.error is None and st.principal is not None and st.claims is None:
            self._cache(self._headers, key, st.principal)
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
        hit: Principal | None = self._cached(self._credentials, key)
        if hit is not None:
            return hit
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
        self._cache(self._credentials, key, principal)
        return principal

    def authenticate_token(self, secret: str) -> Principal:
        """A principal by API token: cached, throttled per address, audited."""
        key = _hash_key("tok", secret)
        hit: Principal | None = self._cached(self._credentials, key)
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
        self._cache(self._credentials, key, principal)
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
        real: Principal | None = self._cached(self._jwt_principals, key)
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
            self._cache(self._jwt_principals, key, real)
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
        found = routes.match(request.path)
        param = _REVIEWER_ROUTES.get(found[0].name) if found is not None else None
        if found is None or param is None or found[1]["name"] != repository:
            raise Denied("a reviewer token may fetch only the DOI's pinned manifests, blobs and referrers")
        route, ref = found[0], found[1][param]
        digest = ref
        if route is routes.MANIFEST and not is_digest(ref):
            if self.registry is None:
                raise ManifestUnknown(detail={"reference": ref[:200]})
            digest = self.registry.get_manifest(repository, ref).digest
        if (repository, digest) not in p.pins:
            if route is not routes.BLOB:
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
        text = (
            f"{p.label} may not {action} {repository}: ask an owner of namespace {namespace} "
            "for a role that allows it"
        )
    return Denied(text, {"name": repository, "action": action, "may_push_to": may})
