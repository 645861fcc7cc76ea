"""Who is looking at a page: the browser session, CSRF tokens, and the caller's :class:`Reader`.

Signing in (``POST /login``) checks the password through the gate (throttled and audited like
every other login) and creates an API token for the session (``description="web session"``,
12 hours); the session cookie (Flask's signed cookie: HttpOnly, SameSite=Lax, Secure when the
request came over TLS) carries that token. Signing out revokes it, so a copied cookie is dead
from then on; revoking it on the tokens page signs that session out too. Before each page and
DOI landing page the token is presented to the gate as ``Authorization: Bearer``, so pages are
authorized exactly as /v2 and /api/v1 are. The cookie is honoured only by the HTML pages and
the landing pages (never by /v2 or /api/v1, which therefore need no CSRF defence), and every
form carries a per-session CSRF token checked on every POST.

A reviewer who types a reviewer token into a private DOI's form keeps it in the session, for
that DOI's landing page only.

The signing key is ``<data_dir>/web-session-key`` (created on first start, mode 0600; shared by
every worker and host that shares the data directory) unless ``SECRET_KEY`` is configured.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, request, session

from sciregistry.errors import Denied, RegistryError
from sciregistry.registry.search import EVERYONE, Reader, namespace_of

SESSION_TTL = 12 * 3600
KEY_FILE = "web-session-key"
_G_READER = "_web_reader"


def services() -> Any:
    return current_app.extensions["sciregistry"]


def auth_enabled() -> bool:
    return bool(services().config.auth_enabled)


def load_secret_key(data_dir: str) -> bytes:
    """The session signing key: read, or created once (O_EXCL: concurrent workers agree on one)."""
    path = Path(data_dir) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            data = path.read_bytes().strip()
            if data:
                return data
            import time

            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty") from None
    key = secrets.token_hex(32).encode()
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    return key


def configure(app: Flask) -> None:
    """Session cookie settings and key (called when the web blueprint is registered)."""
    if not app.secret_key:
        app.secret_key = load_secret_key(app.extensions["sciregistry"].config.data_dir)
    app.config.setdefault("SESSION_COOKIE_NAME", "sciregistry_session")
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_TTL
    base = app.extensions["sciregistry"].config.base_url
    if base.startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True


def is_secure_request() -> bool:
    return request.scheme == "https" or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


# --- CSRF -----------------------------------------------------------------------------------------


def csrf_token() -> str:
    tok = session.get("csrf")
    if not tok:
        tok = secrets.token_urlsafe(24)
        session["csrf"] = tok
    return str(tok)


def check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    want = session.get("csrf", "")
    if not want or not sent or not hmac.compare_digest(str(sent), str(want)):
        raise Denied("the form has expired or did not come from this site; reload the page and try again")


# --- presenting the session to the gate ---------------------------------------------------------------


def _landing_doi() -> str | None:
    path = request.path
    if path.startswith("/doi/") and path.count("/") >= 3:
        return path[len("/doi/") :].split("?", 1)[0].lower()
    return None


def present_session() -> None:
    """Before a page or landing-page request: give the gate the session's token (a request that
    brings its own Authorization header keeps it)."""
    if request.blueprint not in ("web", "landing") or "HTTP_AUTHORIZATION" in request.environ:
        return
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return  # no session: leave the session untouched (no Set-Cookie, no Vary: Cookie)
    token = None
    doi = _landing_doi() if request.blueprint == "landing" else None
    if doi:
        token = (session.get("reviewer") or {}).get(doi)
    if token is None:
        token = session.get("token")
    if not token:
        return
    request.environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    gate = services().gate
    try:
        gate.principal()
    except RegistryError:  # revoked or expired: the session is over, continue as anonymous
        del request.environ["HTTP_AUTHORIZATION"]
        g.pop("_sciregistry_auth", None)
        if doi and token != session.get("token"):
            rev = dict(session.get("reviewer") or {})
            rev.pop(doi, None)
            session["reviewer"] = rev
        else:
            session.pop("token", None)
            session.pop("token_id", None)
            session.pop("user", None)


def signed_in_user() -> str | None:
    if not auth_enabled() or current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return None
    return session.get("user")


# --- the reader -----------------------------------------------------------------------------------


def reader() -> Reader:
    """Which repositories the caller may read, as SQL-able sets (cached for the request)."""
    cached = g.get(_G_READER)
    if cached is not None:
        return cached
    out = _reader()
    setattr(g, _G_READER, out)
    return out


def _reader() -> Reader:
    from sciregistry.api.auth_gate import AuthGate

    gate = services().gate
    if not isinstance(gate, AuthGate):
        return EVERYONE
    try:
        p = gate.principal()
    except RegistryError:
        p = None
    if p is None:
        from sciregistry.auth import ANONYMOUS

        p = ANONYMOUS
    if p.kind == "user" and p.is_admin and p.scopes is None:
        return EVERYONE
    if p.kind == "reviewer":
        return Reader(extra=p.reviewer_repositories)
    if p.scopes is not None:  # a scoped API token: decide name by name
        return Reader(extra=frozenset(gate.visible_names() or []))
    vis = gate.visibility()
    roles = set(p.roles)
    hidden = frozenset(r for r, pub in vis.repositories.items() if not pub and namespace_of(r) not in roles)
    extra = frozenset(r for r, pub in vis.repositories.items() if pub)
    return Reader(False, frozenset(vis.public_namespaces | roles), hidden, extra)
