"""The Docker registry token endpoint (distribution ``docs/spec/auth/token.md`` and ``oauth.md``).

    GET  /token?service=<svc>&scope=repository:lab-x/fastqc:pull,push[&scope=...]
         Authorization: Basic <user:password | user:sr_token>   (or none: anonymous)
    200  {"token": "<JWT>", "access_token": "<JWT>", "expires_in": 900, "issued_at": "2026-...Z"}

    POST /token   (OAuth2 password grant, application/x-www-form-urlencoded)
         grant_type=password&username=alice&password=...&service=...&scope=...&client_id=...
    200  {"access_token": "<JWT>", "token": "<JWT>", "expires_in": 900, "issued_at": ..., "scope": "..."}

The JWT grants, for each requested ``repository`` scope, every action the principal holds there
(pull, push, delete; not only those asked for, so one token serves a pull-then-push client), and
``registry:catalog:*`` to whoever asks. A repository where nothing is held is left out (not an
error: the registry then answers 401/403/404 itself, as the spec asks). Failed logins are throttled (429
TOOMANYREQUESTS with ``Retry-After``) and audited by the gate; the grant and the signing are
:mod:`sciregistry.api.token_issuer`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, json, request

from sciregistry.api.auth_gate import AuthGate
from sciregistry.api.token_issuer import TokenIssuer
from sciregistry.auth import (
    ANONYMOUS,
    BasicCredentials,
    BearerCredentials,
    Principal,
    Scope,
    basic_challenge,
    looks_like_token,
    parse_authorization,
    parse_scope,
)
from sciregistry.errors import BadRequest, RegistryError, Unauthorized

bp = Blueprint("token", __name__)


def _gate() -> AuthGate:
    gate = current_app.extensions["sciregistry"].gate
    assert isinstance(gate, AuthGate)  # /token is registered only with authentication on
    return gate


def _tokens() -> TokenIssuer:
    tokens: TokenIssuer | None = current_app.extensions["sciregistry"].tokens
    assert tokens is not None  # set with the gate
    return tokens


def _json(doc: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    resp = Response(json.dumps(doc), status=status, mimetype="application/json", headers=headers)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    return resp


def _scopes(values: list[str]) -> list[Scope]:
    try:
        return parse_scope(values)
    except ValueError as exc:
        raise BadRequest(f"invalid scope: {exc}") from None


def _principal_from_header() -> Principal:
    header = request.headers.get("Authorization")
    if not header:
        return ANONYMOUS
    try:
        creds = parse_authorization(header)
    except ValueError as exc:
        raise Unauthorized(f"malformed Authorization header: {exc}") from None
    gate = _gate()
    if isinstance(creds, BasicCredentials):
        if looks_like_token(creds.password):
            return gate.authenticate_token(creds.password)
        return gate.authenticate_password(creds.username, creds.password)
    if isinstance(creds, BearerCredentials) and looks_like_token(creds.token):
        return gate.authenticate_token(creds.token)
    raise Unauthorized("the token endpoint takes Basic credentials (a password or an API token)")


@bp.get("/token")
def get_token() -> Response:
    """Docker token flow: Basic credentials or none in, a signed JWT out."""
    requested = _scopes(request.args.getlist("scope"))
    principal = _principal_from_header()
    body, _ = _tokens().issue(principal, requested)
    return _json(body)


@bp.post("/token")
def post_token() -> Response:
    """OAuth2 password grant (what ``docker login`` tries first); refresh tokens are not issued."""
    form = request.form
    grant_type = form.get("grant_type")
    if grant_type != "password":
        return _json(
            {"error": "unsupported_grant_type", "error_description": "only grant_type=password is supported"},
            400,
        )
    username, password = form.get("username", ""), form.get("password", "")
    if not username or not password:
        return _json(
            {"error": "invalid_request", "error_description": "username and password are required"}, 400
        )
    gate = _gate()
    principal = (
        gate.authenticate_token(password)
        if looks_like_token(password)
        else gate.authenticate_password(username, password)
    )
    requested = _scopes(form.get("scope", "").split())
    body, access = _tokens().issue(principal, requested)
    body["scope"] = " ".join(str(s) for s in access)
    return _json(body)


@bp.errorhandler(RegistryError)
def _error(err: RegistryError) -> Response:
    headers = dict(err.headers)
    if err.http_status == 401:
        headers.setdefault("WWW-Authenticate", basic_challenge("sciregistry"))
    return _json({"errors": [err.to_dict()]}, err.http_status, headers)
